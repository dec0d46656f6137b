/**
 * Byte plumbing shared by the parsers: a bounds-checked reader over one
 * complete buffer, a growable writer, and an accumulator for bytes that
 * arrive in arbitrary pieces from a QUIC stream.
 */
import { EncodeError, Http3Error, H3ErrorCode, TruncatedError } from './errors.js';
import { readVarint, varintSize, writeVarint } from './varint.js';

/** Reads a complete structure; running past the end throws `TruncatedError`. */
export class ByteReader {
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what = 'input',
    private readonly truncatedCode: number = H3ErrorCode.FRAME_ERROR,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  varint(): number {
    const r = readVarint(this.buf, this.pos);
    if (r === null) throw new TruncatedError(this.what, this.truncatedCode);
    this.pos += r.length;
    return r.value;
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw new TruncatedError(this.what, this.truncatedCode);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    const b = this.bytes(4);
    return ((b[0]! << 24) >>> 0) + ((b[1]! << 16) | (b[2]! << 8) | b[3]!);
  }

  /** A view (not a copy) of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.remaining) throw new TruncatedError(this.what, this.truncatedCode);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
}

/** Appends bytes and varints to a buffer that grows as needed. */
export class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initial = 64) {
    this.buf = new Uint8Array(initial);
  }

  get length(): number {
    return this.pos;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  varint(value: number): this {
    const n = varintSize(value);
    this.reserve(n);
    this.pos = writeVarint(this.buf, this.pos, value);
    return this;
  }

  u8(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new EncodeError(`u8 out of range: ${value}`);
    this.reserve(1);
    this.buf[this.pos++] = value;
    return this;
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new EncodeError(`u32 out of range: ${value}`);
    this.reserve(4);
    this.buf[this.pos++] = value >>> 24;
    this.buf[this.pos++] = (value >>> 16) & 0xff;
    this.buf[this.pos++] = (value >>> 8) & 0xff;
    this.buf[this.pos++] = value & 0xff;
    return this;
  }

  bytes(data: Uint8Array): this {
    this.reserve(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    return this;
  }

  /** The written bytes (a copy, so the writer can be dropped or reused). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Bytes of a stream as they arrive. Readers peek varints and take exact
 * counts; `discard` may reach past what has arrived so far, so a large
 * unknown frame is skipped without ever being buffered.
 */
export class StreamBuffer {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private size = 0;
  private pendingDiscard = 0;

  constructor(private readonly maxBuffered = 1 << 20) {}

  get available(): number {
    return this.size;
  }

  /** Takes ownership of `chunk`: views of it may be handed out later, so the caller must not reuse it. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.pendingDiscard > 0) {
      const drop = Math.min(this.pendingDiscard, chunk.length);
      this.pendingDiscard -= drop;
      chunk = chunk.subarray(drop);
      if (chunk.length === 0) return;
    }
    if (this.size + chunk.length > this.maxBuffered) {
      throw new Http3Error(H3ErrorCode.EXCESSIVE_LOAD, `more than ${this.maxBuffered} bytes buffered on one stream`);
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** Copies up to `n` bytes from the front without consuming them. */
  private peek(n: number): Uint8Array {
    const take = Math.min(n, this.size);
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= take) return first.subarray(this.head, this.head + take);
    const out = new Uint8Array(take);
    let off = 0;
    let pos = this.head;
    for (const c of this.chunks) {
      const part = c.subarray(pos, pos + (take - off));
      out.set(part, off);
      off += part.length;
      pos = 0;
      if (off === take) break;
    }
    return out;
  }

  /** The varint at the front, or `null` if it has not fully arrived. Does not consume. */
  peekVarint(at = 0): { value: number; length: number } | null {
    const bytes = this.peek(at + 8);
    return readVarint(bytes, at);
  }

  readVarint(): number | null {
    const r = this.peekVarint();
    if (r === null) return null;
    this.consume(r.length);
    return r.value;
  }

  /** Takes exactly `n` bytes, or returns `null` (consuming nothing) until they have arrived. */
  take(n: number): Uint8Array | null {
    if (n > this.size) return null;
    const out = this.peek(n);
    this.consume(n);
    return out;
  }

  /** Takes whatever has arrived, up to `max` bytes. */
  takeUpTo(max: number): Uint8Array {
    return this.take(Math.min(max, this.size)) ?? new Uint8Array(0);
  }

  /** Drops `n` bytes, including ones that have not arrived yet. */
  discard(n: number): void {
    const now = Math.min(n, this.size);
    this.consume(now);
    this.pendingDiscard += n - now;
  }

  private consume(n: number): void {
    this.size -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const left = c.length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }
}
