import { aacTrackInfo } from '../../codec/aac.js';
import { av1TrackInfo } from '../../codec/av1.js';
import type { FlvAudioCodec, FlvVideoCodec } from '../../codec/flv.js';
import { h264TrackInfo } from '../../codec/h264.js';
import { h265TrackInfo } from '../../codec/hevc.js';
import { opusTrackInfo } from '../../codec/opus.js';
import { parseVpcConfig } from '../../codec/vp9.js';
import type { AudioCodec, AudioTrackInfo, VideoCodec, VideoTrackInfo } from '../../stream/types.js';

/** The stream model's codec for each FourCC an (enhanced) FLV tag names. */
export const MODEL_CODEC: Readonly<Record<FlvVideoCodec, VideoCodec> & Record<FlvAudioCodec, AudioCodec>> = {
  avc1: 'h264',
  hvc1: 'h265',
  av01: 'av1',
  vp09: 'vp9',
  mp4a: 'aac',
  Opus: 'opus',
};

/** What the sequence start of each FourCC carries, for refusal messages. */
export const CONFIG_NAME: Readonly<Record<FlvVideoCodec | FlvAudioCodec, string>> = {
  avc1: 'H.264 decoder configuration (avcC)',
  hvc1: 'HEVC decoder configuration (hvcC)',
  av01: 'AV1 codec configuration (av1C)',
  vp09: 'VP9 codec configuration (vpcC)',
  mp4a: 'AAC audio specific configuration',
  Opus: 'Opus identification header (OpusHead)',
};

/**
 * The video track a sequence start describes; for VP9 only the checked
 * record, since the picture size waits for the first keyframe. Throws the
 * codec's own error when the configuration is unusable.
 */
export function videoTrackOfConfig(codec: FlvVideoCodec, config: Uint8Array): VideoTrackInfo | { readonly vpcC: Uint8Array } {
  switch (codec) {
    case 'avc1':
      return h264TrackInfo(config);
    case 'hvc1':
      return h265TrackInfo(config);
    case 'av01':
      return av1TrackInfo(config);
    case 'vp09':
      parseVpcConfig(config);
      return { vpcC: config.slice() };
  }
}

export function audioTrackOfConfig(codec: FlvAudioCodec, config: Uint8Array): AudioTrackInfo {
  return codec === 'mp4a' ? aacTrackInfo(config) : opusTrackInfo(config);
}
