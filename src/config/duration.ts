/**
 * MediaMTX durations are Go `time.ParseDuration` strings: a sequence of
 * decimal numbers, each with a unit (`500ms`, `1m30s`, `1.5h`). A bare `0`
 * is allowed, as in Go; any other number needs a unit so that `10` is never
 * silently read as 10 ms or 10 s.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign, as Go accepts
  μs: 1e-3, // U+03BC Greek mu, as Go accepts
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const NUMBER = '(?:\\d+(?:\\.\\d*)?|\\.\\d+)';
const UNIT = '(?:ns|us|µs|μs|ms|s|m|h)';

/** Also written into the JSON Schema, so editors reject what the server rejects. */
export const DURATION_PATTERN = `^(?:0|(?:${NUMBER}${UNIT})+)$`;

const WHOLE = new RegExp(DURATION_PATTERN);
const TERM = new RegExp(`(${NUMBER})(${UNIT})`, 'g');

/** Milliseconds (possibly fractional), or undefined if `text` is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!WHOLE.test(text)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(TERM)) ms += Number(amount) * UNIT_MS[unit!]!;
  return ms;
}
