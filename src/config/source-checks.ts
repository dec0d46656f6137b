/**
 * What a path's `source` and its on-demand keys cannot be, beyond their
 * types: MediaMTX's rules for static sources, with Polycast's words.
 */
import { showValue, type Issue, type Segment } from './issue.js';
import type { PathEntry } from './schema.js';
import { isPullSource, parseSource, SOURCE_CHOICES_TEXT, SOURCE_PATTERN } from './source.js';

type Settings = Readonly<Record<string, unknown>>;

const sourcePattern = new RegExp(SOURCE_PATTERN);

/** The schema's message for a `source` value it refused: names the scheme Polycast cannot pull when there is one. */
export function sourceValueMessage(value: unknown): string {
  if (typeof value === 'string' && /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) {
    const parsed = parseSource(value);
    if ('error' in parsed) return parsed.error;
  }
  return `${showValue(value)} is not a supported source (${SOURCE_CHOICES_TEXT})`;
}

/**
 * `pathDefaults` and `paths` as written (for locations), and the resolved
 * entries. A URL the schema let through (a scheme Polycast pulls) is parsed
 * here; a problem inherited from pathDefaults is reported once, there.
 */
export function sourceIssues(pathDefaults: unknown, pathMap: unknown, entries: readonly PathEntry[]): Issue[] {
  const issues = new Map<string, Issue>();
  const add = (issue: Issue) => issues.set(`${issue.path.join('\u0000')}\u0000${issue.message}`, issue);
  const defaults = mapping(pathDefaults);
  const written = mapping(pathMap);
  /** Where to point for `key` of an entry: its own setting, else the one in pathDefaults, else the entry itself. */
  const where = (name: string, key: string): { path: Segment[]; at: 'key' | 'value' } => {
    if (mapping(written[name])[key] !== undefined) return { path: ['paths', name, key], at: 'value' };
    if (defaults[key] !== undefined) return { path: ['pathDefaults', key], at: 'value' };
    return { path: ['paths', name], at: 'key' };
  };

  const checkUrl = (value: unknown, path: Segment[]) => {
    if (typeof value !== 'string' || !isPullSource(value) || !sourcePattern.test(value)) return;
    const parsed = parseSource(value);
    if ('error' in parsed) add({ path, at: 'value', message: parsed.error });
  };
  checkUrl(defaults['source'], ['pathDefaults', 'source']);

  for (const entry of entries) {
    const { name, conf } = entry;
    checkUrl(mapping(written[name])['source'], ['paths', name, 'source']);
    if (isPullSource(conf.source)) {
      if (entry.regex !== undefined && !conf.sourceOnDemand) {
        add({
          ...where(name, 'source'),
          message: 'a URL source on a ~regex or all_others path needs sourceOnDemand: yes (as in MediaMTX): such paths exist only while someone reads them',
        });
      }
      if (conf.runOnDemand !== '') {
        add({ ...where(name, 'runOnDemand'), message: 'cannot be used when the source is a URL: the source is what starts on demand then (sourceOnDemand)' });
      }
    } else if (conf.sourceOnDemand) {
      add({ ...where(name, 'sourceOnDemand'), message: "is useless when the source is 'publisher' (nothing is pulled)" });
    }
  }
  return [...issues.values()];
}

function mapping(value: unknown): Settings {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Settings) : {};
}
