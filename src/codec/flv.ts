/**
 * FLV tags (Adobe FLV spec v10.1, annex E) plus the "enhanced RTMP"
 * extended headers, and a streaming demuxer for whole FLV files/streams.
 *
 * RTMP audio/video/data messages are FLV tag bodies, so `parseFlvPayload`
 * serves the RTMP ingest and `parseFlvTag`/`FlvDemuxer` serve FLV byte streams.
 *
 * Error policy: only *framing* throws (`FlvError`): a buffer shorter than
 * its tag header says, a bad file signature, an absurd tag size. Everything
 * about a complete tag's content is returned as a value: `unsupported` for
 * codecs and packet kinds Polycast does not handle, `invalid` for a payload
 * too short or malformed for its own headers. One bad tag from a publisher
 * then never desynchronizes a stream.
 *
 * Returned `data`/`config` are views into the input (no copy): copy
 * them before keeping them past the life of the input buffer.
 */

import { parseExAudio, parseExVideo, type FlvAudioCodec, type FlvVideoCodec } from './flv-enhanced.js';

export type { FlvAudioCodec, FlvVideoCodec } from './flv-enhanced.js';

export class FlvError extends Error {
  override readonly name = 'FlvError';
}

export const FLV_TAG_HEADER_SIZE = 11;
export const FLV_HEADER_SIZE = 9;
/** Tags above this are treated as corruption rather than buffered. */
export const FLV_MAX_TAG_SIZE = 16 * 1024 * 1024;

export const FlvTagType = { audio: 8, video: 9, script: 18 } as const;

export type ScriptValue = number | string | boolean;

/** A codec Polycast does not carry, for the publish's codec gate. */
export interface FlvCodecLabel {
  readonly kind: 'video' | 'audio';
  /** e.g. `video codec VP8 (FourCC vp08)`, `audio codec MP3 (FLV sound format 2)`. */
  readonly label: string;
}

/** Multitrack (enhanced RTMP v2) tags: the track taken and those left out of the same tag. */
export interface FlvTrackRef {
  readonly id: number;
  readonly ignored: readonly number[];
}

export type FlvTag =
  | { readonly type: 'video-config'; readonly timestamp: number; readonly codec: FlvVideoCodec; readonly config: Uint8Array; readonly track?: FlvTrackRef }
  | {
      readonly type: 'video';
      /** Decode timestamp, ms. */
      readonly timestamp: number;
      /** Signed presentation offset, ms: pts = timestamp + compositionTime. */
      readonly compositionTime: number;
      readonly key: boolean;
      readonly codec: FlvVideoCodec;
      /** Length-prefixed NAL units (avc1, hvc1), OBUs of a temporal unit (av01), a frame (vp09). */
      readonly data: Uint8Array;
      readonly track?: FlvTrackRef;
    }
  | { readonly type: 'video-end'; readonly timestamp: number }
  | { readonly type: 'audio-config'; readonly timestamp: number; readonly codec: FlvAudioCodec; readonly config: Uint8Array; readonly track?: FlvTrackRef }
  | { readonly type: 'audio'; readonly timestamp: number; readonly codec: FlvAudioCodec; readonly data: Uint8Array; readonly track?: FlvTrackRef }
  | {
      readonly type: 'script';
      readonly timestamp: number;
      /** First AMF0 string of the tag: `onMetaData`, `@setDataFrame`, ... */
      readonly name?: string;
      /** Number/string/boolean properties of the first object or ECMA array. */
      readonly data: Readonly<Record<string, ScriptValue>>;
    }
  | { readonly type: 'unsupported'; readonly timestamp: number; readonly tagType: number; readonly reason: string; readonly codec?: FlvCodecLabel }
  | { readonly type: 'invalid'; readonly timestamp: number; readonly tagType: number; readonly reason: string };

/** FLV and RTMP timestamps are integer milliseconds; the stream model uses µs. */
export function flvTimestampToUs(ms: number): number {
  return ms * 1000;
}

/** Decode and presentation timestamps (µs) of a video tag. */
export function flvVideoTimesUs(tag: { readonly timestamp: number; readonly compositionTime: number }): {
  dts: number;
  pts: number;
} {
  return { dts: tag.timestamp * 1000, pts: (tag.timestamp + tag.compositionTime) * 1000 };
}

