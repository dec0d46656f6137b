/**
 * A problem found while validating or resolving, located by key path only;
 * the loader turns it into a `ConfigProblem` with file position or env var.
 */

/** A mapping key, or an index into a list. */
export type Segment = string | number;

export interface Issue {
  readonly path: readonly Segment[];
  /** Point at the key (unknown or badly named keys) or at its value. */
  readonly at: 'key' | 'value';
  readonly message: string;
}

/** `paths.cam1.maxReaders`, `webAllowOrigins[1]`. */
export function keyPathText(path: readonly Segment[]): string {
  let text = '';
  for (const segment of path) {
    text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  }
  return text;
}

/** How values are quoted in messages: strings in single quotes, the rest as YAML would show them. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
