/**
 * HEVC (H.265) decoder configuration: the HEVCDecoderConfigurationRecord
 * that enhanced RTMP and MP4 carry (ISO 14496-15 §8.3.3), its RFC 6381 /
 * WebCodecs codec string (ISO 14496-15 Annex E.3), and the picture size from
 * the SPS (ITU-T H.265 §7.3.2.2).
 */

import type { H265TrackInfo } from '../stream/types.js';
import { BitReader, BitstreamError, removeEmulationPrevention } from './bits.js';
import { lengthPrefixedToAnnexB, type NalRole } from './h264.js';

export class HevcError extends Error {
  override readonly name = 'HevcError';
}

export const HevcNalType = { vps: 32, sps: 33, pps: 34, aud: 35, sei: 39 } as const;

/** What a decoder with an `hvcC` has already, or needs not: kept out of frames, as `OUT_OF_BAND_NAL_TYPES` for H.264. */
export const HEVC_OUT_OF_BAND_NAL_TYPES: ReadonlySet<number> = new Set([HevcNalType.vps, HevcNalType.sps, HevcNalType.pps, HevcNalType.aud]);

/** The type of an HEVC NAL unit from its first byte (the two-byte header's `nal_unit_type`). */
export const hevcNalTypeOfByte = (firstByte: number): number => (firstByte >> 1) & 0x3f;

/** The profile_tier_level "general" fields, as hvcC repeats them. */
export interface HevcProfile {
  readonly profileSpace: number;
  readonly tierFlag: number;
  readonly profileIdc: number;
  /** 32 bits, bit 31 = general_profile_compatibility_flag[0]. */
  readonly compatibilityFlags: number;
  /** The six bytes of general_constraint_indicator_flags (progressive_source_flag first). */
  readonly constraintFlags: Uint8Array;
  readonly levelIdc: number;
}

export interface HevcDecoderConfig extends HevcProfile {
  readonly chromaFormat: number;
  readonly bitDepthLuma: number;
  readonly bitDepthChroma: number;
  readonly nalLengthSize: number;
  readonly vps: Uint8Array[];
  readonly sps: Uint8Array[];
  readonly pps: Uint8Array[];
}

export interface HevcSpsInfo {
  readonly width: number;
  readonly height: number;
  readonly chromaFormat: number;
  readonly bitDepthLuma: number;
}

const HVCC_HEADER = 23;

/** HEVC NAL unit type (first byte, bits 1..6). */
export function hevcNalType(nal: Uint8Array): number {
  if (nal.length === 0) throw new HevcError('empty NAL unit has no type');
  return (nal[0]! >> 1) & 0x3f;
}

/** Parse an HEVCDecoderConfigurationRecord. Throws `HevcError` when malformed. */
export function parseHevcDecoderConfig(hvcC: Uint8Array): HevcDecoderConfig {
  if (hvcC.length < HVCC_HEADER) throw new HevcError(`hvcC too short: ${hvcC.length} byte(s), need ${HVCC_HEADER}`);
  if (hvcC[0] !== 1) throw new HevcError(`unsupported hvcC configurationVersion ${hvcC[0]}`);
  const b = hvcC;
  const lengthSizeMinusOne = b[21]! & 3;
  if (lengthSizeMinusOne === 2) throw new HevcError('invalid NAL length size 3');
  const config = {
    profileSpace: b[1]! >> 6,
    tierFlag: (b[1]! >> 5) & 1,
    profileIdc: b[1]! & 0x1f,
    compatibilityFlags: ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0,
    constraintFlags: b.slice(6, 12),
    levelIdc: b[12]!,
    chromaFormat: b[16]! & 3,
    bitDepthLuma: (b[17]! & 7) + 8,
    bitDepthChroma: (b[18]! & 7) + 8,
    nalLengthSize: lengthSizeMinusOne + 1,
    vps: [] as Uint8Array[],
    sps: [] as Uint8Array[],
    pps: [] as Uint8Array[],
  };
  const arrays = b[22]!;
  let p = HVCC_HEADER;
  for (let i = 0; i < arrays; i++) {
    if (p + 3 > b.length) throw new HevcError(`hvcC truncated in NAL array ${i} header`);
    const type = b[p]! & 0x3f;
    const count = (b[p + 1]! << 8) | b[p + 2]!;
    p += 3;
    for (let j = 0; j < count; j++) {
      if (p + 2 > b.length) throw new HevcError(`hvcC truncated in NAL unit ${j} of array ${i}`);
      const len = (b[p]! << 8) | b[p + 1]!;
      p += 2;
      if (p + len > b.length) throw new HevcError(`hvcC NAL unit of ${len} byte(s) overruns the record`);
      const nal = b.slice(p, p + len);
      p += len;
      if (type === HevcNalType.vps) config.vps.push(nal);
      else if (type === HevcNalType.sps) config.sps.push(nal);
      else if (type === HevcNalType.pps) config.pps.push(nal);
      // SEI and other arrays are not needed to decode.
    }
  }
  return config;
}

function reverseBits32(v: number): number {
  let r = 0;
  for (let i = 0; i < 32; i++) r = (r << 1) | ((v >>> i) & 1);
  return r >>> 0;
}

