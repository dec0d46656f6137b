/**
 * Reading a MediaMTX-style YAML configuration: parse, apply POLYCAST_*
 * environment overrides (rule in env.ts), validate, resolve. Every problem
 * found is reported at once, located as `file:line:col: key.path: message`.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { LineCounter, isMap, isScalar, parseDocument } from 'yaml';
import { firstAliasOffset, yamlShapeProblems } from './yaml-shape.js';
import { applyEnvOverrides, envKey, type Env } from './env.js';
import { ConfigError, formatProblem, type ConfigProblem } from './errors.js';
import { keyPathText, type Issue, type Segment } from './issue.js';
import { YamlLocator } from './locate.js';
import { migrateDeprecated, resolveConfig } from './resolve.js';
import { CONFIG_SCHEMA, childSchema, definitionName, type ResolvedConfig, type SchemaNode } from './schema.js';
import { validateRaw } from './validate.js';

export { matchPath, validatePathName, type PathMatch } from './paths.js';

export const DEFAULT_CONFIG_FILE = 'mediamtx.yml';

/** Where a configuration came from: its settings as written (env applied, defaults filled) and its warnings. */
export interface ConfigSource {
  /** Top-level settings in file form (durations as text, paths as written): what the API shows and patches. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Formatted like problems: `file:line:col: key: deprecated: ...`. */
  readonly warnings: readonly string[];
}

const sources = new WeakMap<ResolvedConfig, ConfigSource>();

const isBooleanSetting = (node: SchemaNode | undefined) => node !== undefined && definitionName(node) === 'boolean';

/** Settings as JSON shows them (the API): `yes`/`no` become true/false, as in MediaMTX's API. */
function jsonForm(raw: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(raw);
  const booleans = (settings: unknown, container: SchemaNode) => {
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) return;
    const s = settings as Record<string, unknown>;
    for (const [key, value] of Object.entries(s)) {
      if (typeof value === 'string' && isBooleanSetting(childSchema(container, key))) s[key] = value.toLowerCase() === 'yes';
    }
  };
  booleans(out, CONFIG_SCHEMA);
  const pathSettings = CONFIG_SCHEMA.definitions!['pathSettings']!;
  booleans(out['pathDefaults'], pathSettings);
  const paths = out['paths'];
  if (typeof paths === 'object' && paths !== null) for (const entry of Object.values(paths)) booleans(entry, pathSettings);
  return out;
}

/** The settings and warnings a configuration was resolved from. */
export function configSource(config: ResolvedConfig): ConfigSource {
  return sources.get(config) ?? { settings: {}, warnings: [] };
}

export function loadConfig(file: string, env: Env = process.env): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const message =
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? `configuration file not found (looked for ${resolvePath(file)})`
        : `cannot read the configuration file: ${(err as Error).message}`;
    throw new ConfigError([{ origin: { kind: 'file', file }, message }]);
  }
  return parseConfig(text, file, env);
}

