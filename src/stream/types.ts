/**
 * The stream model every part of Polycast speaks: ingest produces these,
 * transports consume them. Nothing here knows about RTMP, FLV or any output.
 *
 * Timestamps are integer microseconds on the publisher's clock (FLV gives
 * milliseconds; µs is what WebCodecs wants, and it keeps one unit everywhere).
 */

export interface H264TrackInfo {
  readonly kind: 'video';
  readonly codec: 'h264';
  /** RFC 6381 codec string, e.g. `avc1.64001f`. */
  readonly codecString: string;
  readonly width: number;
  readonly height: number;
  /** AVCDecoderConfigurationRecord (ISO 14496-15 §5.3.3), as carried by FLV and `avcC`. */
  readonly avcC: Uint8Array;
  /** Raw SPS and PPS NAL units (no start code, no length prefix). */
  readonly sps: readonly Uint8Array[];
  readonly pps: readonly Uint8Array[];
  /** Bytes in each NAL length prefix of this track's frames (1, 2 or 4). */
  readonly nalLengthSize: number;
}

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

export type TrackInfo = H264TrackInfo | AacTrackInfo;

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
  /** Video: AVCC (length-prefixed NAL units). Audio: one raw AAC frame. */
  readonly data: Uint8Array;
  /** Wall-clock time (ms since epoch, fractional) when the frame reached the server. */
  readonly receivedAt: number;
  /** Serialization cache, keyed by transport: see `serializeOnce`. */
  memo?: Map<string, unknown>;
}

/**
 * Serialize a frame for one transport once, however many readers send it.
 * The key names the wire format (`ws-nal`, `fmp4:1`, ...).
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
  }
  return value;
}

/** What a reader is told about the stream before frames, and again on any change. */
export interface StreamDescription {
  readonly path: string;
  readonly video?: H264TrackInfo;
  readonly audio?: AacTrackInfo;
}
