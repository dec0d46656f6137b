/**
 * Variable Length Unsigned integers (RFC 7016 §2.1.2): big-endian base-128
 * digits, the high bit of every byte but the last set. RTWebSocket uses them
 * for every integer field.
 *
 * Values are JavaScript numbers, so the range is 0..2^53−1; larger values on
 * the wire are a protocol error rather than a silently rounded number.
 * Encodings with redundant leading zero digits (`80 01`) decode normally: the
 * RFC does not require the shortest form and the reference parsers accept it.
 */
import { ProtocolError } from './errors.js';

export const MAX_VLU = Number.MAX_SAFE_INTEGER;

/** Above this, one more digit would leave the exactly representable range. */
const MAX_BEFORE_DIGIT = Math.floor(MAX_VLU / 128);

function assertEncodable(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`VLU value must be an integer in 0..2^53-1, got ${value}`);
  }
}

export function vluLength(value: number): number {
  assertEncodable(value);
  let length = 1;
  for (let rest = value; rest >= 128; rest = Math.floor(rest / 128)) length++;
  return length;
}

/** Writes `value` at `offset` and returns the offset just past it. */
export function writeVlu(target: Uint8Array, offset: number, value: number): number {
  const length = vluLength(value);
  const last = offset + length - 1;
  let rest = value;
  for (let i = last; i >= offset; i--) {
    const digit = rest % 128;
    target[i] = i === last ? digit : digit | 0x80;
    rest = Math.floor(rest / 128);
  }
  return offset + length;
}

export function encodeVlu(value: number): Uint8Array {
  const out = new Uint8Array(vluLength(value));
  writeVlu(out, 0, value);
  return out;
}

export interface VluRead {
  readonly value: number;
  /** Offset of the first byte after the VLU. */
  readonly next: number;
}

/** Reads one VLU from `bytes[offset..end)`; never reads outside that range. */
export function readVlu(bytes: Uint8Array, offset: number, end: number = bytes.length): VluRead {
  const limit = Math.min(end, bytes.length);
  let value = 0;
  for (let i = offset; i < limit; i++) {
    const byte = bytes[i]!;
    if (value > MAX_BEFORE_DIGIT) {
      throw new ProtocolError('vlu-overflow', 'VLU exceeds 2^53-1');
    }
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new ProtocolError('truncated', 'VLU runs past the end of the message');
}
