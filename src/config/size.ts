/**
 * Sizes in MediaMTX's manner (`hlsSegmentMaxSize: 50M`): a number of bytes,
 * or a number with a unit. Units are binary, as in the library MediaMTX uses
 * (`K` = `KB` = `KiB` = 1024 bytes); a bare number is bytes.
 */

const UNIT_BYTES: Readonly<Record<string, number>> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Also written into the JSON Schema, so editors reject what the server rejects. */
export const SIZE_PATTERN = '^\\d+(?:\\.\\d+)?(?:[KMG](?:i?B)?|B)?$';

const SIZE = new RegExp(SIZE_PATTERN);

/** Bytes (rounded down), or undefined if `value` is neither a non-negative integer nor a size string. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || !SIZE.test(value)) return undefined;
  const [, amount = '', unit = ''] = /^([\d.]+)([KMG]?)/.exec(value) ?? [];
  return Math.floor(Number(amount) * UNIT_BYTES[unit]!);
}
