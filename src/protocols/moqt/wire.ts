/**
 * Building and parsing moq-transport messages in one draft's encoding.
 * Every control message is `type (varint) | length (u16) | body`; bodies are
 * parsed whole from a bounded buffer, so a decoder never waits on the network.
 */
import { MoqtProtocolError } from './errors.js';
import { decodeVarintAt, encodeVarint, varintLength } from './varint.js';
import type { MoqtDraft } from './version.js';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export class WireWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  constructor(readonly draft: MoqtDraft) {}

  varint(v: number | bigint): this {
    return this.bytes(encodeVarint(v, this.draft));
  }

  u8(v: number): this {
    return this.bytes(Uint8Array.of(v));
  }

  u16(v: number): this {
    return this.bytes(Uint8Array.of(v >> 8, v & 0xff));
  }

  bytes(b: Uint8Array): this {
    this.chunks.push(b);
    this.size += b.byteLength;
    return this;
  }

  /** A length-prefixed byte string. */
  blob(b: Uint8Array): this {
    return this.varint(b.byteLength).bytes(b);
  }

  string(s: string): this {
    return this.blob(utf8.encode(s));
  }

  get byteLength(): number {
    return this.size;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }
}

/** `type | u16 length | body`: the framing of every control message. */
export function frameMessage(draft: MoqtDraft, type: number, body: Uint8Array): Uint8Array {
  if (body.byteLength > 0xffff) throw new RangeError(`message body of ${body.byteLength} bytes`);
  return new WireWriter(draft).varint(type).u16(body.byteLength).bytes(body).finish();
}

/** Reads a message body; running past its end is the peer's malformation. */
export class WireReader {
  private off = 0;

  constructor(
    private readonly buf: Uint8Array,
    readonly draft: MoqtDraft,
    private readonly what: string,
  ) {}

  get done(): boolean {
    return this.off >= this.buf.byteLength;
  }

  /** Back to the first byte, for a caller that peeked at a leading field. */
  rewind(): this {
    this.off = 0;
    return this;
  }

  varint(): number {
    this.need(1);
    const length = varintLength(this.buf[this.off]!, this.draft);
    this.need(length);
    const v = decodeVarintAt(this.buf, this.off, length, this.draft);
    this.off += length;
    return v;
  }

  /** A varint that must be an exact integer (ids, counts, lengths). */
  index(): number {
    const v = this.varint();
    if (!Number.isSafeInteger(v)) throw new MoqtProtocolError(`${this.what}: value out of range`);
    return v;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }

  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }

  blob(max: number): Uint8Array {
    const n = this.index();
    if (n > max) throw new MoqtProtocolError(`${this.what}: field of ${n} bytes (limit ${max})`);
    return this.bytes(n);
  }

  string(max: number): string {
    try {
      return fromUtf8.decode(this.blob(max));
    } catch (err) {
      if (err instanceof MoqtProtocolError) throw err;
      throw new MoqtProtocolError(`${this.what}: invalid UTF-8`);
    }
  }

  /** Everything not read yet. */
  rest(): Uint8Array {
    return this.bytes(this.buf.byteLength - this.off);
  }

  /** Nothing may follow the fields a message defines. */
  end(): void {
    if (!this.done) throw new MoqtProtocolError(`${this.what}: ${this.buf.byteLength - this.off} trailing bytes`);
  }

  private need(n: number): void {
    if (this.off + n > this.buf.byteLength) throw new MoqtProtocolError(`${this.what}: truncated`);
  }
}