/**
 * `hvc1.<space><idc>.<compat>.<tier><level>.<constraints>` per ISO 14496-15
 * E.3: the compatibility flags in reverse bit order as hex without leading
 * zeros, constraint bytes as hex with trailing zero bytes left out.
 */
export function hevcCodecString(p: HevcProfile, sampleEntry: 'hvc1' | 'hev1' = 'hvc1'): string {
  const space = p.profileSpace === 0 ? '' : String.fromCharCode(0x40 + p.profileSpace);
  const compat = reverseBits32(p.compatibilityFlags).toString(16).toUpperCase();
  const tier = p.tierFlag ? 'H' : 'L';
  let last = p.constraintFlags.length;
  while (last > 0 && p.constraintFlags[last - 1] === 0) last--;
  const constraints = [...p.constraintFlags.subarray(0, last)].map((x) => x.toString(16).toUpperCase().padStart(2, '0'));
  return [`${sampleEntry}`, `${space}${p.profileIdc}`, compat, `${tier}${p.levelIdc}`, ...constraints].join('.');
}

function skipProfileTierLevel(r: BitReader, maxSubLayersMinus1: number): void {
  r.skipBits(96); // general profile, tier, flags and level: hvcC has them already
  const profilePresent: boolean[] = [];
  const levelPresent: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    profilePresent.push(r.readFlag());
    levelPresent.push(r.readFlag());
  }
  if (maxSubLayersMinus1 > 0) r.skipBits(2 * (8 - maxSubLayersMinus1));
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (profilePresent[i]) r.skipBits(88);
    if (levelPresent[i]) r.skipBits(8);
  }
}

/** Picture size (after the conformance window), chroma format and luma bit depth of an SPS NAL unit. */
export function parseHevcSps(nal: Uint8Array): HevcSpsInfo {
  if (nal.length < 3 || hevcNalType(nal) !== HevcNalType.sps) throw new HevcError('not an SPS NAL unit');
  try {
    const r = new BitReader(removeEmulationPrevention(nal.subarray(2)));
    r.skipBits(4); // sps_video_parameter_set_id
    const maxSubLayersMinus1 = r.readBits(3);
    if (maxSubLayersMinus1 > 6) throw new HevcError(`sps_max_sub_layers_minus1 ${maxSubLayersMinus1} out of range`);
    r.skipBits(1);
    skipProfileTierLevel(r, maxSubLayersMinus1);
    if (r.readUe() > 15) throw new HevcError('sps_seq_parameter_set_id out of range');
    const chromaFormat = r.readUe();
    if (chromaFormat > 3) throw new HevcError(`chroma_format_idc ${chromaFormat} out of range`);
    const separateColourPlanes = chromaFormat === 3 && r.readFlag();
    const codedWidth = r.readUe();
    const codedHeight = r.readUe();
    let [left, right, top, bottom] = [0, 0, 0, 0];
    if (r.readFlag()) [left, right, top, bottom] = [r.readUe(), r.readUe(), r.readUe(), r.readUe()];
    const bitDepthLuma = r.readUe() + 8;
    // Conformance window offsets count chroma samples (H.265 Table 6-1).
    const subWidth = !separateColourPlanes && (chromaFormat === 1 || chromaFormat === 2) ? 2 : 1;
    const subHeight = !separateColourPlanes && chromaFormat === 1 ? 2 : 1;
    const width = codedWidth - subWidth * (left + right);
    const height = codedHeight - subHeight * (top + bottom);
    if (width <= 0 || height <= 0 || width > 16888 || height > 16888) {
      throw new HevcError(`implausible picture size ${width}x${height}`);
    }
    return { width, height, chromaFormat, bitDepthLuma };
  } catch (err) {
    if (err instanceof BitstreamError) throw new HevcError(`SPS: ${err.message}`);
    throw err;
  }
}

/** Track description from an hvcC record. Throws `HevcError` if the record is unusable. */
export function h265TrackInfo(hvcC: Uint8Array): H265TrackInfo {
  const config = parseHevcDecoderConfig(hvcC);
  const sps = config.sps[0];
  if (sps === undefined) throw new HevcError('hvcC carries no SPS');
  if (config.pps.length === 0) throw new HevcError('hvcC carries no PPS');
  if (config.vps.length === 0) throw new HevcError('hvcC carries no VPS');
  const { width, height } = parseHevcSps(sps);
  return {
    kind: 'video',
    codec: 'h265',
    codecString: hevcCodecString(config),
    width,
    height,
    hvcC: hvcC.slice(),
    vps: config.vps,
    sps: config.sps,
    pps: config.pps,
    nalLengthSize: config.nalLengthSize,
  };
}

function hevcNalRole(firstByte: number): NalRole {
  const type = (firstByte >> 1) & 0x3f;
  if (type === HevcNalType.vps || type === HevcNalType.sps || type === HevcNalType.pps) return 'parameter-set';
  return type === HevcNalType.aud ? 'delimiter' : 'other';
}

/**
 * A length-prefixed HEVC access unit as Annex B, with `prepend` (VPS, SPS,
 * PPS for a keyframe) after a leading access unit delimiter, unless the
 * access unit carries parameter sets of its own.
 */
export function hevcToAnnexB(data: Uint8Array, nalLengthSize: number, prepend?: readonly Uint8Array[]): Uint8Array {
  return lengthPrefixedToAnnexB(data, nalLengthSize, prepend, hevcNalRole);
}
