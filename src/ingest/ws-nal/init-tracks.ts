import { aacTrackInfo } from '../../codec/aac.js';
import { h264TrackInfo } from '../../codec/h264.js';
import type { AacTrackInfo, H264TrackInfo } from '../../stream/types.js';

export interface InitTracks {
  readonly video?: H264TrackInfo;
  readonly audio?: AacTrackInfo;
}

/**
 * The tracks of a ws-nal `init` message. Everything is rebuilt from the
 * decoder configurations (`description`: avcC, AudioSpecificConfig), the
 * same way the RTMP ingest builds them, so a pulled track is described
 * exactly like the origin's. Throws when a configuration is unusable.
 */
export function tracksOfInit(message: Readonly<Record<string, unknown>>): InitTracks {
  const video = descriptionOf(message['video'], 'video');
  const audio = descriptionOf(message['audio'], 'audio');
  return {
    ...(video === undefined ? {} : { video: h264TrackInfo(video) }),
    ...(audio === undefined ? {} : { audio: aacTrackInfo(audio) }),
  };
}

function descriptionOf(track: unknown, kind: string): Uint8Array | undefined {
  if (track === undefined || track === null) return undefined;
  const description = (track as { description?: unknown }).description;
  if (typeof track !== 'object' || typeof description !== 'string') throw new Error(`init: ${kind} has no description`);
  return new Uint8Array(Buffer.from(description, 'base64'));
}
