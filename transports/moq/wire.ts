/**
 * Byte-level building blocks of moq-lite: QUIC varints, length-prefixed
 * strings and messages, read either from a complete buffer (a message body)
 * or incrementally from a WebTransport stream.
 */
import { encodeVarint, readVarint, readVarintBigInt, varintSize, writeVarint } from '../../src/protocols/http3/varint.js';

/** The peer broke the protocol: the session that carried it is closed. */
export class MoqProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MoqProtocolError';
  }
}

/** The stream ended or was reset before a message was complete, through no fault of the framing. */
export class MoqStreamClosedError extends Error {
  constructor(
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = 'MoqStreamClosedError';
  }
}

/** Paths have at most 32 parts, as @moq/net enforces on decode. */
export const MAX_PATH_PARTS = 32;

/**
 * Normalizes a wire path the way moq-lite does (`Path.from`): repeated
 * slashes collapse, leading and trailing ones go. Too many parts is a
 * violation.
 */
export function normalizePath(raw: string): string {
  const path = raw.replace(/\/+/g, '/').replace(/^\/+/, '').replace(/\/+$/, '');
  if (path !== '' && path.split('/').length > MAX_PATH_PARTS) throw new MoqProtocolError(`path has more than ${MAX_PATH_PARTS} parts`);
  return path;
}

