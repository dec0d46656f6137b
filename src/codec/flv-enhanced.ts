/**
 * Enhanced RTMP (veovera enhanced-rtmp v1 and v2): the ExVideoTagHeader and
 * ExAudioTagHeader that replace FLV's CodecID/SoundFormat with a FourCC,
 * including ModEx prefixes and v2 multitrack. Called by `flv.ts` when a tag
 * sets IsExHeader (video) or SoundFormat 9 (audio); results follow its
 * error policy (values, never exceptions, for a complete tag).
 */
import type { FlvCodecLabel, FlvTag } from './flv.js';

/** Video FourCCs the stream model carries. */
export type FlvVideoCodec = 'avc1' | 'hvc1' | 'av01' | 'vp09';
/** Audio FourCCs the stream model carries (`mp4a` is also legacy SoundFormat 10). */
export type FlvAudioCodec = 'mp4a' | 'Opus';

const VIDEO_NAMES: Readonly<Record<string, string>> = { avc1: 'H.264', hvc1: 'HEVC', av01: 'AV1', vp09: 'VP9', vp08: 'VP8' };
const AUDIO_NAMES: Readonly<Record<string, string>> = { mp4a: 'AAC', Opus: 'Opus', fLaC: 'FLAC', 'ac-3': 'AC-3', 'ec-3': 'E-AC-3', '.mp3': 'MP3' };
const CARRIED_VIDEO: ReadonlySet<string> = new Set<FlvVideoCodec>(['avc1', 'hvc1', 'av01', 'vp09']);
const CARRIED_AUDIO: ReadonlySet<string> = new Set<FlvAudioCodec>(['mp4a', 'Opus']);

const VideoPacket = { sequenceStart: 0, codedFrames: 1, sequenceEnd: 2, codedFramesX: 3, metadata: 4, mpeg2tsSequenceStart: 5, multitrack: 6, modEx: 7 } as const;
const AudioPacket = { sequenceStart: 0, codedFrames: 1, sequenceEnd: 2, multichannelConfig: 4, multitrack: 5, modEx: 7 } as const;
const Multitrack = { oneTrack: 0, manyTracks: 1, manyTracksManyCodecs: 2 } as const;
const COMMAND_FRAME = 5;

class ExHeaderError extends Error {}

