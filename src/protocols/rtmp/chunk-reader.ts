/**
 * The receiving half of the RTMP chunk stream (Adobe RTMP 1.0 §5.3):
 * chunks in, whole messages out.
 *
 * Memory is the point of this module. A chunk header declares a message
 * length up to 16 MB before any of it arrives, on any of 65,599 chunk
 * streams; a server that allocates what is declared can be made to commit
 * gigabytes by a few kilobytes of headers. Here a message's buffer grows
 * only as its payload arrives (doubling, never past the declared length, so
 * a finished message is one exact-size buffer and no second copy), and hard
 * limits bound what one connection can hold: the declared length, the number
 * of chunk streams, and the bytes held in unfinished messages. Crossing one
 * is an `RtmpProtocolError` naming the limit; the caller closes the peer.
 *
 * Set Chunk Size and Abort change how the following chunks parse, so they
 * are applied here, in stream order; every message (these included) is also
 * handed to `onMessage`.
 */
import { RtmpProtocolError } from './errors.js';

export interface RtmpMessage {
  /** Chunk stream it arrived on. */
  readonly csid: number;
  readonly type: number;
  /** Message stream id (0 for the connection's control and NetConnection commands). */
  readonly streamId: number;
  /** Milliseconds, unsigned 32-bit: RTMP timestamps wrap. */
  readonly timestamp: number;
  readonly payload: Buffer;
}

export interface ChunkReaderLimits {
  /** Largest message length a header may declare. */
  readonly maxMessageSize: number;
  /** Distinct chunk stream ids one connection may use (real encoders use fewer than 10). */
  readonly maxChunkStreams: number;
  /** Bytes allocated for unfinished messages, over all chunk streams. */
  readonly maxBufferedBytes: number;
  /**
   * Allocate a message's declared length when its first bytes arrive,
   * instead of growing with what arrived. Only for connections already
   * allowed to send media: one buffer per frame and no copy on the way is
   * what keeps a 50 Mbit/s ingest from churning three times its rate in
   * short-lived buffers (which drives V8 into back-to-back full collections).
   */
  readonly allocateDeclared?: boolean;
}

export const MessageType = {
  setChunkSize: 1,
  abort: 2,
  acknowledgement: 3,
  userControl: 4,
  windowAckSize: 5,
  setPeerBandwidth: 6,
  audio: 8,
  video: 9,
  dataAmf3: 15,
  commandAmf3: 17,
  dataAmf0: 18,
  commandAmf0: 20,
  aggregate: 22,
} as const;

export const DEFAULT_CHUNK_SIZE = 128;
/** The spec's range for Set Chunk Size: 31 bits, the top bit zero. */
export const MAX_CHUNK_SIZE = 0x7fffffff;
const EXTENDED = 0xffffff;
/** Smallest growth step of a message buffer: below it, doubling would copy for every few chunks. */
const MIN_BUFFER = 4096;
/** Longest chunk header: 3-byte basic header, 11-byte message header, 4-byte extended timestamp. */
const MAX_HEADER = 18;

interface ChunkStream {
  type: number;
  streamId: number;
  length: number;
  /** Timestamp of the current (or last) message. */
  timestamp: number;
  /** The last type 0–2 header's timestamp field (absolute for type 0, a delta otherwise): what a type-3 message header repeats. */
  timestampField: number;
  /** The last type 0–2 header used an extended timestamp, so its type-3 chunks carry one too (§5.3.1.3). */
  extended: boolean;
  /** Unfinished message: its buffer and how much of it has arrived. */
  buffer: Buffer | null;
  received: number;
}

export class ChunkReader {
  private chunkSizeIn = DEFAULT_CHUNK_SIZE;
  private readonly streams = new Map<number, ChunkStream>();
  /** Bytes of an incomplete chunk header held between pushes (at most MAX_HEADER - 1). */
  private pending: Buffer = Buffer.alloc(0);
  /** The chunk whose payload is being read, and how much of it is left. */
  private current: ChunkStream | null = null;
  private currentCsid = 0;
  private chunkLeft = 0;
  private buffered = 0;
  private failure: RtmpProtocolError | null = null;

