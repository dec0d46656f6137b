/**
 * Pulls control messages off a QUIC stream. Only what the next field needs
 * is buffered, and a message's declared length is checked against a limit
 * before its body is awaited, so a peer cannot make us hold more than one
 * bounded message per stream.
 */
import { MoqtProtocolError, MoqtStreamEndedError } from './errors.js';
import { decodeVarintAt, varintLength } from './varint.js';
import { WireReader } from './wire.js';
import type { MoqtDraft } from './version.js';

export interface ControlMessage {
  readonly type: number;
  readonly body: WireReader;
}

export class MoqtStreamReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private buf: Uint8Array = new Uint8Array(0);
  private ended = false;

  constructor(
    readable: ReadableStream<Uint8Array>,
    private readonly what: string,
  ) {
    this.reader = readable.getReader();
  }

  /** True at a clean end of stream (nothing buffered, FIN received). */
  async done(): Promise<boolean> {
    if (this.buf.byteLength > 0) return false;
    await this.fill(1, true);
    return this.buf.byteLength === 0;
  }

  async varint(draft: MoqtDraft): Promise<number> {
    await this.fill(1);
    const length = varintLength(this.buf[0]!, draft);
    await this.fill(length);
    const v = decodeVarintAt(this.buf, 0, length, draft);
    this.buf = this.buf.subarray(length);
    return v;
  }

  /** A varint that must be an exact integer (ids, counts, lengths). */
  async index(draft: MoqtDraft): Promise<number> {
    const v = await this.varint(draft);
    if (!Number.isSafeInteger(v)) throw new MoqtProtocolError(`${this.what}: value out of range`);
    return v;
  }

  async bytes(n: number): Promise<Uint8Array> {
    await this.fill(n);
    const out = this.buf.slice(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next `type | u16 length | body`, refused when the length exceeds `maxBytes`. */
  async message(draft: MoqtDraft, maxBytes: number): Promise<ControlMessage> {
    return this.body(draft, await this.varint(draft), maxBytes);
  }

  /** The `u16 length | body` after a type the caller has read (and judged) already. */
  async body(draft: MoqtDraft, type: number, maxBytes: number): Promise<ControlMessage> {
    const lengthBytes = await this.bytes(2);
    const length = (lengthBytes[0]! << 8) | lengthBytes[1]!;
    if (length > maxBytes) throw new MoqtProtocolError(`${this.what}: message 0x${type.toString(16)} of ${length} bytes (limit ${maxBytes})`);
    return { type, body: new WireReader(await this.bytes(length), draft, `${this.what} message 0x${type.toString(16)}`) };
  }

  cancel(): void {
    this.reader.cancel().catch(() => {});
  }

  private async fill(n: number, eofOk = false): Promise<void> {
    if (this.buf.byteLength >= n) return;
    // Chunks are gathered and joined once: a large object is not copied again for every chunk.
    const parts: Uint8Array[] = this.buf.byteLength > 0 ? [this.buf] : [];
    let have = this.buf.byteLength;
    try {
      while (have < n) {
        if (this.ended) {
          if (eofOk && have === 0) return;
          throw new MoqtStreamEndedError(this.what);
        }
        const { value, done } = await this.reader.read();
        if (done) {
          this.ended = true;
          continue;
        }
        if (value.byteLength === 0) continue;
        parts.push(value);
        have += value.byteLength;
      }
    } finally {
      if (parts.length === 1) this.buf = parts[0]!;
      else if (parts.length > 1) {
        const next = new Uint8Array(have);
        let off = 0;
        for (const p of parts) {
          next.set(p, off);
          off += p.byteLength;
        }
        this.buf = next;
      }
    }
  }
}
