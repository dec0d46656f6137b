/**
 * VP9: the VPCodecConfigurationRecord (`vpcC`, VP Codec ISO Media File
 * Format Binding §2.2) that enhanced RTMP and MP4 carry, the codec string
 * `vp09.PP.LL.DD`, and the picture size, which only a keyframe's
 * uncompressed header states (VP9 bitstream spec §6.2).
 */

import type { Vp9TrackInfo } from '../stream/types.js';
import { BitReader, BitstreamError } from './bits.js';

export class Vp9Error extends Error {
  override readonly name = 'Vp9Error';
}

export interface VpcConfig {
  readonly profile: number;
  readonly level: number;
  readonly bitDepth: number;
  readonly chromaSubsampling: number;
  readonly fullRange: boolean;
  readonly colourPrimaries: number;
  readonly transferCharacteristics: number;
  readonly matrixCoefficients: number;
}

export interface Vp9KeyframeInfo {
  readonly profile: number;
  readonly bitDepth: number;
  readonly width: number;
  readonly height: number;
}

const VPCC_RECORD = 8;
/** Levels of the VP9 level table (VP9 levels ×10), plus 0 for "unspecified", which some writers use. */
const VP9_LEVELS = new Set([0, 10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 52, 60, 61, 62]);

/**
 * The record without its FullBox header. Writers disagree on whether the
 * version/flags word comes along (the MP4 box has it, ffmpeg's FLV writer
 * leaves it out): a leading `01 00 00 00` is that word, since no record
 * starts with profile 1 at level 0 followed by a zero bit-depth byte.
 */
function recordBody(vpcC: Uint8Array): Uint8Array {
  if (vpcC.length >= 4 + VPCC_RECORD && vpcC[0] === 1 && vpcC[1] === 0 && vpcC[2] === 0 && vpcC[3] === 0) return vpcC.subarray(4);
  return vpcC;
}

/** Parse a VPCodecConfigurationRecord (with or without the FullBox word). Throws `Vp9Error`. */
export function parseVpcConfig(vpcC: Uint8Array): VpcConfig {
  const b = recordBody(vpcC);
  if (b.length < VPCC_RECORD) throw new Vp9Error(`vpcC too short: ${b.length} byte(s), need ${VPCC_RECORD}`);
  const config = {
    profile: b[0]!,
    level: b[1]!,
    bitDepth: b[2]! >> 4,
    chromaSubsampling: (b[2]! >> 1) & 7,
    fullRange: (b[2]! & 1) === 1,
    colourPrimaries: b[3]!,
    transferCharacteristics: b[4]!,
    matrixCoefficients: b[5]!,
  };
  if (config.profile > 3) throw new Vp9Error(`VP9 profile ${config.profile} does not exist`);
  if (!VP9_LEVELS.has(config.level)) throw new Vp9Error(`VP9 level ${config.level} does not exist`);
  if (config.bitDepth !== 8 && config.bitDepth !== 10 && config.bitDepth !== 12) throw new Vp9Error(`VP9 bit depth ${config.bitDepth} does not exist`);
  return config;
}

const two = (n: number) => String(n).padStart(2, '0');

/** `vp09.PP.LL.DD` (the optional colour fields left out). */
export function vp9CodecString(c: Pick<VpcConfig, 'profile' | 'level' | 'bitDepth'>): string {
  return `vp09.${two(c.profile)}.${two(c.level)}.${two(c.bitDepth)}`;
}

/**
 * Profile, bit depth and size from a frame that starts with a keyframe's
 * uncompressed header; undefined for any other frame. A superframe starts
 * with its first frame, so its header is read the same way. Throws
 * `Vp9Error` for a keyframe too short or malformed to say.
 */
export function parseVp9Keyframe(frame: Uint8Array): Vp9KeyframeInfo | undefined {
  try {
    const r = new BitReader(frame);
    if (r.readBits(2) !== 2) throw new Vp9Error('VP9 frame_marker is not 2');
    const low = r.readBit();
    const profile = (r.readBit() << 1) | low;
    if (profile === 3) r.skipBits(1);
    if (r.readFlag()) return undefined; // show_existing_frame
    if (r.readBit() !== 0) return undefined; // not a KEY_FRAME
    r.skipBits(2); // show_frame, error_resilient_mode
    if (r.readBits(24) !== 0x498342) throw new Vp9Error('VP9 keyframe sync code missing');
    let bitDepth = 8;
    if (profile >= 2) bitDepth = r.readFlag() ? 12 : 10;
    const colorSpace = r.readBits(3);
    if (colorSpace !== 7) {
      r.skipBits(1); // color_range
      if (profile === 1 || profile === 3) r.skipBits(3);
    } else if (profile === 1 || profile === 3) {
      r.skipBits(1);
    }
    const width = r.readBits(16) + 1;
    const height = r.readBits(16) + 1;
    return { profile, bitDepth, width, height };
  } catch (err) {
    if (err instanceof BitstreamError) throw new Vp9Error(`keyframe header: ${err.message}`);
    throw err;
  }
}

/**
 * Track description from the vpcC record and the first keyframe (the record
 * has no picture size). Throws `Vp9Error` when they disagree on the profile
 * or the frame is not a keyframe.
 */
export function vp9TrackInfo(vpcC: Uint8Array, keyframe: Uint8Array): Vp9TrackInfo {
  const config = parseVpcConfig(vpcC);
  const key = parseVp9Keyframe(keyframe);
  if (key === undefined) throw new Vp9Error('the first VP9 frame is not a keyframe');
  if (key.profile !== config.profile) throw new Vp9Error(`vpcC says profile ${config.profile}, the keyframe ${key.profile}`);
  return {
    kind: 'video',
    codec: 'vp9',
    codecString: vp9CodecString(config),
    width: key.width,
    height: key.height,
    vpcC: recordBody(vpcC).slice(),
  };
}