  constructor(
    private readonly onMessage: (message: RtmpMessage) => void,
    private limits: ChunkReaderLimits,
  ) {}

  /** The peer's chunk size (after its Set Chunk Size messages). */
  get chunkSize(): number {
    return this.chunkSizeIn;
  }

  /** Bytes allocated for messages not yet complete. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  get chunkStreamCount(): number {
    return this.streams.size;
  }

  /** Changes the limits for what follows (e.g. larger once a publish is accepted). */
  setLimits(limits: ChunkReaderLimits): void {
    this.limits = limits;
  }

  /**
   * Parses `data`. Throws `RtmpProtocolError` when the peer breaks the
   * protocol or a limit; after that every push throws the same error. An
   * exception from `onMessage` propagates and leaves the reader failed too.
   */
  push(data: Buffer): void {
    if (this.failure !== null) throw this.failure;
    try {
      this.parse(data);
    } catch (err) {
      this.failure = err instanceof RtmpProtocolError ? err : new RtmpProtocolError('malformed-chunk', `message handler failed: ${(err as Error).message}`);
      this.release();
      throw err;
    }
  }

  private parse(input: Buffer): void {
    let data = input;
    if (this.pending.length > 0) {
      data = Buffer.concat([this.pending, input]);
      this.pending = Buffer.alloc(0);
    }
    let off = 0;
    while (off < data.length) {
      if (this.current === null) {
        const used = this.header(data, off);
        if (used === 0) {
          // Copied: keeping a view would pin the whole socket read.
          this.pending = Buffer.from(data.subarray(off));
          return;
        }
        off += used;
        continue;
      }
      const take = Math.min(this.chunkLeft, data.length - off);
      this.append(this.current, data, off, take);
      off += take;
      this.chunkLeft -= take;
      if (this.chunkLeft === 0) this.endChunk();
    }
  }

  /** Parses a chunk header at `off`; returns its size, or 0 when it is not all there yet. */
  private header(data: Buffer, off: number): number {
    const avail = data.length - off;
    const b0 = data[off]!;
    const fmt = b0 >> 6;
    let csid = b0 & 0x3f;
    let p = off + 1;
    if (csid === 0) {
      if (avail < 2) return 0;
      csid = 64 + data[p]!;
      p += 1;
    } else if (csid === 1) {
      if (avail < 3) return 0;
      csid = 64 + data[p]! + data[p + 1]! * 256;
      p += 2;
    }
    const messageHeader = fmt === 0 ? 11 : fmt === 1 ? 7 : fmt === 2 ? 3 : 0;
    if (data.length - p < messageHeader) return 0;

    let stream = this.streams.get(csid);
    if (stream === undefined) {
      // Type 1 carries length and type, enough to start a chunk stream; some encoders begin with it.
      if (fmt >= 2) throw this.error('malformed-chunk', `chunk stream ${csid} starts with a type-${fmt} header: its message length is unknown`);
      if (this.streams.size >= this.limits.maxChunkStreams) {
        throw this.error('chunk-stream-limit', `more than ${this.limits.maxChunkStreams} chunk streams on one connection`);
      }
      stream = { type: 0, streamId: 0, length: 0, timestamp: 0, timestampField: 0, extended: false, buffer: null, received: 0 };
      this.streams.set(csid, stream);
    }
    const midMessage = stream.buffer !== null && stream.received > 0;
    if (fmt !== 3 && midMessage) {
      throw this.error('malformed-chunk', `new message header on chunk stream ${csid} while its message is at ${stream.received} of ${stream.length} bytes`);
    }

    let field = 0;
    let length = stream.length;
    let type = stream.type;
    let streamId = stream.streamId;
    if (fmt <= 2) field = data.readUIntBE(p, 3);
    if (fmt <= 1) {
      length = data.readUIntBE(p + 3, 3);
      type = data[p + 6]!;
    }
    if (fmt === 0) streamId = data.readUInt32LE(p + 7);
    p += messageHeader;
    const extended = fmt === 3 ? stream.extended : field === EXTENDED;
    if (extended) {
      if (data.length - p < 4) return 0;
      field = data.readUInt32BE(p);
      p += 4;
    }

    if (fmt === 3 && midMessage) {
      // A continuation: nothing changes but the position in the message.
    } else {
      if (length > this.limits.maxMessageSize) {
        throw this.error('message-too-large', `message of ${length} bytes declared on chunk stream ${csid} exceeds the limit of ${this.limits.maxMessageSize} (rtmpMaxMessageSize)`);
      }
      if (fmt === 0) stream.timestamp = field;
      else if (fmt === 3) stream.timestamp = (stream.timestamp + stream.timestampField) >>> 0;
      else stream.timestamp = (stream.timestamp + field) >>> 0;
      if (fmt !== 3) {
        stream.timestampField = field;
        stream.extended = extended;
      }
      stream.length = length;
      stream.type = type;
      stream.streamId = streamId;
      stream.received = 0;
    }
    this.current = stream;
    this.currentCsid = csid;
    this.chunkLeft = Math.min(this.chunkSizeIn, stream.length - stream.received);
    if (this.chunkLeft === 0) this.endChunk();
    return p - off;
  }

