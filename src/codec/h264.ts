/**
 * H.264 parsing and repackaging: the AVCDecoderConfigurationRecord that RTMP
 * and MP4 carry (ISO 14496-15 §5.3.3), the SPS fields a player needs
 * (ITU-T H.264 §7.3.2.1), and conversion between length-prefixed (AVCC) and
 * start-code (Annex B) framing.
 *
 * Nothing here copies frame payloads except where a new framing requires it,
 * and then into a single buffer of exactly the right size.
 */

import type { H264TrackInfo } from '../stream/types.js';
import { BitReader, BitstreamError, removeEmulationPrevention } from './bits.js';

export class H264Error extends Error {
  override readonly name = 'H264Error';
}

export const NalType = {
  slice: 1,
  idr: 5,
  sei: 6,
  sps: 7,
  pps: 8,
  aud: 9,
  endOfSequence: 10,
  endOfStream: 11,
  filler: 12,
} as const;

/** What an `avc1` sample leaves to its `avcC` (ISO/IEC 14496-15 §5.3.2): the parameter sets, and the delimiter that heads them. */
export const OUT_OF_BAND_NAL_TYPES: ReadonlySet<number> = new Set([NalType.sps, NalType.pps, NalType.aud]);

export interface AvcDecoderConfig {
  /** AVCProfileIndication (= profile_idc of the SPS). */
  readonly profile: number;
  /** profile_compatibility (= the SPS constraint_set flags byte). */
  readonly compatibility: number;
  /** AVCLevelIndication (= level_idc of the SPS). */
  readonly level: number;
  /** 1, 2 or 4. */
  readonly nalLengthSize: number;
  /** Copies: a config outlives the tag buffer it was parsed from. */
  readonly sps: Uint8Array[];
  readonly pps: Uint8Array[];
}

export interface SpsInfo {
  readonly profileIdc: number;
  readonly constraintFlags: number;
  readonly levelIdc: number;
  /** Displayed size, after frame cropping. */
  readonly width: number;
  readonly height: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. */
  readonly chromaFormatIdc: number;
  /** Luma bit depth. */
  readonly bitDepth: number;
  readonly bitDepthChroma: number;
  /** False for interlaced-capable streams (field or MBAFF coding). */
  readonly frameMbsOnly: boolean;
  /** Frames per second from VUI timing (time_scale / 2·num_units_in_tick), when signalled. */
  readonly frameRate?: number;
  /** Sample (pixel) aspect ratio from VUI, when signalled. */
  readonly sampleAspectRatio?: { readonly width: number; readonly height: number };
}

// Profiles whose SPS carries chroma format, bit depth and scaling matrices (§7.3.2.1.1).
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

// Table E-1; index 0 is "unspecified" and 255 means explicit.
const SAR_TABLE: ReadonlyArray<readonly [number, number]> = [
  [0, 0], [1, 1], [12, 11], [10, 11], [16, 11], [40, 33], [24, 11], [20, 11], [32, 11],
  [80, 33], [18, 11], [15, 11], [64, 33], [160, 99], [4, 3], [3, 2], [2, 1],
];

// ---------------------------------------------------------------------------
// AVCDecoderConfigurationRecord

