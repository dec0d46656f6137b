/**
 * The Capsule Protocol (RFC 9297 §3.2) as WebTransport uses it on the
 * CONNECT stream: type varint, length varint, value. In HTTP/3 the capsules
 * ride inside DATA frames, so the capsule stream is the concatenation of the
 * DATA payloads.
 */
import { ByteReader, ByteWriter, StreamBuffer } from './bytes.js';
import { EncodeError, Http3Error, H3ErrorCode } from './errors.js';

export const CapsuleType = {
  DATAGRAM: 0x00,
  CLOSE_WEBTRANSPORT_SESSION: 0x2843,
  DRAIN_WEBTRANSPORT_SESSION: 0x78ae,
} as const;

/** The reason in CLOSE_WEBTRANSPORT_SESSION is at most 1024 bytes of UTF-8. */
export const MAX_CLOSE_REASON_BYTES = 1024;

export interface Capsule {
  readonly type: number;
  readonly value: Uint8Array;
}

export function encodeCapsule(type: number, value: Uint8Array): Uint8Array {
  return new ByteWriter(value.length + 16).varint(type).varint(value.length).bytes(value).finish();
}

/** Truncates UTF-8 to `max` bytes without splitting a character. */
function truncateUtf8(text: string, max: number): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

export interface SessionCloseInfo {
  /** 32-bit application error code. */
  readonly code: number;
  readonly reason: string;
}

export function encodeCloseSessionCapsule(code: number, reason: string): Uint8Array {
  if (!Number.isInteger(code) || code < 0 || code > 0xffff_ffff) throw new EncodeError(`session close code must be a u32: ${code}`);
  const value = new ByteWriter(8 + reason.length).u32(code).bytes(truncateUtf8(reason, MAX_CLOSE_REASON_BYTES)).finish();
  return encodeCapsule(CapsuleType.CLOSE_WEBTRANSPORT_SESSION, value);
}

export function decodeCloseSessionValue(value: Uint8Array): SessionCloseInfo {
  const r = new ByteReader(value, 'CLOSE_WEBTRANSPORT_SESSION', H3ErrorCode.MESSAGE_ERROR);
  const code = r.u32();
  const rest = r.rest();
  if (rest.length > MAX_CLOSE_REASON_BYTES) throw new Http3Error(H3ErrorCode.MESSAGE_ERROR, 'close reason longer than 1024 bytes');
  return { code, reason: new TextDecoder().decode(rest) };
}

export function encodeDrainSessionCapsule(): Uint8Array {
  return encodeCapsule(CapsuleType.DRAIN_WEBTRANSPORT_SESSION, new Uint8Array(0));
}

/**
 * Splits a capsule byte stream. Capsules of types the caller does not want
 * (GREASE, unknown) are skipped without buffering, as RFC 9297 §3.2 requires.
 */
export class CapsuleReader {
  private readonly buffer: StreamBuffer;

  constructor(
    private readonly wanted: ReadonlySet<number>,
    private readonly maxValue = 64 * 1024,
  ) {
    this.buffer = new StreamBuffer(maxValue + 16);
  }

  get atBoundary(): boolean {
    return this.buffer.available === 0;
  }

  push(chunk: Uint8Array): void {
    this.buffer.push(chunk);
  }

  next(): Capsule | null {
    for (;;) {
      const type = this.buffer.peekVarint(0);
      if (type === null) return null;
      const length = this.buffer.peekVarint(type.length);
      if (length === null) return null;
      if (!this.wanted.has(type.value)) {
        this.buffer.discard(type.length + length.length);
        this.buffer.discard(length.value);
        continue;
      }
      if (length.value > this.maxValue) {
        throw new Http3Error(H3ErrorCode.EXCESSIVE_LOAD, `capsule 0x${type.value.toString(16)} of ${length.value} bytes`);
      }
      if (this.buffer.available < type.length + length.length + length.value) return null;
      this.buffer.discard(type.length + length.length);
      return { type: type.value, value: this.buffer.take(length.value)! };
    }
  }
}