  /** Copies payload bytes into the message's buffer, growing it within the limits. */
  private append(stream: ChunkStream, data: Buffer, off: number, n: number): void {
    const needed = stream.received + n;
    let buffer = stream.buffer;
    const capacity = buffer?.length ?? 0;
    if (needed > capacity) {
      const grown = this.limits.allocateDeclared === true ? stream.length : Math.min(stream.length, Math.max(capacity * 2, needed, MIN_BUFFER));
      if (this.buffered - capacity + grown > this.limits.maxBufferedBytes) {
        throw this.error('buffered-bytes-limit', `more than ${this.limits.maxBufferedBytes} bytes held in unfinished messages`);
      }
      // allocUnsafeSlow: its own memory, so a kept frame never pins a shared pool slab. Every byte is written before it is handed out.
      const next = Buffer.allocUnsafeSlow(grown);
      if (buffer !== null) buffer.copy(next, 0, 0, stream.received);
      this.buffered += grown - capacity;
      stream.buffer = buffer = next;
    }
    data.copy(buffer!, stream.received, off, off + n);
    stream.received = needed;
  }

  private endChunk(): void {
    const stream = this.current!;
    this.current = null;
    if (stream.received < stream.length) return;
    const payload = stream.buffer ?? Buffer.alloc(0);
    this.buffered -= payload.length;
    stream.buffer = null;
    stream.received = 0;
    const message: RtmpMessage = { csid: this.currentCsid, type: stream.type, streamId: stream.streamId, timestamp: stream.timestamp, payload };
    this.control(message);
    this.onMessage(message);
  }

  private control(message: RtmpMessage): void {
    if (message.streamId !== 0 || (message.type !== MessageType.setChunkSize && message.type !== MessageType.abort)) return;
    if (message.payload.length < 4) throw this.error('malformed-chunk', `protocol control message ${message.type} of ${message.payload.length} bytes, need 4`);
    const value = message.payload.readUInt32BE(0);
    if (message.type === MessageType.setChunkSize) {
      if (value === 0 || value > MAX_CHUNK_SIZE) throw this.error('chunk-size', `Set Chunk Size ${value} is outside 1..${MAX_CHUNK_SIZE}`);
      // Any size is harmless here: buffers follow arrived bytes, not the chunk size.
      this.chunkSizeIn = value;
      return;
    }
    const aborted = this.streams.get(value);
    if (aborted?.buffer != null) {
      this.buffered -= aborted.buffer.length;
      aborted.buffer = null;
      aborted.received = 0;
    }
  }

  private error(code: ConstructorParameters<typeof RtmpProtocolError>[0], message: string): RtmpProtocolError {
    return new RtmpProtocolError(code, message);
  }

  /** Drops every unfinished message (the connection is over). */
  release(): void {
    for (const stream of this.streams.values()) stream.buffer = null;
    this.buffered = 0;
    this.pending = Buffer.alloc(0);
  }
}
