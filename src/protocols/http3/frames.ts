/**
 * HTTP/3 frames and unidirectional stream types (RFC 9114 §6.2, §7), plus the
 * WebTransport signal value that opens a bidirectional WebTransport stream.
 */
import { StreamBuffer } from './bytes.js';
import { Http3Error, H3ErrorCode } from './errors.js';
import { varintSize, writeVarint } from './varint.js';

export const FrameType = {
  DATA: 0x00,
  HEADERS: 0x01,
  CANCEL_PUSH: 0x03,
  SETTINGS: 0x04,
  PUSH_PROMISE: 0x05,
  GOAWAY: 0x07,
  MAX_PUSH_ID: 0x0d,
  /**
   * Not a frame: the first varint of a client bidi stream that carries
   * WebTransport data instead of a request (draft-ietf-webtrans-http3 §4.2).
   */
  WEBTRANSPORT_STREAM: 0x41,
} as const;

/** Frame types HTTP/2 used that HTTP/3 forbids (RFC 9114 §7.2.8): receipt is H3_FRAME_UNEXPECTED. */
const HTTP2_ONLY_FRAME_TYPES = new Set([0x02, 0x06, 0x08, 0x09]);

export const StreamType = {
  CONTROL: 0x00,
  PUSH: 0x01,
  QPACK_ENCODER: 0x02,
  QPACK_DECODER: 0x03,
  WEBTRANSPORT_UNI: 0x54,
} as const;

/** Reserved (GREASE) codepoints 0x1f * N + 0x21 (RFC 9114 §7.2.8, §6.2.3, §7.2.4.1). */
export function isReservedCodepoint(value: number): boolean {
  return value >= 0x21 && (value - 0x21) % 0x1f === 0;
}

export function isHttp2OnlyFrameType(type: number): boolean {
  return HTTP2_ONLY_FRAME_TYPES.has(type);
}

/** Type and length of a frame, ready to be followed by `length` payload bytes. */
export function encodeFrameHeader(type: number, length: number): Uint8Array {
  const out = new Uint8Array(varintSize(type) + varintSize(length));
  writeVarint(out, writeVarint(out, 0, type), length);
  return out;
}

export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const t = varintSize(type);
  const l = varintSize(payload.length);
  const out = new Uint8Array(t + l + payload.length);
  let off = writeVarint(out, 0, type);
  off = writeVarint(out, off, payload.length);
  out.set(payload, off);
  return out;
}

export interface Frame {
  readonly type: number;
  readonly payload: Uint8Array;
}

export interface FrameReaderOptions {
  /** Largest payload buffered for a frame the caller wants; larger is H3_EXCESSIVE_LOAD. */
  readonly maxPayload?: number;
  /**
   * Frame types returned to the caller. Others (unknown, GREASE) are skipped
   * without buffering their payload, as RFC 9114 §9 requires.
   */
  readonly wanted: ReadonlySet<number>;
}

/**
 * Splits stream bytes into frames. Feed bytes with `push`, then call `next`
 * until it returns `null`.
 */
export class FrameReader {
  private readonly buffer: StreamBuffer;
  private readonly maxPayload: number;
  private readonly wanted: ReadonlySet<number>;

  constructor(opts: FrameReaderOptions) {
    this.maxPayload = opts.maxPayload ?? 64 * 1024;
    this.wanted = opts.wanted;
    this.buffer = new StreamBuffer(this.maxPayload + 16);
  }

  /** True when no partial frame is pending: a FIN here is a clean end. */
  get atBoundary(): boolean {
    return this.buffer.available === 0;
  }

  push(chunk: Uint8Array): void {
    this.buffer.push(chunk);
  }

  /** The next complete wanted frame, or `null` until more bytes arrive. */
  next(): Frame | null {
    for (;;) {
      const type = this.buffer.peekVarint(0);
      if (type === null) return null;
      const length = this.buffer.peekVarint(type.length);
      if (length === null) return null;
      if (!this.wanted.has(type.value)) {
        if (isHttp2OnlyFrameType(type.value)) {
          throw new Http3Error(H3ErrorCode.FRAME_UNEXPECTED, `HTTP/2 frame type 0x${type.value.toString(16)} on HTTP/3`);
        }
        this.buffer.discard(type.length + length.length);
        this.buffer.discard(length.value);
        continue;
      }
      if (length.value > this.maxPayload) {
        throw new Http3Error(H3ErrorCode.EXCESSIVE_LOAD, `frame 0x${type.value.toString(16)} of ${length.value} bytes exceeds ${this.maxPayload}`);
      }
      if (this.buffer.available < type.length + length.length + length.value) return null;
      this.buffer.discard(type.length + length.length);
      const payload = this.buffer.take(length.value)!;
      return { type: type.value, payload };
    }
  }

  /** Type of the next frame once its first varint has arrived (for "the first frame must be X" rules). */
  peekType(): number | null {
    return this.buffer.peekVarint(0)?.value ?? null;
  }

  /** Bytes after the last returned frame (for a stream that switches from frames to raw data). */
  takeRest(): Uint8Array {
    return this.buffer.takeUpTo(this.buffer.available);
  }
}

/** GOAWAY carries one varint: a stream id (from a server) or push id (from a client). */
export function encodeGoaway(id: number): Uint8Array {
  const payload = new Uint8Array(varintSize(id));
  writeVarint(payload, 0, id);
  return encodeFrame(FrameType.GOAWAY, payload);
}
