/** Framing of `wt-fmp4` streams (docs/protocols/wt-fmp4.md): pure encode/decode. */

export const STREAM_CONTROL = 0x01;
export const STREAM_GROUP = 0x02;
export const STREAM_CONTROL_UP = 0x03;

export const RECORD_JSON = 0x01;
export const RECORD_INIT = 0x02;
export const RECORD_SEGMENT = 0x03;

/** Longest record a browser may send us (JSON control messages are tiny). */
export const MAX_UP_RECORD = 16 * 1024;

export function record(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.byteLength);
  out.set(payload, 5);
  return out;
}

export function jsonRecord(value: unknown): Uint8Array {
  return record(RECORD_JSON, new TextEncoder().encode(JSON.stringify(value)));
}

export function groupHeader(generation: number, sequence: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = STREAM_GROUP;
  const view = new DataView(out.buffer);
  view.setUint32(1, generation >>> 0);
  view.setUint32(5, sequence >>> 0);
  return out;
}

export interface Record {
  type: number;
  payload: Uint8Array;
}

/**
 * Incremental record reader for a stream that starts with a kind byte.
 * `push` returns complete records; `error` is set for a malformed stream.
 */
export class RecordReader {
  kind: number | undefined;
  error: string | undefined;
  private buf = new Uint8Array(0);

  constructor(private readonly maxRecord: number) {}

  push(chunk: Uint8Array): Record[] {
    if (this.error !== undefined) return [];
    const joined = new Uint8Array(this.buf.byteLength + chunk.byteLength);
    joined.set(this.buf);
    joined.set(chunk, this.buf.byteLength);
    let at = 0;
    if (this.kind === undefined && joined.byteLength > 0) this.kind = joined[at++];
    const out: Record[] = [];
    while (joined.byteLength - at >= 5) {
      const length = new DataView(joined.buffer, at + 1, 4).getUint32(0);
      if (length > this.maxRecord) {
        this.error = `record of ${length} bytes exceeds ${this.maxRecord}`;
        return out;
      }
      if (joined.byteLength - at - 5 < length) break;
      out.push({ type: joined[at]!, payload: joined.slice(at + 5, at + 5 + length) });
      at += 5 + length;
    }
    this.buf = joined.slice(at);
    return out;
  }
}