/** `prefix` covers `path` on a part boundary (`live` covers `live/cam` but not `lively`). */
export function pathSuffix(prefix: string, path: string): string | undefined {
  if (prefix === '') return path;
  if (path === prefix) return '';
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : undefined;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const textEncoder = new TextEncoder();

/** Reads one complete message body; anything malformed is a protocol violation. */
export class MessageReader {
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private truncated(): never {
    throw new MoqProtocolError(`${this.what}: message too short`);
  }

  varint(): number {
    const r = readVarint(this.buf, this.pos);
    if (r === null) this.truncated();
    if (r.value > Number.MAX_SAFE_INTEGER) throw new MoqProtocolError(`${this.what}: value beyond 2^53`);
    this.pos += r.length;
    return r.value;
  }

  varintBig(): bigint {
    const r = readVarintBigInt(this.buf, this.pos);
    if (r === null) this.truncated();
    this.pos += r.length;
    return r.value;
  }

  u8(): number {
    if (this.pos >= this.buf.length) this.truncated();
    return this.buf[this.pos++]!;
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new MoqProtocolError(`${this.what}: boolean is ${v}`);
    return v === 1;
  }

  bytes(n: number): Uint8Array {
    if (n > this.remaining) this.truncated();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(max = 1024): string {
    const n = this.varint();
    if (n > max) throw new MoqProtocolError(`${this.what}: string of ${n} bytes (limit ${max})`);
    try {
      return textDecoder.decode(this.bytes(n));
    } catch (e) {
      if (e instanceof MoqProtocolError) throw e;
      throw new MoqProtocolError(`${this.what}: string is not UTF-8`);
    }
  }

  /** moq-lite rejects a message whose body is not consumed exactly. */
  end(): void {
    if (this.remaining !== 0) throw new MoqProtocolError(`${this.what}: ${this.remaining} trailing bytes`);
  }
}

/** Builds a message body. */
export class MessageWriter {
  private parts: Uint8Array[] = [];
  private size = 0;

  varint(value: number | bigint): this {
    return this.bytes(encodeVarint(value));
  }

  u8(value: number): this {
    return this.bytes(Uint8Array.of(value & 0xff));
  }

  bool(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  string(value: string): this {
    const b = textEncoder.encode(value);
    return this.varint(b.length).bytes(b);
  }

  bytes(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  get length(): number {
    return this.size;
  }

  /** The body as is. */
  raw(): Uint8Array {
    return concat(this.parts, this.size);
  }

  /** The body behind a varint length, moq-lite's message framing. */
  sized(): Uint8Array {
    return concat([encodeVarint(this.size), ...this.parts], varintSize(this.size) + this.size);
  }

  /** The body behind a 16-bit length, the framing of the IETF draft-14 setup messages. */
  sizedU16(): Uint8Array {
    if (this.size > 0xffff) throw new RangeError(`message of ${this.size} bytes does not fit a u16 length`);
    return concat([Uint8Array.of(this.size >>> 8, this.size & 0xff), ...this.parts], 2 + this.size);
  }
}

export function concat(parts: readonly Uint8Array[], total?: number): Uint8Array {
  const size = total ?? parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** `varint(value)` followed by `rest`, in one allocation. */
export function prefixVarint(value: number, rest: Uint8Array): Uint8Array {
  const n = varintSize(value);
  const out = new Uint8Array(n + rest.length);
  writeVarint(out, 0, value);
  out.set(rest, n);
  return out;
}

const EMPTY = new Uint8Array(0);

/**
 * Pulls exactly what a message needs from a stream, keeping the rest for
 * the next read. A reset surfaces as `MoqStreamClosedError`; a FIN inside a
 * message as `MoqProtocolError`.
 */
export class StreamReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private buf: Uint8Array = EMPTY;
  private eof = false;

  constructor(
    readable: ReadableStream<Uint8Array>,
    private readonly what: string,
  ) {
    this.reader = readable.getReader();
  }

  /** Reads one more chunk into the buffer; false at the end of the stream. */
  private async fill(): Promise<boolean> {
    if (this.eof) return false;
    let r: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;
    try {
      r = await this.reader.read();
    } catch (e) {
      throw new MoqStreamClosedError(`${this.what}: ${(e as Error).message ?? String(e)}`, e);
    }
    if (r.done) {
      this.eof = true;
      return false;
    }
    if (r.value.length === 0) return true;
    if (this.buf.length === 0) this.buf = r.value;
    else {
      const next = new Uint8Array(this.buf.length + r.value.length);
      next.set(this.buf);
      next.set(r.value, this.buf.length);
      this.buf = next;
    }
    return true;
  }

  private async need(n: number): Promise<void> {
    while (this.buf.length < n) {
      if (!(await this.fill())) throw new MoqProtocolError(`${this.what}: stream ended inside a message`);
    }
  }

  private take(n: number): Uint8Array {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** True once the peer has finished the stream and every byte was consumed. */
  async done(): Promise<boolean> {
    while (this.buf.length === 0) {
      if (!(await this.fill())) return true;
    }
    return false;
  }

  async varint(): Promise<number> {
    await this.need(1);
    await this.need(1 << (this.buf[0]! >>> 6));
    const r = readVarint(this.buf, 0)!;
    if (r.value > Number.MAX_SAFE_INTEGER) throw new MoqProtocolError(`${this.what}: value beyond 2^53`);
    this.take(r.length);
    return r.value;
  }

  async u16(): Promise<number> {
    await this.need(2);
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }

  async bytes(n: number): Promise<Uint8Array> {
    await this.need(n);
    // A copy: the buffer may be a view into a chunk that later reads extend.
    return this.take(n).slice();
  }

  /** A varint-length-prefixed message body of at most `max` bytes. */
  async message(what: string, max = 64 * 1024): Promise<MessageReader> {
    const size = await this.varint();
    if (size > max) throw new MoqProtocolError(`${what}: message of ${size} bytes (limit ${max})`);
    return new MessageReader(await this.bytes(size), what);
  }

  /** Like `message`, with the 16-bit length of the IETF setup messages. */
  async messageU16(what: string, max = 0xffff): Promise<MessageReader> {
    const size = await this.u16();
    if (size > max) throw new MoqProtocolError(`${what}: message of ${size} bytes (limit ${max})`);
    return new MessageReader(await this.bytes(size), what);
  }

  /** Stops reading; the stream's owner decides whether to send STOP_SENDING. */
  release(): void {
    this.reader.releaseLock();
  }

  cancel(): void {
    this.reader.cancel().catch(() => {});
  }
}
