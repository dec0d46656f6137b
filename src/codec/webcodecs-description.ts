import { decoderConfigOf, type TrackInfo } from '../stream/types.js';

/**
 * The `description` of a WebCodecs decoder configuration for a track, whose
 * presence also fixes the frame format the decoder expects: with avcC/hvcC,
 * length-prefixed NAL units (what the stream model carries) rather than
 * Annex B. VP9 has none (its vpcC is an MP4 box, not a WebCodecs
 * description); AV1's av1C is optional but lets a decoder configure before
 * the first keyframe. AAC takes its AudioSpecificConfig, Opus its
 * identification header.
 */
export function webCodecsDescription(track: TrackInfo): Uint8Array | undefined {
  return track.codec === 'vp9' ? undefined : decoderConfigOf(track);
}
