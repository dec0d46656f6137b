/**
 * Environment overrides, in MediaMTX's manner with the POLYCAST_ prefix.
 *
 * The rule:
 * - `POLYCAST_<KEY>` sets top-level setting <KEY> (`POLYCAST_RTMPADDRESS=:1936`).
 * - `POLYCAST_PATHDEFAULTS_<KEY>` sets a setting of `pathDefaults`.
 * - `POLYCAST_PATHS_<NAME>_<KEY>` sets a setting of path <NAME>. <NAME> may
 *   contain underscores (`POLYCAST_PATHS_ALL_OTHERS_MAXREADERS`). It is
 *   compared, ignoring case, with each plain path name of the file written
 *   with every character outside A-Z, 0-9 and _ turned into _ (so `live/cam1`
 *   is `LIVE_CAM1`). With no match the path is created, named <NAME> in
 *   lower case. `~regex` entries cannot be addressed.
 * Names are compared ignoring case. Other POLYCAST_ variables are left alone:
 * they may belong to other tools (the hook runner gives commands
 * POLYCAST_FFMPEG, for instance). But inside the PATHDEFAULTS_ and PATHS_
 * namespaces an unknown setting can only be a typo, so it is an error.
 *
 * Values are read as YAML scalars where the setting is a boolean or an integer
 * (`yes`, `5`), and taken verbatim otherwise, so that a shell command keeps
 * its `#` and `: `. `webAllowOrigins` takes a comma-separated list;
 * `authInternalUsers`, `authHTTPExclude` and `authJWTExclude` take YAML or
 * JSON (`[{user: any, permissions: [{action: read}]}]`).
 * Every value is then validated like one written in the file.
 */
import { parse } from 'yaml';
import type { ConfigProblem } from './errors.js';
import type { Segment } from './issue.js';
import { didYouMean } from './suggest.js';
import { ALL_PATH_SETTING_KEYS, CONFIG_SCHEMA, PATH_SETTING_KEYS, childSchema, definitionName, knownKeys } from './schema.js';

export const ENV_PREFIX = 'POLYCAST_';

export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvOverrides {
  /** Variable that set each overridden key path (keyed by `envKey`). */
  readonly sources: ReadonlyMap<string, string>;
  readonly problems: readonly ConfigProblem[];
}

export const envKey = (path: readonly Segment[]): string => JSON.stringify(path);

const SECTIONS = new Set(['pathDefaults', 'paths']);
const TOP_LEVEL_SETTINGS = knownKeys(CONFIG_SCHEMA).filter((key) => !SECTIONS.has(key));
const SCALAR_KINDS = new Set(['boolean', 'positiveInteger', 'nonNegativeInteger']);
/** Lists of mappings are written as YAML (or JSON) in the variable. */
const STRUCTURED_KINDS = new Set(['authInternalUsers', 'permissions']);
/** Longest first, so that RUNONDEMANDRESTART is not read as a path named ..._RUNONDEMAND plus RESTART. */
const PATH_KEYS_LONGEST_FIRST = [...ALL_PATH_SETTING_KEYS].sort((a, b) => b.length - a.length);

type Target = { readonly path: Segment[] } | { readonly error: string };

const upper = (keys: readonly string[]) => keys.map((key) => key.toUpperCase());

function unknownPathSetting(tail: string): string {
  const guess = didYouMean(tail, upper(PATH_SETTING_KEYS));
  const hint = guess ? ` (did you mean ${guess}?)` : ` (one of: ${upper(PATH_SETTING_KEYS).join(', ')})`;
  return `'${tail}' is not a path setting${hint}`;
}

const isMapping = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const envForm = (pathName: string) => pathName.toUpperCase().replace(/[^A-Z0-9_]/g, '_');

function pathNamed(envName: string, paths: unknown): Target {
  const existing = isMapping(paths) ? Object.keys(paths) : [];
  const matches = existing.filter((name) => !name.startsWith('~') && envForm(name) === envName);
  if (matches.length > 1) {
    return { error: `matches several paths (${matches.join(', ')}); rename one to override it from the environment` };
  }
  return { path: ['paths', matches[0] ?? envName.toLowerCase()] };
}

function target(rest: string, raw: Record<string, unknown>): Target | undefined {
  const top = TOP_LEVEL_SETTINGS.find((key) => key.toUpperCase() === rest);
  if (top) return { path: [top] };
  if (rest === 'PATHDEFAULTS' || rest === 'PATHS') {
    return { error: `sets a whole section; set one setting per variable, e.g. ${ENV_PREFIX}PATHDEFAULTS_MAXREADERS` };
  }
  if (rest.startsWith('PATHDEFAULTS_')) {
    const tail = rest.slice('PATHDEFAULTS_'.length);
    const key = ALL_PATH_SETTING_KEYS.find((k) => k.toUpperCase() === tail);
    return key ? { path: ['pathDefaults', key] } : { error: unknownPathSetting(tail) };
  }
  if (rest.startsWith('PATHS_')) {
    const tail = rest.slice('PATHS_'.length);
    const key = PATH_KEYS_LONGEST_FIRST.find((k) => tail === k.toUpperCase() || tail.endsWith(`_${k.toUpperCase()}`));
    if (!key) {
      const last = tail.slice(tail.lastIndexOf('_') + 1);
      return { error: `does not end with a path setting: ${unknownPathSetting(last)}` };
    }
    const name = tail.slice(0, Math.max(0, tail.length - key.length - 1));
    if (name === '') return { error: `names no path (expected ${ENV_PREFIX}PATHS_<NAME>_${key.toUpperCase()})` };
    const named = pathNamed(name, raw['paths']);
    return 'error' in named ? named : { path: [...named.path, key] };
  }
  return undefined;
}

function kindOf(path: readonly Segment[]): string {
  let node = CONFIG_SCHEMA;
  for (const segment of path) node = childSchema(node, segment) ?? node;
  return definitionName(node);
}

function envValue(text: string, kind: string): unknown {
  if (kind === 'origins' || kind === 'domains') return text.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
  if (STRUCTURED_KINDS.has(kind)) {
    try {
      return parse(text) as unknown;
    } catch {
      return text;
    }
  }
  if (!SCALAR_KINDS.has(kind)) return text;
  try {
    const value: unknown = parse(text);
    return typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string' ? value : text;
  } catch {
    return text;
  }
}

/** The mapping at `path`, creating missing ones; undefined if something else is in the way. */
function mappingAt(root: Record<string, unknown>, path: readonly string[]): Record<string, unknown> | undefined {
  let container = root;
  for (const segment of path) {
    const next = container[segment] ?? {};
    if (!isMapping(next)) return undefined;
    container[segment] = next;
    container = next;
  }
  return container;
}

/** Writes the overrides into `raw` (the file's settings, nulls already removed). */
export function applyEnvOverrides(raw: Record<string, unknown>, env: Env): EnvOverrides {
  const sources = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  for (const variable of Object.keys(env).sort()) {
    const text = env[variable];
    if (!variable.toUpperCase().startsWith(ENV_PREFIX) || text === undefined) continue;
    const found = target(variable.slice(ENV_PREFIX.length).toUpperCase(), raw);
    if (found === undefined) continue;
    if ('error' in found) {
      problems.push({ origin: { kind: 'env', variable }, message: found.error });
      continue;
    }
    const { path } = found;
    const container = mappingAt(raw, path.slice(0, -1) as string[]);
    // A section of the wrong type is reported by validation; there is nothing to write into.
    if (!container) continue;
    container[path[path.length - 1] as string] = envValue(text, kindOf(path));
    sources.set(envKey(path), variable);
  }
  return { sources, problems };
}