/** Parse an `avcC` record. Throws `H264Error` on anything truncated or malformed. */
export function parseAvcDecoderConfig(avcC: Uint8Array): AvcDecoderConfig {
  if (avcC.length < 7) throw new H264Error(`avcC truncated: ${avcC.length} byte(s), need at least 7`);
  if (avcC[0] !== 1) throw new H264Error(`avcC: unsupported configurationVersion ${avcC[0]} (expected 1)`);
  const profile = avcC[1]!;
  const compatibility = avcC[2]!;
  const level = avcC[3]!;
  // Reserved bits are not checked: some encoders write them as zero.
  const lengthSizeMinusOne = avcC[4]! & 0x03;
  if (lengthSizeMinusOne === 2) throw new H264Error('avcC: NAL length size 3 is not allowed');
  const nalLengthSize = lengthSizeMinusOne + 1;

  let pos = 6;
  const readSets = (count: number, kind: string): Uint8Array[] => {
    const sets: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (pos + 2 > avcC.length) throw new H264Error(`avcC truncated: missing length of ${kind} #${i}`);
      const len = (avcC[pos]! << 8) | avcC[pos + 1]!;
      pos += 2;
      if (len === 0) throw new H264Error(`avcC: ${kind} #${i} is empty`);
      if (pos + len > avcC.length) {
        throw new H264Error(`avcC truncated: ${kind} #${i} declares ${len} byte(s), only ${avcC.length - pos} left`);
      }
      sets.push(avcC.slice(pos, pos + len));
      pos += len;
    }
    return sets;
  };

  const sps = readSets(avcC[5]! & 0x1f, 'SPS');
  if (pos >= avcC.length) throw new H264Error('avcC truncated: missing numOfPictureParameterSets');
  const numPps = avcC[pos++]!;
  const pps = readSets(numPps, 'PPS');
  // Anything after this is the High-profile extension (chroma format, bit depth,
  // SPS extensions); the SPS itself is authoritative for those, so it is not parsed.
  return { profile, compatibility, level, nalLengthSize, sps, pps };
}

/**
 * Build an `avcC` record. For High-family profiles this appends the
 * chroma/bit-depth extension that ISO 14496-15 requires for them (as ffmpeg does).
 */
export function buildAvcDecoderConfig(
  sps: readonly Uint8Array[],
  pps: readonly Uint8Array[],
  nalLengthSize = 4,
): Uint8Array {
  if (sps.length < 1 || sps.length > 31) throw new H264Error(`avcC needs 1 to 31 SPS, got ${sps.length}`);
  if (pps.length < 1 || pps.length > 255) throw new H264Error(`avcC needs 1 to 255 PPS, got ${pps.length}`);
  if (nalLengthSize !== 1 && nalLengthSize !== 2 && nalLengthSize !== 4) {
    throw new H264Error(`invalid NAL length size ${nalLengthSize} (1, 2 or 4)`);
  }
  for (const [kind, sets, type] of [['SPS', sps, NalType.sps], ['PPS', pps, NalType.pps]] as const) {
    for (const nal of sets) {
      if (nal.length === 0 || nal.length > 0xffff) throw new H264Error(`${kind} of ${nal.length} byte(s) cannot go in avcC`);
      if ((nal[0]! & 0x1f) !== type) throw new H264Error(`expected a ${kind} NAL unit, got type ${nal[0]! & 0x1f}`);
    }
  }
  const first = sps[0]!;
  if (first.length < 4) throw new H264Error(`SPS truncated: ${first.length} byte(s)`);
  const info = HIGH_PROFILES.has(first[1]!) ? parseSps(first) : undefined;

  let size = 6 + 1 + (info ? 4 : 0);
  for (const s of sps) size += 2 + s.length;
  for (const p of pps) size += 2 + p.length;
  const out = new Uint8Array(size);
  out[0] = 1;
  out[1] = first[1]!;
  out[2] = first[2]!;
  out[3] = first[3]!;
  out[4] = 0xfc | (nalLengthSize - 1);
  out[5] = 0xe0 | sps.length;
  let pos = 6;
  const writeSet = (nal: Uint8Array) => {
    out[pos] = nal.length >>> 8;
    out[pos + 1] = nal.length & 0xff;
    out.set(nal, pos + 2);
    pos += 2 + nal.length;
  };
  sps.forEach(writeSet);
  out[pos++] = pps.length;
  pps.forEach(writeSet);
  if (info) {
    out[pos++] = 0xfc | info.chromaFormatIdc;
    out[pos++] = 0xf8 | (info.bitDepth - 8);
    out[pos++] = 0xf8 | (info.bitDepthChroma - 8);
    out[pos++] = 0; // numOfSequenceParameterSetExt
  }
  return out;
}

// ---------------------------------------------------------------------------
// SPS

