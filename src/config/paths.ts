/**
 * Path names and how a runtime name finds its configuration.
 *
 * Config keys under `paths:` are one of:
 * - a plain name (`cam1`, `live/cam1`), which matches exactly that name;
 * - `~regex`, a JavaScript regular expression matched against the whole name
 *   string but, as in MediaMTX, not implicitly anchored (write `^...$`);
 * - `all_others`, shorthand for `~^.*$`.
 */
import type { PathConf, ResolvedConfig } from './schema.js';

export const ALL_OTHERS = 'all_others';

const PLAIN_NAME_CHARS = /^[A-Za-z0-9_\-./~]*$/;
const ALLOWED_CHARS_TEXT = 'A-Z a-z 0-9 _ - . / ~';

/**
 * The config-key rule as a single pattern, for the JSON Schema (editors);
 * `checkConfigPathName` is the authority and a test keeps them in agreement.
 */
export const CONFIG_PATH_NAME_PATTERN = '^(?:~.*|all_others|(?!/)(?!.*/$)(?!.*\\.\\.)[A-Za-z0-9_\\-./~]+)$';

/** Why `name` cannot be a path name (as published or read), or undefined if it can. */
export function validatePathName(name: string): string | undefined {
  if (name === '') return 'the path name is empty';
  if (!PLAIN_NAME_CHARS.test(name)) {
    const bad = [...name].find((c) => !PLAIN_NAME_CHARS.test(c));
    return `the path name contains ${JSON.stringify(bad)}; allowed characters are ${ALLOWED_CHARS_TEXT}`;
  }
  if (name.startsWith('/')) return 'the path name must not start with a slash';
  if (name.endsWith('/')) return 'the path name must not end with a slash';
  if (name.includes('..')) return "the path name must not contain '..'";
  return undefined;
}

export type ConfigPathName = { readonly regex?: RegExp } | { readonly error: string };

/** Checks a key of `paths:`; regex keys are compiled here so a bad one is reported at load. */
export function checkConfigPathName(name: string): ConfigPathName {
  if (name === ALL_OTHERS) return { regex: /^.*$/ };
  if (name.startsWith('~')) {
    try {
      return { regex: new RegExp(name.slice(1)) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  const error = validatePathName(name);
  return error === undefined ? {} : { error };
}

export interface PathMatch {
  readonly pathConf: PathConf;
  /** The regex match (capture groups) for `~regex` and `all_others` entries; undefined for exact names. */
  readonly match: RegExpExecArray | undefined;
  /** The `paths:` key that matched, e.g. `cam1`, `~^cam(\d+)$` or `all_others`. */
  readonly entryName: string;
}

/**
 * MediaMTX precedence: an exact name wins; otherwise the first regex entry
 * (`all_others` included) in file order. Invalid names match nothing.
 */
export function matchPath(config: Pick<ResolvedConfig, 'paths'>, name: string): PathMatch | undefined {
  if (validatePathName(name) !== undefined) return undefined;
  const exact = config.paths.find((entry) => entry.regex === undefined && entry.name === name);
  if (exact) return { pathConf: exact.conf, match: undefined, entryName: exact.name };
  for (const entry of config.paths) {
    const match = entry.regex?.exec(name);
    if (match) return { pathConf: entry.conf, match, entryName: entry.name };
  }
  return undefined;
}
