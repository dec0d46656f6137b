/**
 * The hang media format on top of moq-lite: a JSON catalog track describing
 * the renditions for WebCodecs, and the "legacy" container (a varint
 * microsecond timestamp in front of each raw codec frame).
 */
import { serializeOnce, type Frame, type StreamDescription } from '../../src/stream/types.js';
import { encodeFrame } from './messages.js';
import { prefixVarint } from './wire.js';

export const CATALOG_TRACK = 'catalog.json';
/** Rendition (and track) names. One rendition per kind: Polycast does not transcode. */
export const VIDEO_TRACK = 'video';
export const AUDIO_TRACK = 'audio';

export interface HangVideoRendition {
  codec: string;
  container: { kind: 'legacy' };
  description: string;
  codedWidth: number;
  codedHeight: number;
  optimizeForLatency: true;
}

export interface HangAudioRendition {
  codec: string;
  container: { kind: 'legacy' };
  description: string;
  sampleRate: number;
  numberOfChannels: number;
}

export interface HangCatalog {
  video?: { renditions: Record<string, HangVideoRendition> };
  audio?: { renditions: Record<string, HangAudioRendition> };
}

/**
 * The catalog for a stream's tracks. Descriptions are the decoder
 * configuration records (avcC, AudioSpecificConfig), so a WebCodecs decoder
 * configures from the catalog alone and frames stay AVCC / raw AAC.
 */
export function buildCatalog(desc: StreamDescription): HangCatalog {
  const catalog: HangCatalog = {};
  if (desc.video !== undefined) {
    catalog.video = {
      renditions: {
        [VIDEO_TRACK]: {
          codec: desc.video.codecString,
          container: { kind: 'legacy' },
          description: Buffer.from(desc.video.avcC).toString('hex'),
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
          description: Buffer.from(desc.audio.asc).toString('hex'),
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
  return prefixVarint(Math.max(0, Math.round(frame.pts)), frame.data);
}

/**
 * A frame as it goes inside a group stream (size + legacy payload), built
 * once and shared by every subscription of every session.
 */
export function wireFrame(frame: Frame): Uint8Array {
  return serializeOnce(frame, 'moq-lite/hang-legacy', (f) => encodeFrame(legacyPayload(f)));
}
