/**
 * QUIC variable-length integers (RFC 9000 §16): the two high bits of the
 * first byte give the length (1, 2, 4 or 8 bytes), the rest is big-endian.
 *
 * Values travel as JS numbers. Everything Polycast compares or uses as a
 * length (stream ids, frame types, sizes) is far below 2^53; a peer can still
 * send 62-bit values (GREASE setting ids and frame types are large), and those
 * come back as the nearest double, which can never equal a small codepoint.
 * `readVarintBigInt` gives the exact value where that matters.
 */
import { EncodeError } from './errors.js';

export const VARINT_MAX = (1n << 62n) - 1n;

export interface VarintRead<T = number> {
  readonly value: T;
  /** Bytes the varint took. */
  readonly length: number;
}

/** Bytes needed to encode `value`. */
export function varintSize(value: number): 1 | 2 | 4 | 8 {
  if (!Number.isInteger(value) || value < 0) throw new EncodeError(`varint: not a non-negative integer: ${value}`);
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x4000_0000) return 4;
  if (value > Number.MAX_SAFE_INTEGER) throw new EncodeError(`varint: ${value} is not exact as a number; use a bigint`);
  return 8;
}

/** Writes `value` at `offset` in its shortest form; returns the offset after it. */
export function writeVarint(buf: Uint8Array, offset: number, value: number): number {
  const size = varintSize(value);
  if (offset < 0 || offset + size > buf.length) throw new EncodeError('varint: buffer too small');
  switch (size) {
    case 1:
      buf[offset] = value;
      break;
    case 2:
      buf[offset] = 0x40 | (value >>> 8);
      buf[offset + 1] = value & 0xff;
      break;
    case 4:
      buf[offset] = 0x80 | (value >>> 24);
      buf[offset + 1] = (value >>> 16) & 0xff;
      buf[offset + 2] = (value >>> 8) & 0xff;
      buf[offset + 3] = value & 0xff;
      break;
    case 8: {
      const hi = Math.floor(value / 0x1_0000_0000);
      const lo = value >>> 0;
      buf[offset] = 0xc0 | (hi >>> 24);
      buf[offset + 1] = (hi >>> 16) & 0xff;
      buf[offset + 2] = (hi >>> 8) & 0xff;
      buf[offset + 3] = hi & 0xff;
      buf[offset + 4] = lo >>> 24;
      buf[offset + 5] = (lo >>> 16) & 0xff;
      buf[offset + 6] = (lo >>> 8) & 0xff;
      buf[offset + 7] = lo & 0xff;
      break;
    }
  }
  return offset + size;
}

/** Encodes a varint; a bigint may use the full 62-bit range. */
export function encodeVarint(value: number | bigint): Uint8Array {
  if (typeof value === 'bigint') {
    if (value < 0n || value > VARINT_MAX) throw new EncodeError(`varint: ${value} is out of range`);
    if (value <= BigInt(Number.MAX_SAFE_INTEGER)) return encodeVarint(Number(value));
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, value | (3n << 62n));
    return out;
  }
  const out = new Uint8Array(varintSize(value));
  writeVarint(out, 0, value);
  return out;
}

/** Length of the varint starting with byte `first`. */
export function varintLengthFromFirstByte(first: number): 1 | 2 | 4 | 8 {
  return (1 << (first >>> 6)) as 1 | 2 | 4 | 8;
}

/**
 * Reads the varint at `offset`; `null` when `buf` ends before it does (a
 * streaming caller waits for more bytes).
 */
export function readVarint(buf: Uint8Array, offset = 0): VarintRead | null {
  if (offset < 0 || offset >= buf.length) return null;
  const first = buf[offset]!;
  const length = varintLengthFromFirstByte(first);
  if (offset + length > buf.length) return null;
  switch (length) {
    case 1:
      return { value: first & 0x3f, length };
    case 2:
      return { value: ((first & 0x3f) << 8) | buf[offset + 1]!, length };
    case 4:
      return {
        value: ((first & 0x3f) * 0x100_0000) + ((buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!),
        length,
      };
    default: {
      const hi = ((first & 0x3f) * 0x100_0000) + ((buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!);
      const lo = ((buf[offset + 4]! << 24) >>> 0) + ((buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) | buf[offset + 7]!);
      return { value: hi * 0x1_0000_0000 + lo, length };
    }
  }
}

/** Like `readVarint`, exact over the whole 62-bit range. */
export function readVarintBigInt(buf: Uint8Array, offset = 0): VarintRead<bigint> | null {
  const r = readVarint(buf, offset);
  if (r === null) return null;
  if (r.length < 8) return { value: BigInt(r.value), length: r.length };
  const view = new DataView(buf.buffer, buf.byteOffset + offset, 8);
  return { value: view.getBigUint64(0) & VARINT_MAX, length: 8 };
}