/** `file` only names the source in messages. */
export function parseConfig(text: string, file: string, env: Env = process.env): ResolvedConfig {
  const lineCounter = new LineCounter();
  // `merge` honours `<<: *anchor`, which MediaMTX's YAML library does too.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const at = (offset: number) => ({ kind: 'file' as const, file, ...lineCounter.linePos(offset) });

  const syntax = [...doc.errors, ...doc.warnings].map((error) => ({ origin: at(error.pos[0]), message: error.message }));
  if (syntax.length > 0) throw new ConfigError(sorted(syntax));
  const shape = yamlShapeProblems(doc).map((p) => ({ origin: at(p.offset), message: p.message }));
  if (shape.length > 0) throw new ConfigError(sorted(shape));

  const contents = doc.contents;
  const empty = contents === null || (isScalar(contents) && contents.value === null);
  if (!empty && !isMap(contents)) {
    throw new ConfigError([{ origin: at(contents.range?.[0] ?? 0), message: 'the configuration must be a mapping of settings' }]);
  }

  let data: unknown;
  try {
    data = empty ? {} : doc.toJS();
  } catch (err) {
    // toJS refuses alias bombs (too many alias expansions): the first alias is where the expansion starts.
    throw new ConfigError([{ origin: at(firstAliasOffset(doc)), message: (err as Error).message }]);
  }

  const raw = copyWithoutNulls(data, []) as Record<string, unknown>;
  const overrides = applyEnvOverrides(raw, env);
  const written = new Set(Object.keys(raw));
  const warnings = migrateDeprecated(raw);
  const issues: Issue[] = validateRaw(raw);
  const resolved = resolveConfig(raw, file, written);
  issues.push(...resolved.issues);

  const locator = new YamlLocator(doc, lineCounter);
  const envSource = (path: readonly Segment[]) => {
    for (let length = path.length; length > 0; length--) {
      const variable = overrides.sources.get(envKey(path.slice(0, length)));
      if (variable !== undefined) return variable;
    }
    return undefined;
  };
  const locate = (issue: Issue): ConfigProblem => {
    const variable = envSource(issue.path);
    const origin: ConfigProblem['origin'] =
      variable === undefined ? { kind: 'file', file, ...locator.find(issue.path, issue.at) } : { kind: 'env', variable };
    return { origin, keyPath: keyPathText(issue.path), message: issue.message };
  };
  const problems: ConfigProblem[] = [...issues.map(locate), ...overrides.problems];
  if (problems.length > 0) throw new ConfigError(sorted(problems));
  sources.set(resolved.config, { settings: jsonForm(raw), warnings: sorted(warnings.map(locate)).map(formatProblem) });
  return resolved.config;
}

/**
 * Validates settings that come from no file (the control API's patches)
 * exactly as a file's, with the same messages minus file positions.
 * Empty (null) values mean "not set", as in the file.
 */
export function resolveSettings(settings: Record<string, unknown>, file: string): ResolvedConfig {
  const raw = copyWithoutNulls(settings, []) as Record<string, unknown>;
  const written = new Set(Object.keys(raw));
  const warnings = migrateDeprecated(raw);
  const issues: Issue[] = validateRaw(raw);
  const resolved = resolveConfig(raw, file, written);
  issues.push(...resolved.issues);
  const unplaced = (issue: Issue): ConfigProblem => ({ origin: { kind: 'settings' }, keyPath: keyPathText(issue.path), message: issue.message });
  if (issues.length > 0) throw new ConfigError(issues.map(unplaced));
  sources.set(resolved.config, { settings: jsonForm(raw), warnings: warnings.map((w) => formatProblem(unplaced(w))) });
  return resolved.config;
}

/**
 * A deep copy (so that env overrides and defaults never write through a YAML
 * alias into another setting) without null entries: an empty value means
 * "not set", except directly under `paths:`, where `cam1:` declares a path.
 */
function copyWithoutNulls(value: unknown, path: readonly Segment[]): unknown {
  if (Array.isArray(value)) return value.map((item, index) => copyWithoutNulls(item, [...path, index]));
  if (typeof value !== 'object' || value === null) return value;
  const declaresPaths = path.length === 1 && path[0] === 'paths';
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === null && !declaresPaths) continue;
    // defineProperty: a path may legitimately be named __proto__.
    Object.defineProperty(copy, key, {
      value: item === null ? {} : copyWithoutNulls(item, [...path, key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

/** File positions in reading order, then problems without one, then the environment's by variable. */
function sorted(problems: ConfigProblem[]): ConfigProblem[] {
  const rank = ({ origin }: ConfigProblem): [number, number, number, string] =>
    origin.kind === 'env'
      ? [2, 0, 0, origin.variable]
      : origin.kind === 'settings' || origin.line === undefined
        ? [1, 0, 0, '']
        : [0, origin.line, origin.col ?? 0, ''];
  return problems
    .map((problem) => ({ problem, key: rank(problem) }))
    .sort(({ key: a }, { key: b }) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || (a[3] < b[3] ? -1 : a[3] > b[3] ? 1 : 0))
    .map(({ problem }) => problem);
}