class Cursor {
  pos = 1;
  constructor(private readonly b: Uint8Array) {}
  get left(): number {
    return this.b.length - this.pos;
  }
  private need(n: number, what: string): void {
    if (n > this.left) throw new ExHeaderError(`enhanced-RTMP tag truncated in ${what}: need ${n} byte(s) at offset ${this.pos}, ${this.left} left`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b[this.pos++]!;
  }
  u16(what: string): number {
    return (this.u8(what) << 8) | this.u8(what);
  }
  u24(what: string): number {
    return (this.u16(what) << 8) | this.u8(what);
  }
  fourCC(): string {
    this.need(4, 'FourCC');
    const s = String.fromCharCode(...this.b.subarray(this.pos, this.pos + 4));
    this.pos += 4;
    return s;
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** A FourCC for a log line: as text when printable, as hex otherwise. */
function printable(code: string): string {
  return /^[\x20-\x7e]{4}$/.test(code) ? code : `0x${[...code].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('')}`;
}

/**
 * ModEx (v2): size-prefixed extension data before the real packet type.
 * The one defined kind, TimestampOffsetNano, refines the millisecond
 * timestamp by under a millisecond, which the µs stream model can do
 * without. Each round consumes at least two bytes, so the loop ends.
 */
function skipModEx(c: Cursor, packetType: number): number {
  while (packetType === VideoPacket.modEx) {
    let size = c.u8('ModEx size') + 1;
    if (size === 256) size = c.u16('ModEx size') + 1;
    c.take(size, 'ModEx data');
    packetType = c.u8('ModEx type') & 0x0f;
  }
  return packetType;
}

/** The byte after a Multitrack packet type: the multitrack kind, then the real packet type, which may not nest. */
function readMultitrackHeader(c: Cursor, kind: 'video' | 'audio', multitrackPacket: number): [multitrack: number, packetType: number] {
  const b = c.u8('multitrack header');
  const packetType = b & 0x0f;
  if (packetType === multitrackPacket || packetType === VideoPacket.modEx) {
    throw new ExHeaderError(`enhanced-RTMP multitrack ${kind} wraps packet type ${packetType}`);
  }
  return [b >> 4, packetType];
}

interface TrackPayload {
  readonly fourCC: string;
  readonly payload: Uint8Array;
  /** Multitrack only: the chosen track's id and the ids left out. */
  readonly track?: { readonly id: number; readonly ignored: readonly number[] };
}

/**
 * The FourCC and payload of a tag, or of its default track when it is a
 * multitrack tag: track 0 when present, else the first. Every track's
 * declared size is checked against what the tag holds.
 */
function readTracks(c: Cursor, multitrack: number | undefined): TrackPayload {
  if (multitrack === undefined) {
    const fourCC = c.fourCC();
    return { fourCC, payload: c.take(c.left, 'payload') };
  }
  if (multitrack > Multitrack.manyTracksManyCodecs) throw new ExHeaderError(`reserved multitrack type ${multitrack}`);
  const sharedFourCC = multitrack === Multitrack.manyTracksManyCodecs ? undefined : c.fourCC();
  const tracks: { id: number; fourCC: string; payload: Uint8Array }[] = [];
  do {
    const fourCC = sharedFourCC ?? c.fourCC();
    const id = c.u8('track id');
    const size = multitrack === Multitrack.oneTrack ? c.left : c.u24('track size');
    if (size > c.left) throw new ExHeaderError(`multitrack track ${id} declares ${size} byte(s), the tag holds ${c.left}`);
    tracks.push({ id, fourCC, payload: c.take(size, 'track payload') });
  } while (multitrack !== Multitrack.oneTrack && c.left > 0);
  const chosen = tracks.find((t) => t.id === 0) ?? tracks[0]!;
  return { fourCC: chosen.fourCC, payload: chosen.payload, track: { id: chosen.id, ignored: tracks.filter((t) => t !== chosen).map((t) => t.id) } };
}

function label(kind: 'video' | 'audio', fourCC: string): FlvCodecLabel {
  const names = kind === 'video' ? VIDEO_NAMES : AUDIO_NAMES;
  return { kind, label: `${kind} codec ${names[fourCC] ?? 'unknown'} (FourCC ${printable(fourCC)})` };
}

const withTrack = (t: TrackPayload) => (t.track === undefined ? {} : { track: t.track });

/** An enhanced video tag body (IsExHeader set). */
export function parseExVideo(timestamp: number, body: Uint8Array): FlvTag {
  const tagType = 9;
  const c = new Cursor(body);
  try {
    const frameType = (body[0]! >> 4) & 0x07;
    let packetType = skipModEx(c, body[0]! & 0x0f);
    if (frameType === COMMAND_FRAME && packetType !== VideoPacket.metadata) {
      return { type: 'unsupported', timestamp, tagType, reason: 'enhanced-RTMP video command frame' };
    }
    let multitrack: number | undefined;
    if (packetType === VideoPacket.multitrack) [multitrack, packetType] = readMultitrackHeader(c, 'video', VideoPacket.multitrack);
    const t = readTracks(c, multitrack);
    if (!CARRIED_VIDEO.has(t.fourCC)) {
      const codec = label('video', t.fourCC);
      return { type: 'unsupported', timestamp, tagType, reason: codec.label, codec };
    }
    const codec = t.fourCC as FlvVideoCodec;
    const key = frameType === 1 || frameType === 4;
    switch (packetType) {
      case VideoPacket.sequenceStart:
        return { type: 'video-config', timestamp, codec, config: t.payload, ...withTrack(t) };
      case VideoPacket.codedFrames: {
        // Only the NAL-unit codecs carry a composition time offset; AV1 and VP9 have no B-frame reordering in FLV.
        if (codec !== 'avc1' && codec !== 'hvc1') return { type: 'video', timestamp, compositionTime: 0, key, codec, data: t.payload, ...withTrack(t) };
        if (t.payload.length < 3) return { type: 'invalid', timestamp, tagType, reason: `enhanced-RTMP ${codec} coded frame truncated: ${t.payload.length} byte(s), need 3` };
        const cto = ((t.payload[0]! << 24) | (t.payload[1]! << 16) | (t.payload[2]! << 8)) >> 8;
        return { type: 'video', timestamp, compositionTime: cto, key, codec, data: t.payload.subarray(3), ...withTrack(t) };
      }
      case VideoPacket.codedFramesX:
        return { type: 'video', timestamp, compositionTime: 0, key, codec, data: t.payload, ...withTrack(t) };
      case VideoPacket.sequenceEnd:
        return { type: 'video-end', timestamp };
      case VideoPacket.metadata:
        return { type: 'unsupported', timestamp, tagType, reason: 'enhanced-RTMP video metadata (colorInfo) is ignored' };
      case VideoPacket.mpeg2tsSequenceStart:
        return { type: 'unsupported', timestamp, tagType, reason: 'enhanced-RTMP MPEG2TSSequenceStart is ignored: Polycast configures AV1 from the av1C of a SequenceStart' };
      default:
        return { type: 'invalid', timestamp, tagType, reason: `enhanced-RTMP reserved VideoPacketType ${packetType}` };
    }
  } catch (err) {
    if (err instanceof ExHeaderError) return { type: 'invalid', timestamp, tagType, reason: err.message };
    throw err;
  }
}

/** An enhanced audio tag body (SoundFormat 9). */
export function parseExAudio(timestamp: number, body: Uint8Array): FlvTag {
  const tagType = 8;
  const c = new Cursor(body);
  try {
    let packetType = skipModEx(c, body[0]! & 0x0f);
    let multitrack: number | undefined;
    if (packetType === AudioPacket.multitrack) [multitrack, packetType] = readMultitrackHeader(c, 'audio', AudioPacket.multitrack);
    const t = readTracks(c, multitrack);
    if (!CARRIED_AUDIO.has(t.fourCC)) {
      const codec = label('audio', t.fourCC);
      return { type: 'unsupported', timestamp, tagType, reason: codec.label, codec };
    }
    const codec = t.fourCC as FlvAudioCodec;
    switch (packetType) {
      case AudioPacket.sequenceStart:
        return { type: 'audio-config', timestamp, codec, config: t.payload, ...withTrack(t) };
      case AudioPacket.codedFrames:
        return { type: 'audio', timestamp, codec, data: t.payload, ...withTrack(t) };
      case AudioPacket.sequenceEnd:
        return { type: 'unsupported', timestamp, tagType, reason: 'enhanced-RTMP audio sequence end is ignored' };
      case AudioPacket.multichannelConfig:
        return { type: 'unsupported', timestamp, tagType, reason: 'enhanced-RTMP multichannel config is ignored: the decoder configuration gives the channel layout' };
      default:
        return { type: 'invalid', timestamp, tagType, reason: `enhanced-RTMP reserved AudioPacketType ${packetType}` };
    }
  } catch (err) {
    if (err instanceof ExHeaderError) return { type: 'invalid', timestamp, tagType, reason: err.message };
    throw err;
  }
}