const u24 = (b: Uint8Array, p: number) => (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
const si24 = (b: Uint8Array, p: number) => (u24(b, p) << 8) >> 8;
const u32 = (b: Uint8Array, p: number) => b[p]! * 0x1000000 + u24(b, p + 1);

/** Total size (header + body, without PreviousTagSize) announced by an 11-byte tag header. */
export function flvTagSize(header: Uint8Array): number {
  if (header.length < FLV_TAG_HEADER_SIZE) throw new FlvError(`FLV tag header truncated: ${header.length} of 11 bytes`);
  return FLV_TAG_HEADER_SIZE + u24(header, 1);
}

/**
 * Parse one FLV tag: `tag` starts at the 11-byte tag header; anything after
 * the tag body (the PreviousTagSize, or more) is ignored. Throws `FlvError`
 * if `tag` is shorter than the header says; see the module comment for the rest.
 */
export function parseFlvTag(tag: Uint8Array): FlvTag {
  const size = flvTagSize(tag);
  if (tag.length < size) {
    throw new FlvError(`FLV tag truncated: header announces ${size - FLV_TAG_HEADER_SIZE} body byte(s), only ${tag.length - FLV_TAG_HEADER_SIZE} present`);
  }
  // The spec calls timestamp + extension an SI32, but RTMP timestamps are
  // unsigned 32-bit and wrap, so it is returned unsigned for the caller to unwrap.
  const timestamp = tag[7]! * 0x1000000 + u24(tag, 4);
  const body = tag.subarray(FLV_TAG_HEADER_SIZE, size);
  if (tag[0]! & 0x20) {
    return { type: 'unsupported', timestamp, tagType: tag[0]! & 0x1f, reason: 'encrypted FLV tag (Filter bit set)' };
  }
  return parseFlvPayload(tag[0]! & 0x1f, timestamp, body);
}

/** Parse a tag body (= an RTMP audio/video/data message) of type 8, 9 or 18. */
export function parseFlvPayload(tagType: number, timestamp: number, body: Uint8Array): FlvTag {
  switch (tagType) {
    case FlvTagType.video:
      return parseVideo(timestamp, body);
    case FlvTagType.audio:
      return parseAudio(timestamp, body);
    case FlvTagType.script:
      return parseScript(timestamp, body);
    default:
      return { type: 'unsupported', timestamp, tagType, reason: `unknown FLV tag type ${tagType}` };
  }
}

// ---------------------------------------------------------------------------
// Video

const LEGACY_VIDEO: Readonly<Record<number, string>> = {
  1: 'JPEG',
  2: 'Sorenson H.263',
  3: 'Screen video',
  4: 'On2 VP6',
  5: 'On2 VP6 with alpha',
  6: 'Screen video v2',
  7: 'H.264',
  // Pre-standard Chinese CDN extensions, seen in the wild: enhanced RTMP replaced them.
  12: 'HEVC',
  13: 'AV1',
};

const COMMAND_FRAME = 5;

function parseVideo(timestamp: number, body: Uint8Array): FlvTag {
  const tagType = FlvTagType.video;
  const invalid = (reason: string): FlvTag => ({ type: 'invalid', timestamp, tagType, reason });
  if (body.length < 1) return invalid('empty video tag');
  const b0 = body[0]!;
  if (b0 & 0x80) return parseExVideo(timestamp, body);

  const frameType = b0 >> 4;
  const codecId = b0 & 0x0f;
  if (codecId !== 7) {
    const codec: FlvCodecLabel = { kind: 'video', label: `video codec ${LEGACY_VIDEO[codecId] ?? 'unknown'} (FLV codec id ${codecId})` };
    return { type: 'unsupported', timestamp, tagType, reason: codec.label, codec };
  }
  if (frameType === COMMAND_FRAME) return { type: 'unsupported', timestamp, tagType, reason: 'video info/command frame' };
  if (body.length < 5) return invalid(`AVC video tag truncated: ${body.length} byte(s), need 5`);
  switch (body[1]) {
    case 0:
      return { type: 'video-config', timestamp, codec: 'avc1', config: body.subarray(5) };
    case 1:
      return {
        type: 'video',
        timestamp,
        compositionTime: si24(body, 2),
        key: frameType === 1 || frameType === 4,
        codec: 'avc1',
        data: body.subarray(5),
      };
    case 2:
      return { type: 'video-end', timestamp };
    default:
      return invalid(`reserved AVCPacketType ${body[1]}`);
  }
}

// ---------------------------------------------------------------------------
// Audio

const LEGACY_AUDIO: Readonly<Record<number, string>> = {
  0: 'Linear PCM',
  1: 'ADPCM',
  2: 'MP3',
  3: 'Linear PCM',
  4: 'Nellymoser',
  5: 'Nellymoser',
  6: 'Nellymoser',
  7: 'G.711 A-law',
  8: 'G.711 mu-law',
  10: 'AAC',
  11: 'Speex',
  14: 'MP3',
  15: 'device-specific audio',
};

const AUDIO_EX_HEADER = 9;

function parseAudio(timestamp: number, body: Uint8Array): FlvTag {
  const tagType = FlvTagType.audio;
  const invalid = (reason: string): FlvTag => ({ type: 'invalid', timestamp, tagType, reason });
  if (body.length < 1) return invalid('empty audio tag');
  const format = body[0]! >> 4;
  if (format === AUDIO_EX_HEADER) return parseExAudio(timestamp, body);
  if (format !== 10) {
    const codec: FlvCodecLabel = { kind: 'audio', label: `audio codec ${LEGACY_AUDIO[format] ?? 'unknown'} (FLV sound format ${format})` };
    return { type: 'unsupported', timestamp, tagType, reason: codec.label, codec };
  }
  if (body.length < 2) return invalid('AAC audio tag truncated: missing AACPacketType');
  switch (body[1]) {
    case 0:
      return { type: 'audio-config', timestamp, codec: 'mp4a', config: body.subarray(2) };
    case 1:
      return { type: 'audio', timestamp, codec: 'mp4a', data: body.subarray(2) };
    default:
      return invalid(`reserved AACPacketType ${body[1]}`);
  }
}

// ---------------------------------------------------------------------------
// Script data (AMF0), decoded only as far as metadata needs

class AmfError extends Error {}

const AMF_MAX_DEPTH = 32;
const textDecoder = new TextDecoder('utf-8');

class AmfReader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.b.length;
  }

  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new AmfError(`AMF0 data truncated at offset ${this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = (this.b[this.pos]! << 8) | this.b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = u32(this.b, this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, 8).getFloat64(0);
    this.pos += 8;
    return v;
  }

  utf8(len: number): string {
    this.need(len);
    const s = textDecoder.decode(this.b.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }

  skip(len: number): void {
    this.need(len);
    this.pos += len;
  }

  /** True (and consumed) if the next three bytes are the empty key + object-end marker. */
  objectEnd(): boolean {
    if (this.pos + 3 <= this.b.length && this.b[this.pos] === 0 && this.b[this.pos + 1] === 0 && this.b[this.pos + 2] === 9) {
      this.pos += 3;
      return true;
    }
    return false;
  }
}

type AmfValue = ScriptValue | Record<string, ScriptValue> | null;

/**
 * Read one AMF0 value. Objects come back flattened to their scalar
 * properties (nested ones skipped); other non-scalars come back as null.
 */
function readAmf(r: AmfReader, depth: number): AmfValue {
  if (depth > AMF_MAX_DEPTH) throw new AmfError('AMF0 nesting too deep');
  const marker = r.u8();
  switch (marker) {
    case 0x00:
      return r.f64();
    case 0x01:
      return r.u8() !== 0;
    case 0x02:
      return r.utf8(r.u16());
    case 0x03: // object
      return readProperties(r, depth, false);
    case 0x05: // null
    case 0x06: // undefined
    case 0x0d: // unsupported
      return null;
    case 0x07: // reference
      r.skip(2);
      return null;
    case 0x08: // ECMA array: the count is only a hint, the end marker is what counts
      r.skip(4);
      return readProperties(r, depth, true);
    case 0x0a: {
      const count = r.u32();
      for (let i = 0; i < count; i++) readAmf(r, depth + 1);
      return null;
    }
    case 0x0b: // date: ms + timezone
      r.skip(10);
      return null;
    case 0x0c: // long string
      return r.utf8(r.u32());
    case 0x0f: // XML document
      r.skip(r.u32());
      return null;
    case 0x10: // typed object
      r.skip(r.u16());
      return readProperties(r, depth, false);
    default:
      throw new AmfError(`unsupported AMF0 marker 0x${marker.toString(16).padStart(2, '0')}`);
  }
}

function readProperties(r: AmfReader, depth: number, endMayBeMissing: boolean): Record<string, ScriptValue> {
  const props: Record<string, ScriptValue> = Object.create(null) as Record<string, ScriptValue>;
  for (;;) {
    if (r.objectEnd()) return props;
    // Some muxers end an ECMA array at the end of the tag without the marker.
    if (endMayBeMissing && r.done) return props;
    const key = r.utf8(r.u16());
    const value = readAmf(r, depth + 1);
    if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') props[key] = value;
  }
}

function parseScript(timestamp: number, body: Uint8Array): FlvTag {
  const r = new AmfReader(body);
  let name: string | undefined;
  let data: Record<string, ScriptValue> | undefined;
  try {
    while (!r.done && (name === undefined || data === undefined)) {
      const value = readAmf(r, 0);
      if (typeof value === 'string' && name === undefined) name = value;
      else if (value !== null && typeof value === 'object' && data === undefined) data = value;
    }
  } catch (err) {
    if (err instanceof AmfError) return { type: 'invalid', timestamp, tagType: FlvTagType.script, reason: err.message };
    throw err;
  }
  return name === undefined
    ? { type: 'script', timestamp, data: data ?? {} }
    : { type: 'script', timestamp, name, data: data ?? {} };
}

// ---------------------------------------------------------------------------
// Streaming demuxer

export type FlvTagCallback = (tag: Uint8Array, parsed: FlvTag) => void;

export interface FlvDemuxerOptions {
  /** Largest tag (header + body) accepted before the stream is declared corrupt. Default 16 MiB. */
  readonly maxTagSize?: number;
}

type Phase = 'header' | 'skip' | 'tag-header' | 'tag-body';

const FLV_SIGNATURE = [0x46, 0x4c, 0x56]; // "FLV"

/**
 * Demux an FLV byte stream (file header, PreviousTagSize0, then tags) fed in
 * arbitrary chunks. Each complete tag (11-byte header + body, without its
 * PreviousTagSize) is handed to `onTag` as soon as its last byte arrives.
 *
 * A tag that lies inside one pushed chunk is passed as a view of that chunk
 * (so do not reuse chunk buffers after pushing them); a tag spanning chunks
 * is assembled once into a buffer of its exact size. Memory is bounded by
 * one tag. After a framing error every later `push` throws the same error.
 * An exception from `onTag` propagates out of `push`, and the rest of that
 * chunk is not processed.
 */
export class FlvDemuxer {
  private phase: Phase = 'header';
  private readonly head = new Uint8Array(FLV_TAG_HEADER_SIZE);
  private headFill = 0;
  private body: Uint8Array | null = null;
  private bodyFill = 0;
  private skipLeft = 0;
  private failure: FlvError | null = null;
  private readonly maxTagSize: number;
  private headerFlags: number | undefined;
  private tags = 0;
  private bytes = 0;

  constructor(
    private readonly onTag: FlvTagCallback,
    options: FlvDemuxerOptions = {},
  ) {
    this.maxTagSize = options.maxTagSize ?? FLV_MAX_TAG_SIZE;
  }

  /** FLV header flags once read: bit 2 audio present, bit 0 video present (advisory only). */
  get flags(): number | undefined {
    return this.headerFlags;
  }

  /** Tags emitted so far. */
  get tagCount(): number {
    return this.tags;
  }

  /** Bytes pushed so far. */
  get bytesIn(): number {
    return this.bytes;
  }

  /** Bytes held for an incomplete tag. */
  get bufferedBytes(): number {
    return this.phase === 'tag-body' ? this.bodyFill : this.headFill;
  }

  push(chunk: Uint8Array): void {
    if (this.failure) throw this.failure;
    this.bytes += chunk.length;
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      switch (this.phase) {
        case 'header': {
          while (off < n && this.headFill < FLV_HEADER_SIZE) {
            const b = chunk[off++]!;
            // Check the signature byte by byte, so a wrong stream fails on its first bytes.
            if (this.headFill < 3 && b !== FLV_SIGNATURE[this.headFill]) {
              this.fail(`not an FLV stream: bad signature byte 0x${b.toString(16).padStart(2, '0')} at offset ${this.headFill}`);
            }
            this.head[this.headFill++] = b;
          }
          if (this.headFill < FLV_HEADER_SIZE) break;
          const dataOffset = u32(this.head, 5);
          if (dataOffset < FLV_HEADER_SIZE || dataOffset > this.maxTagSize) {
            this.fail(`FLV header DataOffset ${dataOffset} is out of range`);
          }
          this.headerFlags = this.head[4]!;
          this.headFill = 0;
          this.skipLeft = dataOffset - FLV_HEADER_SIZE + 4; // rest of header, PreviousTagSize0
          this.phase = 'skip';
          break;
        }
        case 'skip': {
          const take = Math.min(this.skipLeft, n - off);
          off += take;
          this.skipLeft -= take;
          if (this.skipLeft === 0) this.phase = 'tag-header';
          break;
        }
        case 'tag-header': {
          if (this.headFill === 0 && n - off >= FLV_TAG_HEADER_SIZE) {
            const size = this.checkedSize(chunk, off);
            if (n - off >= size) {
              // Whole tag in this chunk: hand out a view, no copy.
              const tag = chunk.subarray(off, off + size);
              off += size;
              this.emit(tag);
              break;
            }
            this.startBody(size);
            break;
          }
          const take = Math.min(FLV_TAG_HEADER_SIZE - this.headFill, n - off);
          this.head.set(chunk.subarray(off, off + take), this.headFill);
          this.headFill += take;
          off += take;
          if (this.headFill === FLV_TAG_HEADER_SIZE) {
            this.startBody(this.checkedSize(this.head, 0));
            this.body!.set(this.head, 0);
            this.bodyFill = FLV_TAG_HEADER_SIZE;
            this.headFill = 0;
            if (this.bodyFill === this.body!.length) this.finishBody();
          }
          break;
        }
        case 'tag-body': {
          const body = this.body!;
          const take = Math.min(body.length - this.bodyFill, n - off);
          body.set(chunk.subarray(off, off + take), this.bodyFill);
          this.bodyFill += take;
          off += take;
          if (this.bodyFill === body.length) this.finishBody();
          break;
        }
      }
    }
  }

  /**
   * Declare the end of the stream. Throws `FlvError` if it stops inside a
   * tag; a missing final PreviousTagSize is tolerated.
   */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.phase === 'header' && this.headFill > 0) this.fail('FLV stream ended inside the file header');
    if (this.phase === 'tag-header' && this.headFill > 0) this.fail('FLV stream ended inside a tag header');
    if (this.phase === 'tag-body') this.fail(`FLV stream ended inside a tag (${this.bodyFill} of ${this.body!.length} bytes)`);
  }

  private fail(message: string): never {
    this.failure = new FlvError(message);
    throw this.failure;
  }

  private checkedSize(header: Uint8Array, at: number): number {
    const size = FLV_TAG_HEADER_SIZE + u24(header, at + 1);
    if (size > this.maxTagSize) {
      this.fail(`FLV tag of ${size} bytes exceeds the ${this.maxTagSize}-byte limit (corrupt or desynchronized stream)`);
    }
    return size;
  }

  private startBody(size: number): void {
    this.body = new Uint8Array(size);
    this.bodyFill = 0;
    this.phase = 'tag-body';
  }

  private finishBody(): void {
    const tag = this.body!;
    this.body = null;
    this.bodyFill = 0;
    this.emit(tag);
  }

  private emit(tag: Uint8Array): void {
    this.phase = 'skip';
    this.skipLeft = 4; // PreviousTagSize: informative only, never trusted for framing
    this.tags++;
    this.onTag(tag, parseFlvTag(tag));
  }
}
