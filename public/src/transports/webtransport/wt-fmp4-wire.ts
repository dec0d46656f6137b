/**
 * The `wt-fmp4` wire format (docs/protocols/wt-fmp4.md), browser side: a
 * stream's kind byte and header, its records, and the JSON control messages.
 * Pure, so the bytes are unit-tested in Node.
 */

export const STREAM_CONTROL = 0x01;
export const STREAM_GROUP = 0x02;
export const STREAM_CONTROL_UP = 0x03;

export const RECORD_JSON = 0x01;
export const RECORD_INIT = 0x02;
export const RECORD_SEGMENT = 0x03;

const RECORD_HEADER_BYTES = 5;
const GROUP_HEADER_BYTES = 8;
/** Far above any one-frame segment of a sane stream; a length beyond it means the stream is corrupt. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export interface WireRecord {
  readonly type: number;
  readonly payload: Uint8Array;
}

export type StreamHead =
  | { readonly kind: 'control' }
  | { readonly kind: 'group'; readonly generation: number; readonly sequence: number }
  | { readonly kind: 'unknown'; readonly byte: number };

export class WireError extends Error {
  override readonly name = 'WireError';
}

/**
 * Cuts one incoming stream into its head and records. Chunks are kept as
 * they arrive and a record is copied only when it spans two of them.
 */
export class RecordReader {
  private head: StreamHead | null = null;
  private chunks: Uint8Array[] = [];
  /** Read position in `chunks[0]`. */
  private offset = 0;
  private available = 0;

  get streamHead(): StreamHead | null {
    return this.head;
  }

  /** Records completed by this chunk; throws `WireError` on a malformed stream. */
  push(chunk: Uint8Array): WireRecord[] {
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk);
      this.available += chunk.byteLength;
    }
    const out: WireRecord[] = [];
    if (this.head === null && !this.readHead()) return out;
    while (this.available >= RECORD_HEADER_BYTES) {
      const header = this.peek(RECORD_HEADER_BYTES);
      const length = new DataView(header.buffer, header.byteOffset, RECORD_HEADER_BYTES).getUint32(1);
      if (length > MAX_RECORD_BYTES) throw new WireError(`record of ${length} bytes`);
      if (this.available < RECORD_HEADER_BYTES + length) break;
      this.skip(RECORD_HEADER_BYTES);
      out.push({ type: header[0]!, payload: this.take(length) });
    }
    return out;
  }

  private readHead(): boolean {
    if (this.available < 1) return false;
    const kind = this.peek(1)[0]!;
    if (kind === STREAM_GROUP) {
      if (this.available < 1 + GROUP_HEADER_BYTES) return false;
      const bytes = this.take(1 + GROUP_HEADER_BYTES);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.head = { kind: 'group', generation: view.getUint32(1), sequence: view.getUint32(5) };
      return true;
    }
    this.skip(1);
    this.head = kind === STREAM_CONTROL ? { kind: 'control' } : { kind: 'unknown', byte: kind };
    return true;
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.byteLength - this.offset >= n) return first.subarray(this.offset, this.offset + n);
    return this.copy(n, false);
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first && first.byteLength - this.offset >= n) {
      const out = first.subarray(this.offset, this.offset + n);
      this.skip(n);
      return out;
    }
    return this.copy(n, true);
  }

  private skip(n: number): void {
    this.available -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      const left = first.byteLength - this.offset;
      if (n < left) {
        this.offset += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.offset = 0;
    }
  }

  private copy(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let index = 0;
    let offset = this.offset;
    while (filled < n) {
      const chunk = this.chunks[index]!;
      const part = Math.min(n - filled, chunk.byteLength - offset);
      out.set(chunk.subarray(offset, offset + part), filled);
      filled += part;
      index++;
      offset = 0;
    }
    if (consume) this.skip(n);
    return out;
  }
}

/** One record as the browser sends it on its control-up stream. */
export function encodeRecord(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.byteLength);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.byteLength);
  out.set(payload, RECORD_HEADER_BYTES);
  return out;
}

export function encodeJsonRecord(text: string): Uint8Array {
  return encodeRecord(RECORD_JSON, new TextEncoder().encode(text));
}

export type ControlMessage =
  | { readonly type: 'hello'; readonly version: number; readonly server: string; readonly id: string }
  | {
      readonly type: 'init';
      readonly generation: number;
      /** Of the combined SourceBuffer. */
      readonly mime: string;
      readonly video: { readonly codec: string } | null;
      readonly audio: { readonly codec: string; readonly sampleRate: number; readonly numberOfChannels: number } | null;
    }
  | { readonly type: 'offline'; readonly reason: string }
  | { readonly type: 'pong'; readonly t: number; readonly serverTime: number }
  | { readonly type: 'stats'; readonly groupsDropped: number; readonly framesDropped: number }
  | { readonly type: 'unknown'; readonly name: string };

type Json = Record<string, unknown>;

function object(value: unknown): Json | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : null;
}

function field<T>(obj: Json, key: string, kind: 'string' | 'number', fallback?: T): T {
  const value = obj[key];
  if (typeof value === kind && (kind !== 'number' || Number.isFinite(value))) return value as T;
  if (fallback !== undefined) return fallback;
  throw new WireError(`${String(obj['type'])}.${key} must be a ${kind}`);
}

export function parseControl(text: string): ControlMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new WireError(`control message is not JSON: ${(err as Error).message}`);
  }
  const obj = object(parsed);
  if (!obj) throw new WireError('control message is not a JSON object');
  const type = obj['type'];
  switch (type) {
    case 'hello':
      return { type, version: field(obj, 'version', 'number'), server: field(obj, 'server', 'string', ''), id: field(obj, 'id', 'string', '') };
    case 'init': {
      const video = object(obj['video']);
      const audio = object(obj['audio']);
      return {
        type,
        generation: field(obj, 'generation', 'number'),
        mime: field(obj, 'mime', 'string'),
        video: video && { codec: field(video, 'codec', 'string', '') },
        audio: audio && {
          codec: field(audio, 'codec', 'string', ''),
          sampleRate: field(audio, 'sampleRate', 'number', 0),
          numberOfChannels: field(audio, 'numberOfChannels', 'number', 0),
        },
      };
    }
    case 'offline':
      return { type, reason: field(obj, 'reason', 'string', '') };
    case 'pong':
      return { type, t: field(obj, 't', 'number'), serverTime: field(obj, 'serverTime', 'number') };
    case 'stats':
      return { type, groupsDropped: field(obj, 'groupsDropped', 'number', 0), framesDropped: field(obj, 'framesDropped', 'number', 0) };
    default:
      if (typeof type !== 'string') throw new WireError('control message has no string "type"');
      return { type: 'unknown', name: type };
  }
}