/**
 * Parse a sequence parameter set NAL unit (with its one-byte NAL header,
 * emulation-prevention bytes still in). Throws `H264Error` if truncated or
 * out of range. A damaged VUI only loses `frameRate`/`sampleAspectRatio`:
 * some encoders write short VUIs, and the size is what matters.
 */
export function parseSps(sps: Uint8Array): SpsInfo {
  if (sps.length < 4) throw new H264Error(`SPS truncated: ${sps.length} byte(s)`);
  const type = sps[0]! & 0x1f;
  if (type !== NalType.sps) throw new H264Error(`not an SPS: NAL unit type ${type}`);
  const r = new BitReader(removeEmulationPrevention(sps.subarray(1)));
  try {
    return readSps(r);
  } catch (err) {
    if (err instanceof BitstreamError) throw new H264Error(`SPS: ${err.message}`);
    throw err;
  }
}

function readSps(r: BitReader): SpsInfo {
  const profileIdc = r.readBits(8);
  const constraintFlags = r.readBits(8);
  const levelIdc = r.readBits(8);
  const spsId = r.readUe();
  if (spsId > 31) throw new H264Error(`SPS: seq_parameter_set_id ${spsId} out of range`);

  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepth = 8;
  let bitDepthChroma = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.readUe();
    if (chromaFormatIdc > 3) throw new H264Error(`SPS: chroma_format_idc ${chromaFormatIdc} out of range`);
    if (chromaFormatIdc === 3) separateColourPlane = r.readFlag();
    const lumaMinus8 = r.readUe();
    const chromaMinus8 = r.readUe();
    if (lumaMinus8 > 6 || chromaMinus8 > 6) throw new H264Error('SPS: bit depth above 14');
    bitDepth = 8 + lumaMinus8;
    bitDepthChroma = 8 + chromaMinus8;
    r.skipBits(1); // qpprime_y_zero_transform_bypass_flag
    if (r.readFlag()) {
      const lists = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) {
        if (r.readFlag()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }

  const log2MaxFrameNumMinus4 = r.readUe();
  if (log2MaxFrameNumMinus4 > 12) throw new H264Error('SPS: log2_max_frame_num_minus4 out of range');
  const pocType = r.readUe();
  if (pocType === 0) {
    if (r.readUe() > 12) throw new H264Error('SPS: log2_max_pic_order_cnt_lsb_minus4 out of range');
  } else if (pocType === 1) {
    r.skipBits(1); // delta_pic_order_always_zero_flag
    r.readSe(); // offset_for_non_ref_pic
    r.readSe(); // offset_for_top_to_bottom_field
    const cycle = r.readUe();
    if (cycle > 255) throw new H264Error('SPS: num_ref_frames_in_pic_order_cnt_cycle out of range');
    for (let i = 0; i < cycle; i++) r.readSe();
  } else if (pocType !== 2) {
    throw new H264Error(`SPS: pic_order_cnt_type ${pocType} out of range`);
  }
  r.readUe(); // max_num_ref_frames
  r.skipBits(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.readUe() + 1;
  const heightMapUnits = r.readUe() + 1;
  const frameMbsOnly = r.readFlag();
  if (!frameMbsOnly) r.skipBits(1); // mb_adaptive_frame_field_flag
  r.skipBits(1); // direct_8x8_inference_flag

  let width = widthMbs * 16;
  let height = (frameMbsOnly ? 1 : 2) * heightMapUnits * 16;
  if (r.readFlag()) {
    const left = r.readUe();
    const right = r.readUe();
    const top = r.readUe();
    const bottom = r.readUe();
    // §7.4.2.1.1: crop offsets count chroma samples (luma samples when there is no chroma array).
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (frameMbsOnly ? 1 : 2);
    width -= (left + right) * cropUnitX;
    height -= (top + bottom) * cropUnitY;
  }
  if (width <= 0 || height <= 0) throw new H264Error(`SPS: cropping leaves an empty picture (${width}x${height})`);

  const base = {
    profileIdc, constraintFlags, levelIdc, width, height,
    chromaFormatIdc, bitDepth, bitDepthChroma, frameMbsOnly,
  };
  if (!r.readFlag()) return base;
  try {
    return { ...base, ...readVuiTiming(r) };
  } catch (err) {
    if (err instanceof BitstreamError) return base;
    throw err;
  }
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.readSe();
      if (delta < -128 || delta > 127) throw new H264Error(`SPS: scaling list delta ${delta} out of range`);
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

function readVuiTiming(r: BitReader): Pick<SpsInfo, 'frameRate' | 'sampleAspectRatio'> {
  const out: { frameRate?: number; sampleAspectRatio?: { width: number; height: number } } = {};
  if (r.readFlag()) {
    const idc = r.readBits(8);
    let sar: readonly [number, number] | undefined;
    if (idc === 255) sar = [r.readBits(16), r.readBits(16)];
    else sar = SAR_TABLE[idc];
    if (sar && sar[0] > 0 && sar[1] > 0) out.sampleAspectRatio = { width: sar[0], height: sar[1] };
  }
  if (r.readFlag()) r.skipBits(1); // overscan_appropriate_flag
  if (r.readFlag()) {
    r.skipBits(3 + 1); // video_format, video_full_range_flag
    if (r.readFlag()) r.skipBits(24); // colour_primaries, transfer_characteristics, matrix_coefficients
  }
  if (r.readFlag()) {
    r.readUe(); // chroma_sample_loc_type_top_field
    r.readUe(); // chroma_sample_loc_type_bottom_field
  }
  if (r.readFlag()) {
    const numUnitsInTick = r.readBits(32);
    const timeScale = r.readBits(32);
    // A tick is one field: a frame is two of them (§E.2.1).
    if (numUnitsInTick > 0 && timeScale > 0) out.frameRate = timeScale / (2 * numUnitsInTick);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Codec strings and track info

const hex2 = (b: number) => b.toString(16).padStart(2, '0');

/**
 * RFC 6381 `avc1.PPCCLL` from either an SPS NAL unit or an `avcC` record
 * (told apart by the first byte: avcC version 1 is never an SPS header).
 */
export function avcCodecString(spsOrAvcC: Uint8Array): string {
  if (spsOrAvcC.length < 4) throw new H264Error(`too short for a codec string: ${spsOrAvcC.length} byte(s)`);
  const first = spsOrAvcC[0]!;
  if (first !== 1 && (first & 0x1f) !== NalType.sps) {
    throw new H264Error(`neither an SPS nor an avcC record (first byte 0x${hex2(first)})`);
  }
  return `avc1.${hex2(spsOrAvcC[1]!)}${hex2(spsOrAvcC[2]!)}${hex2(spsOrAvcC[3]!)}`;
}

/**
 * Everything a transport needs to describe an H.264 track, from the sequence
 * header an RTMP publisher sends. The codec string comes from the SPS, which
 * is what decoders actually see. Throws `H264Error` if the record is unusable.
 */
export function h264TrackInfo(avcC: Uint8Array): H264TrackInfo {
  const config = parseAvcDecoderConfig(avcC);
  const sps = config.sps[0];
  if (!sps) throw new H264Error('avcC carries no SPS');
  if (config.pps.length === 0) throw new H264Error('avcC carries no PPS');
  const info = parseSps(sps);
  return {
    kind: 'video',
    codec: 'h264',
    codecString: avcCodecString(sps),
    width: info.width,
    height: info.height,
    avcC: avcC.slice(),
    sps: config.sps,
    pps: config.pps,
    nalLengthSize: config.nalLengthSize,
  };
}

// ---------------------------------------------------------------------------
// NAL unit framing

/** nal_unit_type of a NAL unit (first byte, low 5 bits). */
export function nalUnitType(nal: Uint8Array): number {
  if (nal.length === 0) throw new H264Error('empty NAL unit has no type');
  return nal[0]! & 0x1f;
}

function checkLengthSize(n: number): void {
  if (n !== 1 && n !== 2 && n !== 4) throw new H264Error(`invalid NAL length size ${n} (1, 2 or 4)`);
}

function readLength(data: Uint8Array, pos: number, size: number): number {
  switch (size) {
    case 4: return data[pos]! * 0x1000000 + ((data[pos + 1]! << 16) | (data[pos + 2]! << 8) | data[pos + 3]!);
    case 2: return (data[pos]! << 8) | data[pos + 1]!;
    default: return data[pos]!;
  }
}

/**
 * Call `cb` with each NAL unit (a view, not a copy) of a length-prefixed
 * access unit. Returning `false` from `cb` stops early. Empty NAL units are
 * skipped. Throws `H264Error` if a length runs past the end of the data.
 */
export function forEachNal(
  avcc: Uint8Array,
  nalLengthSize: number,
  cb: (nal: Uint8Array, type: number) => boolean | void,
): void {
  checkLengthSize(nalLengthSize);
  let pos = 0;
  while (pos < avcc.length) {
    if (pos + nalLengthSize > avcc.length) {
      throw new H264Error(`AVCC truncated: ${avcc.length - pos} byte(s) left at offset ${pos}, need a ${nalLengthSize}-byte length`);
    }
    const len = readLength(avcc, pos, nalLengthSize);
    pos += nalLengthSize;
    if (len > avcc.length - pos) {
      throw new H264Error(`AVCC truncated: NAL unit at offset ${pos} declares ${len} byte(s), only ${avcc.length - pos} left`);
    }
    if (len > 0 && cb(avcc.subarray(pos, pos + len), avcc[pos]! & 0x1f) === false) return;
    pos += len;
  }
}

/** True if the access unit contains an IDR slice. */
export function isIdrAccessUnit(avcc: Uint8Array, nalLengthSize: number): boolean {
  let idr = false;
  forEachNal(avcc, nalLengthSize, (_nal, type) => {
    if (type === NalType.idr) idr = true;
    return !idr;
  });
  return idr;
}

/**
 * Convert a length-prefixed access unit to Annex B with 4-byte start codes.
 *
 * `prepend` NAL units (typically the SPS and PPS, passed for keyframes so a
 * decoder can join at any of them) go after a leading access unit delimiter,
 * which must stay first; they are left out when the access unit already
 * carries an SPS or PPS of its own. Validates framing in a first pass, then
 * writes into one buffer of exactly the final size.
 */
export function avccToAnnexB(data: Uint8Array, nalLengthSize: number, prepend?: readonly Uint8Array[]): Uint8Array {
  return lengthPrefixedToAnnexB(data, nalLengthSize, prepend, h264NalRole);
}

/** What `lengthPrefixedToAnnexB` needs to know of a NAL unit, from its first byte. */
export type NalRole = 'parameter-set' | 'delimiter' | 'other';

function h264NalRole(firstByte: number): NalRole {
  const type = firstByte & 0x1f;
  return type === NalType.sps || type === NalType.pps ? 'parameter-set' : type === NalType.aud ? 'delimiter' : 'other';
}

/** `avccToAnnexB` for any NAL-unit codec: `role` reads its NAL header (H.264 and HEVC number their types differently). */
export function lengthPrefixedToAnnexB(data: Uint8Array, nalLengthSize: number, prepend: readonly Uint8Array[] | undefined, role: (firstByte: number) => NalRole): Uint8Array {
  checkLengthSize(nalLengthSize);
  // Pass 1: validate framing and size the output, without creating views.
  let size = 0;
  let hasParameterSets = false;
  let leadingAud = false;
  let first = true;
  for (let pos = 0; pos < data.length; ) {
    if (pos + nalLengthSize > data.length) {
      throw new H264Error(`AVCC truncated: ${data.length - pos} byte(s) left at offset ${pos}, need a ${nalLengthSize}-byte length`);
    }
    const len = readLength(data, pos, nalLengthSize);
    pos += nalLengthSize;
    if (len > data.length - pos) {
      throw new H264Error(`AVCC truncated: NAL unit at offset ${pos} declares ${len} byte(s), only ${data.length - pos} left`);
    }
    if (len > 0) {
      const kind = role(data[pos]!);
      if (kind === 'parameter-set') hasParameterSets = true;
      if (first && kind === 'delimiter') leadingAud = true;
      first = false;
      size += 4 + len;
    }
    pos += len;
  }
  const extra = prepend !== undefined && !hasParameterSets ? prepend : undefined;
  if (extra) for (const nal of extra) if (nal.length > 0) size += 4 + nal.length;

  // Pass 2: copy. The buffer starts zeroed, so a start code only needs its final 0x01.
  const out = new Uint8Array(size);
  let o = 0;
  const putExtra = () => {
    for (const nal of extra!) {
      if (nal.length === 0) continue;
      out[o + 3] = 1;
      out.set(nal, o + 4);
      o += 4 + nal.length;
    }
  };
  let pendingExtra = extra !== undefined;
  if (pendingExtra && !leadingAud) {
    putExtra();
    pendingExtra = false;
  }
  for (let pos = 0; pos < data.length; ) {
    const len = readLength(data, pos, nalLengthSize);
    pos += nalLengthSize;
    if (len > 0) {
      out[o + 3] = 1;
      out.set(data.subarray(pos, pos + len), o + 4);
      o += 4 + len;
      if (pendingExtra) {
        putExtra(); // right after the access unit delimiter
        pendingExtra = false;
      }
    }
    pos += len;
  }
  return out;
}

/**
 * Split an Annex B byte stream into NAL units (views). Accepts 3- and 4-byte
 * start codes; bytes before the first start code and trailing zero bytes
 * (trailing_zero_8bits, §B.1) are dropped.
 */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let start = -1; // first byte of the current NAL unit
  let i = 0;
  const n = data.length;
  while (i + 2 < n) {
    // A start code's third byte is 1, so anything above 1 lets us jump ahead.
    const b2 = data[i + 2]!;
    if (b2 > 1) {
      i += 3;
      continue;
    }
    if (b2 === 1 && data[i] === 0 && data[i + 1] === 0) {
      if (start >= 0) pushNal(nals, data, start, i);
      i += 3;
      start = i;
      continue;
    }
    i++;
  }
  if (start >= 0) pushNal(nals, data, start, n);
  return nals;
}

function pushNal(nals: Uint8Array[], data: Uint8Array, start: number, end: number): void {
  while (end > start && data[end - 1] === 0) end--;
  if (end > start) nals.push(data.subarray(start, end));
}

/**
 * Convert Annex B to length-prefixed NAL units (4-byte lengths by default).
 * NAL units whose type is in `omit` are left out: the parameter sets, say,
 * for an `avc1` decoder that has them from its `avcC` already. `typeOf`
 * reads the type from a NAL unit's first byte: H.264's by default, HEVC's
 * for HEVC (`hevcNalTypeOfByte`).
 */
export function annexBToAvcc(data: Uint8Array, nalLengthSize = 4, omit?: ReadonlySet<number>, typeOf: (firstByte: number) => number = (b) => b & 0x1f): Uint8Array {
  checkLengthSize(nalLengthSize);
  const all = splitAnnexB(data);
  const nals = omit ? all.filter((nal) => !omit.has(typeOf(nal[0]!))) : all;
  const max = nalLengthSize === 4 ? 0xffffffff : 2 ** (8 * nalLengthSize) - 1;
  let size = 0;
  for (const nal of nals) {
    if (nal.length > max) throw new H264Error(`NAL unit of ${nal.length} bytes does not fit a ${nalLengthSize}-byte length`);
    size += nalLengthSize + nal.length;
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const nal of nals) {
    const len = nal.length;
    for (let k = nalLengthSize - 1; k >= 0; k--) out[o + nalLengthSize - 1 - k] = Math.floor(len / 2 ** (8 * k)) & 0xff;
    out.set(nal, o + nalLengthSize);
    o += nalLengthSize + len;
  }
  return out;
}
