/**
 * Builds an HEVCDecoderConfigurationRecord (ISO 14496-15 §8.3.3) from the
 * parameter sets an Annex B stream carries in band (MPEG-TS over SRT), so
 * such a track is described like one that arrived with its hvcC.
 */
import { removeEmulationPrevention } from './bits.js';
import { HevcError, HevcNalType, hevcNalType, parseHevcSps } from './hevc.js';

/** The SPS's general profile_tier_level: 12 byte-aligned bytes after its first RBSP byte (H.265 §7.3.3). */
const PTL_BYTES = 12;

export function buildHevcDecoderConfig(vps: readonly Uint8Array[], sps: readonly Uint8Array[], pps: readonly Uint8Array[]): Uint8Array {
  const first = sps[0];
  if (first === undefined || vps.length === 0 || pps.length === 0) throw new HevcError('hvcC needs a VPS, an SPS and a PPS');
  const rbsp = removeEmulationPrevention(first.subarray(2, 2 + 1 + PTL_BYTES + 8));
  if (rbsp.length < 1 + PTL_BYTES) throw new HevcError('SPS too short for its profile_tier_level');
  const maxSubLayersMinus1 = (rbsp[0]! >> 1) & 0x7;
  const temporalIdNested = rbsp[0]! & 0x1;
  const { chromaFormat, bitDepthLuma } = parseHevcSps(first);
  const arrays: Array<[number, readonly Uint8Array[]]> = [
    [HevcNalType.vps, vps],
    [HevcNalType.sps, sps],
    [HevcNalType.pps, pps],
  ];
  let size = 23;
  for (const [type, nals] of arrays) {
    size += 3;
    for (const nal of nals) {
      if (hevcNalType(nal) !== type) throw new HevcError(`expected NAL type ${type}, got ${hevcNalType(nal)}`);
      if (nal.length > 0xffff) throw new HevcError(`parameter set of ${nal.length} bytes cannot go in hvcC`);
      size += 2 + nal.length;
    }
  }
  const out = new Uint8Array(size);
  out[0] = 1;
  out.set(rbsp.subarray(1, 1 + PTL_BYTES), 1);
  out[13] = 0xf0; // min_spatial_segmentation_idc 0: unknown
  out[14] = 0x00;
  out[15] = 0xfc; // parallelismType 0: unknown
  out[16] = 0xfc | chromaFormat;
  out[17] = 0xf8 | (bitDepthLuma - 8);
  // The SPS says the chroma depth too, but every profile a browser decodes has it equal to luma's; decoders read the SPS.
  out[18] = 0xf8 | (bitDepthLuma - 8);
  out[19] = 0; // avgFrameRate unknown
  out[20] = 0;
  out[21] = ((maxSubLayersMinus1 + 1) << 3) | (temporalIdNested << 2) | 3; // 4-byte NAL lengths
  out[22] = arrays.length;
  let pos = 23;
  for (const [type, nals] of arrays) {
    out[pos++] = 0x80 | type; // array_completeness: every set is in the record
    out[pos++] = nals.length >> 8;
    out[pos++] = nals.length & 0xff;
    for (const nal of nals) {
      out[pos++] = nal.length >> 8;
      out[pos++] = nal.length & 0xff;
      out.set(nal, pos);
      pos += nal.length;
    }
  }
  return out;
}
