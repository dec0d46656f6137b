/**
 * Track numbering and clocks shared by the init segment and the fragments:
 * both must agree, and a reader that opens only one track (one SourceBuffer
 * per kind) still sees the same IDs it would in a combined stream.
 */

import type { AudioTrackInfo, TrackKind, VideoTrackInfo } from '../../stream/types.js';

export const VIDEO_TRACK_ID = 1;
export const AUDIO_TRACK_ID = 2;

/**
 * 90 kHz holds FLV's millisecond timestamps exactly (90 ticks per ms) and whole
 * frame durations at 24/25/30/50/60 fps and their 1000/1001 variants.
 */
export const VIDEO_TIMESCALE = 90_000;

export interface MuxTracks {
  readonly video?: VideoTrackInfo;
  readonly audio?: AudioTrackInfo;
}

export function trackId(kind: TrackKind): number {
  return kind === 'video' ? VIDEO_TRACK_ID : AUDIO_TRACK_ID;
}

/** Audio runs at its sample rate (48 kHz for Opus) so that every frame lasts a whole number of ticks. */
export function timescaleOf(track: VideoTrackInfo | AudioTrackInfo): number {
  return track.kind === 'video' ? VIDEO_TIMESCALE : track.sampleRate;
}
