/**
 * The stream model every part of Polycast speaks: ingest produces these,
 * transports consume them. Nothing here knows about RTMP, FLV or any output.
 *
 * Timestamps are integer microseconds on the publisher's clock (FLV gives
 * milliseconds; µs is what WebCodecs wants, and it keeps one unit everywhere).
 */

interface VideoTrackBase {
  readonly kind: 'video';
  /** WebCodecs / RFC 6381 codec string, e.g. `avc1.64001f`, `hvc1.1.6.L93.B0`, `av01.0.08M.08`, `vp09.00.31.08`. */
  readonly codecString: string;
  /** Coded picture size after cropping (what a decoder outputs). */
  readonly width: number;
  readonly height: number;
}

/** Frames: length-prefixed NAL units, as FLV and MP4 carry them. */
interface NalUnitTrack extends VideoTrackBase {
  /** Raw SPS and PPS NAL units (no start code, no length prefix). */
  readonly sps: readonly Uint8Array[];
  readonly pps: readonly Uint8Array[];
  /** Bytes in each NAL length prefix of this track's frames (1, 2 or 4). */
  readonly nalLengthSize: number;
}

export interface H264TrackInfo extends NalUnitTrack {
  readonly codec: 'h264';
  /** AVCDecoderConfigurationRecord (ISO 14496-15 §5.3.3), as carried by FLV and `avcC`. */
  readonly avcC: Uint8Array;
}

export interface H265TrackInfo extends NalUnitTrack {
  readonly codec: 'h265';
  /** HEVCDecoderConfigurationRecord (ISO 14496-15 §8.3.3), as carried by enhanced FLV and `hvcC`. */
  readonly hvcC: Uint8Array;
  /** Raw VPS NAL units, which HEVC needs beside its SPS and PPS. */
  readonly vps: readonly Uint8Array[];
}

/** Frames: low-overhead OBUs of one temporal unit, as in MP4 samples (no temporal delimiter). */
export interface Av1TrackInfo extends VideoTrackBase {
  readonly codec: 'av1';
  /** AV1CodecConfigurationRecord (AV1-ISOBMFF §2.3.3), with the sequence header OBU as configOBUs. */
  readonly av1C: Uint8Array;
}

/** Frames: one VP9 frame (or superframe) each. */
export interface Vp9TrackInfo extends VideoTrackBase {
  readonly codec: 'vp9';
  /** VPCodecConfigurationRecord (VP codec ISO binding §2.2), without the FullBox version and flags. */
  readonly vpcC: Uint8Array;
}

export type VideoTrackInfo = H264TrackInfo | H265TrackInfo | Av1TrackInfo | Vp9TrackInfo;
export type VideoCodec = VideoTrackInfo['codec'];

/** Frames: one raw AAC frame each. */
export interface AacTrackInfo {
  readonly kind: 'audio';
  readonly codec: 'aac';
  /** e.g. `mp4a.40.2` */
  readonly codecString: string;
  readonly sampleRate: number;
  readonly channels: number;
  /** Samples per frame: 1024 for AAC-LC (960 variants are not produced by RTMP encoders). */
  readonly samplesPerFrame: number;
  /** AudioSpecificConfig (ISO 14496-3 §1.6.2.1). */
  readonly asc: Uint8Array;
}

/** Frames: one Opus packet each (RFC 6716), whose duration its TOC byte gives. */
export interface OpusTrackInfo {
  readonly kind: 'audio';
  readonly codec: 'opus';
  readonly codecString: 'opus';
  /** Opus always decodes at 48 kHz; the encoder's input rate is in `inputSampleRate`. */
  readonly sampleRate: 48000;
  readonly inputSampleRate: number;
  readonly channels: number;
  /** Samples (at 48 kHz) to discard at the start of decoding. */
  readonly preSkip: number;
  /** Q7.8 dB. */
  readonly outputGain: number;
  readonly channelMappingFamily: number;
  /** Identification header (RFC 7845 §5.1): the WebCodecs `description`. */
  readonly opusHead: Uint8Array;
  /** OpusSpecificBox payload (Opus in ISOBMFF §4.3.2), big-endian, without the box header. */
  readonly dOps: Uint8Array;
}

export type AudioTrackInfo = AacTrackInfo | OpusTrackInfo;
export type AudioCodec = AudioTrackInfo['codec'];

export type TrackInfo = VideoTrackInfo | AudioTrackInfo;

/** The decoder configuration bytes that identify a track's setup: a change means a new configuration. */
export function decoderConfigOf(track: TrackInfo): Uint8Array {
  switch (track.codec) {
    case 'h264':
      return track.avcC;
    case 'h265':
      return track.hvcC;
    case 'av1':
      return track.av1C;
    case 'vp9':
      return track.vpcC;
    case 'aac':
      return track.asc;
    case 'opus':
      return track.opusHead;
  }
}

export type TrackKind = TrackInfo['kind'];

/**
 * One access unit. `data` is owned by the frame and never mutated once
 * published: many readers hold the same object.
 */
export interface Frame {
  readonly kind: TrackKind;
  /** Decode timestamp, µs. */
  readonly dts: number;
  /** Presentation timestamp, µs (dts + signed composition offset). */
  readonly pts: number;
  /** True for an IDR access unit (video) and for every audio frame. */
  readonly key: boolean;
  /** The coded frame in its track's format: see the `*TrackInfo` of its codec. */
  readonly data: Uint8Array;
  /** Wall-clock time (ms since epoch, fractional) when the frame reached the server. */
  readonly receivedAt: number;
  /** Serialization cache, keyed by transport: see `serializeOnce`. */
  memo?: Map<string, unknown>;
}

/** Byte arrays `serializeOnce` made: shared by every reader, and never changed after. */
const serialized = new WeakSet<Uint8Array>();

/**
 * Whether `bytes` came from `serializeOnce`, so a sink may keep a reference
 * to them instead of a copy (they are never written to again).
 */
export function isSerializedFrame(bytes: Uint8Array): boolean {
  return serialized.has(bytes);
}

/**
 * Serialize a frame for one transport once, however many readers send it.
 * The key names the wire format (`ws-nal`, `fmp4:1`, ...). What it returns is
 * shared: callers must not modify it.
 */
export function serializeOnce<T>(frame: Frame, key: string, make: (f: Frame) => T): T {
  let memo = frame.memo;
  if (memo === undefined) {
    memo = new Map();
    frame.memo = memo;
  }
  let value = memo.get(key) as T | undefined;
  if (value === undefined) {
    value = make(frame);
    memo.set(key, value);
    if (value instanceof Uint8Array) serialized.add(value);
  }
  return value;
}

/** What a reader is told about the stream before frames, and again on any change. */
export interface StreamDescription {
  readonly path: string;
  readonly video?: VideoTrackInfo;
  readonly audio?: AudioTrackInfo;
}
