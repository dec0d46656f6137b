/**
 * The hang media format on top of moq-lite: a JSON catalog track describing
 * the renditions for WebCodecs, and the "legacy" container (a varint
 * microsecond timestamp in front of each raw codec frame).
 */
import { webCodecsDescription } from '../../src/codec/webcodecs-description.js';
import { serializeOnce, type Frame, type StreamDescription, type TrackInfo } from '../../src/stream/types.js';
import { varintSize, writeVarint } from '../../src/protocols/http3/varint.js';
import { prefixVarint } from './wire.js';

export const CATALOG_TRACK = 'catalog.json';
/** Rendition (and track) names. One rendition per kind: Polycast does not transcode. */
export const VIDEO_TRACK = 'video';
export const AUDIO_TRACK = 'audio';

export interface HangVideoRendition {
  codec: string;
  container: { kind: 'legacy' };
  /** Absent for codecs WebCodecs configures without one (VP9). */
  description?: string;
  codedWidth: number;
  codedHeight: number;
  optimizeForLatency: true;
}

export interface HangAudioRendition {
  codec: string;
  container: { kind: 'legacy' };
  description?: string;
  sampleRate: number;
  numberOfChannels: number;
}

export interface HangCatalog {
  video?: { renditions: Record<string, HangVideoRendition> };
  audio?: { renditions: Record<string, HangAudioRendition> };
}

function describedBy(track: TrackInfo): { description?: string } {
  const description = webCodecsDescription(track);
  return description === undefined ? {} : { description: Buffer.from(description).toString('hex') };
}

/**
 * The catalog for a stream's tracks. Descriptions are the decoder
 * configuration records (avcC, hvcC, av1C, AudioSpecificConfig, OpusHead),
 * so a WebCodecs decoder configures from the catalog alone and frames stay
 * in the stream model's format (length-prefixed NAL units, OBUs, raw
 * frames and packets), which is what WebCodecs takes with those descriptions.
 */
export function buildCatalog(desc: StreamDescription): HangCatalog {
  const catalog: HangCatalog = {};
  if (desc.video !== undefined) {
    catalog.video = {
      renditions: {
        [VIDEO_TRACK]: {
          codec: desc.video.codecString,
          container: { kind: 'legacy' },
          ...describedBy(desc.video),
          codedWidth: desc.video.width,
          codedHeight: desc.video.height,
          optimizeForLatency: true,
        },
      },
    };
  }
  if (desc.audio !== undefined) {
    catalog.audio = {
      renditions: {
        [AUDIO_TRACK]: {
          codec: desc.audio.codecString,
          container: { kind: 'legacy' },
          ...describedBy(desc.audio),
          sampleRate: desc.audio.sampleRate,
          numberOfChannels: desc.audio.channels,
        },
      },
    };
  }
  return catalog;
}

/** The legacy container payload of a frame: presentation time in µs (never negative), then the codec bytes. */
export function legacyPayload(frame: Frame): Uint8Array {
  return prefixVarint(legacyTimestampUs(frame), frame.data);
}

/** A frame's presentation time as the container and lite-05's frame timestamps carry it. */
export function legacyTimestampUs(frame: Frame): number {
  return Math.max(0, Math.round(frame.pts));
}

/**
 * A frame as it goes inside a group stream (size + legacy payload), built
 * once and shared by every subscription of every session.
 */
export function wireFrame(frame: Frame): Uint8Array {
  return serializeOnce(frame, 'moq-lite/hang-legacy', (f) => {
    // One buffer for size, timestamp and data: the frame is copied once, not once per prefix.
    const timestamp = legacyTimestampUs(f);
    const payloadLength = varintSize(timestamp) + f.data.length;
    const sizeLength = varintSize(payloadLength);
    const out = new Uint8Array(sizeLength + payloadLength);
    writeVarint(out, 0, payloadLength);
    const at = writeVarint(out, sizeLength, timestamp);
    out.set(f.data, at);
    return out;
  });
}
