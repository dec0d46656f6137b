import { aacTrackInfo } from '../../codec/aac.js';
import { av1TrackInfo } from '../../codec/av1.js';
import { h264TrackInfo } from '../../codec/h264.js';
import { h265TrackInfo } from '../../codec/hevc.js';
import { opusTrackInfo } from '../../codec/opus.js';
import { parseVpcConfig, vp9CodecString } from '../../codec/vp9.js';
import type { AudioTrackInfo, VideoTrackInfo, Vp9TrackInfo } from '../../stream/types.js';

export interface InitTracks {
  readonly video?: VideoTrackInfo;
  readonly audio?: AudioTrackInfo;
}

/**
 * The tracks of a ws-nal `init` message. Everything is rebuilt from the
 * decoder configurations (`description`: avcC, hvcC, av1C, AudioSpecificConfig,
 * OpusHead; `vpcC` for VP9, which WebCodecs configures without one), the
 * same way the ingests build them, so a pulled track is described exactly
 * like the origin's. Throws when a configuration is unusable.
 */
export function tracksOfInit(message: Readonly<Record<string, unknown>>): InitTracks {
  const video = fieldsOf(message['video'], 'video');
  const audio = fieldsOf(message['audio'], 'audio');
  return {
    ...(video === undefined ? {} : { video: videoTrack(video) }),
    ...(audio === undefined ? {} : { audio: audioTrack(audio) }),
  };
}

type Fields = Readonly<Record<string, unknown>>;

function fieldsOf(track: unknown, kind: string): Fields | undefined {
  if (track === undefined || track === null) return undefined;
  if (typeof track !== 'object') throw new Error(`init: ${kind} is not an object`);
  return track as Fields;
}

function bytes(fields: Fields, key: string, what: string): Uint8Array {
  const value = fields[key];
  if (typeof value !== 'string') throw new Error(`init: ${what} has no ${key}`);
  return new Uint8Array(Buffer.from(value, 'base64'));
}

function videoTrack(v: Fields): VideoTrackInfo {
  const codec = typeof v['codec'] === 'string' ? v['codec'] : '';
  // Version 1 origins name no codec but H.264's; every codec string starts with its sample entry.
  if (codec === '' || codec.startsWith('avc')) return h264TrackInfo(bytes(v, 'description', 'video'));
  if (codec.startsWith('hvc1') || codec.startsWith('hev1')) return h265TrackInfo(bytes(v, 'description', 'video'));
  if (codec.startsWith('av01')) return av1TrackInfo(bytes(v, 'description', 'video'));
  if (codec.startsWith('vp09')) return vp9Track(v);
  throw new Error(`init: video codec ${JSON.stringify(codec).slice(0, 40)} is not one Polycast carries`);
}

function vp9Track(v: Fields): Vp9TrackInfo {
  const vpcC = bytes(v, 'vpcC', 'VP9 video');
  const width = v['codedWidth'];
  const height = v['codedHeight'];
  if (typeof width !== 'number' || typeof height !== 'number' || !(width > 0) || !(height > 0)) throw new Error('init: VP9 video has no coded size');
  return { kind: 'video', codec: 'vp9', codecString: vp9CodecString(parseVpcConfig(vpcC)), width, height, vpcC };
}

function audioTrack(a: Fields): AudioTrackInfo {
  const codec = typeof a['codec'] === 'string' ? a['codec'] : '';
  if (codec === 'opus') return opusTrackInfo(bytes(a, 'description', 'Opus audio'));
  if (codec === '' || codec.startsWith('mp4a')) return aacTrackInfo(bytes(a, 'description', 'audio'));
  throw new Error(`init: audio codec ${JSON.stringify(codec).slice(0, 40)} is not one Polycast carries`);
}
