/**
 * The two integer encodings of moq-transport: QUIC varints (RFC 9000 §16,
 * through draft 16) and the leading-ones varints of draft 17 on, where the
 * count of leading 1 bits in the first byte says how many bytes follow.
 */
import { MoqtProtocolError } from './errors.js';
import type { MoqtDraft } from './version.js';
import { usesLeadingOnes } from './version.js';

const MAX_QUIC = 2n ** 62n - 1n;
const MAX_LEADING_ONES = 2n ** 64n - 1n;

export function encodeVarint(value: number | bigint, draft: MoqtDraft): Uint8Array {
  const v = BigInt(value);
  if (v < 0n) throw new RangeError(`negative varint ${v}`);
  return usesLeadingOnes(draft) ? encodeLeadingOnes(v) : encodeQuic(v);
}

function encodeQuic(v: bigint): Uint8Array {
  if (v > MAX_QUIC) throw new RangeError(`varint ${v} exceeds 62 bits`);
  const size = v < 64n ? 1 : v < 16384n ? 2 : v < 1073741824n ? 4 : 8;
  const out = new Uint8Array(size);
  let x = v;
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  out[0]! |= [0, 0x40, 0, 0x80, 0, 0, 0, 0xc0][size - 1]!;
  return out;
}

/** Sizes 1–6 and 8–9 bytes; the 7-byte form is never written (draft 17 forbids it). */
function encodeLeadingOnes(v: bigint): Uint8Array {
  if (v > MAX_LEADING_ONES) throw new RangeError(`varint ${v} exceeds 64 bits`);
  let size: number;
  if (v < 1n << 42n) size = v < 1n << 7n ? 1 : v < 1n << 14n ? 2 : v < 1n << 21n ? 3 : v < 1n << 28n ? 4 : v < 1n << 35n ? 5 : 6;
  else size = v < 1n << 56n ? 8 : 9;
  const out = new Uint8Array(size);
  let x = v;
  for (let i = size - 1; i >= 1; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  // The prefix: (size - 1) one bits, a zero, then the value's top bits (none for 8 and 9 bytes).
  const prefix = size >= 8 ? (size === 8 ? 0xfe : 0xff) : (0xff00 >> (size - 1)) & 0xff;
  out[0] = prefix | (size >= 8 ? 0 : Number(x));
  return out;
}

/** Bytes the varint starting with `first` occupies, or a protocol error for a form the draft forbids. */
export function varintLength(first: number, draft: MoqtDraft): number {
  if (!usesLeadingOnes(draft)) return 1 << (first >> 6);
  let ones = 0;
  while (ones < 8 && (first & (0x80 >> ones)) !== 0) ones++;
  if (ones === 6 && draft === 17) throw new MoqtProtocolError('7-byte varint (not allowed in draft 17)');
  return ones <= 6 ? ones + 1 : ones === 7 ? 8 : 9;
}

/** Decodes the varint at `buf[off]`, whose length `varintLength` gave. Values past 2^53 lose precision: none we act on get there. */
export function decodeVarintAt(buf: Uint8Array, off: number, length: number, draft: MoqtDraft): number {
  let value: number;
  if (!usesLeadingOnes(draft)) value = buf[off]! & 0x3f;
  else if (length >= 8) value = 0;
  else value = buf[off]! & (0xff >> length);
  for (let i = 1; i < length; i++) value = value * 256 + buf[off + i]!;
  return value;
}
