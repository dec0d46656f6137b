/**
 * The catalog of a Polycast path in the MOQT Streaming Format
 * (draft-ietf-moq-msf): a JSON document on the track `catalog` listing the
 * media tracks, each packaged in LOC (draft-ietf-moq-loc: every object is
 * one raw coded frame, its timestamp an object property).
 */
import { webCodecsDescription } from '../../src/codec/webcodecs-description.js';
import type { StreamDescription, TrackInfo } from '../../src/stream/types.js';

export const CATALOG_TRACK = 'catalog';
export const VIDEO_TRACK = 'video';
export const AUDIO_TRACK = 'audio';
export type MoqtTrackName = typeof CATALOG_TRACK | typeof VIDEO_TRACK | typeof AUDIO_TRACK;

export function isMoqtTrackName(name: string): name is MoqtTrackName {
  return name === CATALOG_TRACK || name === VIDEO_TRACK || name === AUDIO_TRACK;
}

export interface MsfTrack {
  name: string;
  packaging: 'loc';
  isLive: true;
  role: 'video' | 'audio';
  /** Tracks to be rendered together share a render group: Polycast has one rendition of each kind. */
  renderGroup: 1;
  codec: string;
  /** The decoder configuration record (avcC, hvcC, av1C, AudioSpecificConfig, OpusHead), base64: the WebCodecs `description`. */
  initData?: string;
  width?: number;
  height?: number;
  samplerate?: number;
  /** MSF gives the channel configuration as a string. */
  channelConfig?: string;
}

export interface MsfCatalog {
  version: 1;
  tracks: MsfTrack[];
}

function initDataOf(track: TrackInfo): { initData?: string } {
  const description = webCodecsDescription(track);
  return description === undefined ? {} : { initData: Buffer.from(description).toString('base64') };
}

export function buildMsfCatalog(desc: StreamDescription): MsfCatalog {
  const tracks: MsfTrack[] = [];
  const { video, audio } = desc;
  if (video !== undefined) {
    tracks.push({
      name: VIDEO_TRACK,
      packaging: 'loc',
      isLive: true,
      role: 'video',
      renderGroup: 1,
      codec: video.codecString,
      ...initDataOf(video),
      width: video.width,
      height: video.height,
    });
  }
  if (audio !== undefined) {
    tracks.push({
      name: AUDIO_TRACK,
      packaging: 'loc',
      isLive: true,
      role: 'audio',
      renderGroup: 1,
      codec: audio.codecString,
      ...initDataOf(audio),
      samplerate: audio.sampleRate,
      channelConfig: String(audio.channels),
    });
  }
  return { version: 1, tracks };
}
