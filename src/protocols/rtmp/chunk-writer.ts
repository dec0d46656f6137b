/**
 * The sending half of the chunk stream: messages out as chunks of the
 * chunk size we announced. The server sends few, small messages (control,
 * command results, status), so each goes as a type-0 chunk and type-3
 * continuations; header compression would save bytes nobody is short of.
 */
import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE } from './chunk-reader.js';

export interface OutgoingMessage {
  readonly csid: number;
  readonly type: number;
  readonly streamId: number;
  readonly timestamp: number;
  readonly payload: Uint8Array;
}

const EXTENDED = 0xffffff;

function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 2 || csid > 65599) throw new RangeError(`chunk stream id ${csid} is outside 2..65599`);
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

export class ChunkWriter {
  private size = DEFAULT_CHUNK_SIZE;

  get chunkSize(): number {
    return this.size;
  }

  /** Takes effect for the messages written after the Set Chunk Size message that announces it. */
  setChunkSize(size: number): void {
    if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) throw new RangeError(`chunk size ${size} is outside 1..${MAX_CHUNK_SIZE}`);
    this.size = size;
  }

  /** The chunks of one message, as one buffer. */
  write(m: OutgoingMessage): Buffer {
    const timestamp = m.timestamp >>> 0;
    const extended = timestamp >= EXTENDED;
    const header = Buffer.alloc(11);
    header.writeUIntBE(extended ? EXTENDED : timestamp, 0, 3);
    header.writeUIntBE(m.payload.length, 3, 3);
    header[6] = m.type;
    header.writeUInt32LE(m.streamId, 7);
    const ext = Buffer.alloc(extended ? 4 : 0);
    if (extended) ext.writeUInt32BE(timestamp, 0);
    const parts: Uint8Array[] = [basicHeader(0, m.csid), header, ext];
    const continuation = Buffer.concat([basicHeader(3, m.csid), ext]);
    for (let off = 0; off < m.payload.length || off === 0; off += this.size) {
      if (off > 0) parts.push(continuation);
      parts.push(m.payload.subarray(off, Math.min(off + this.size, m.payload.length)));
      if (m.payload.length === 0) break;
    }
    return Buffer.concat(parts);
  }
}
