/**
 * The query parameters an LL-HLS client adds to a media playlist request
 * (RFC 8216bis §6.2.5): `_HLS_msn`, `_HLS_part`, `_HLS_skip`. Parsing is
 * strict because the values become cache keys and waiting times: anything
 * that is not a plain decimal number is a 400, never a guess.
 */

export interface DeliveryDirectives {
  /** Hold the response until this segment (or, with `part`, this part of it) is in the playlist. */
  readonly msn?: number;
  readonly part?: number;
  /** A delta update: old segments replaced by `EXT-X-SKIP`. */
  readonly skip: boolean;
}

export type DirectivesResult = { readonly ok: true; readonly directives: DeliveryDirectives } | { readonly ok: false; readonly error: string };

/** 15 digits stay below 2^53, so the number is exact; more is never a real sequence number. */
const COUNT = /^\d{1,15}$/;

function count(query: URLSearchParams, key: string): number | undefined | string {
  const values = query.getAll(key);
  if (values.length === 0) return undefined;
  if (values.length > 1) return `${key} is given ${values.length} times`;
  const text = values[0]!;
  if (!COUNT.test(text)) return `${key} must be a non-negative integer below 10^15`;
  return Number(text);
}

export function parseDeliveryDirectives(query: URLSearchParams): DirectivesResult {
  const msn = count(query, '_HLS_msn');
  const part = count(query, '_HLS_part');
  if (typeof msn === 'string') return { ok: false, error: msn };
  if (typeof part === 'string') return { ok: false, error: part };
  if (part !== undefined && msn === undefined) return { ok: false, error: '_HLS_part needs _HLS_msn' };
  const skips = query.getAll('_HLS_skip');
  if (skips.length > 1) return { ok: false, error: `_HLS_skip is given ${skips.length} times` };
  const skip = skips[0];
  // v2 also asks to skip date ranges; there are none here, so it means the same.
  if (skip !== undefined && skip !== 'YES' && skip !== 'v2') return { ok: false, error: '_HLS_skip must be YES or v2' };
  return { ok: true, directives: { msn, part, skip: skip !== undefined } };
}
