/**
 * AV1 decoder configuration: the AV1CodecConfigurationRecord (`av1C`,
 * AV1-ISOBMFF §2.3) that enhanced RTMP and MP4 carry, the sequence header
 * OBU inside it (AV1 spec §5.5) for the picture size, and the codec string
 * `av01.P.LLT.DD` (AV1-ISOBMFF "Codecs Parameter String").
 */

import type { Av1TrackInfo } from '../stream/types.js';
import { BitReader, BitstreamError } from './bits.js';

export class Av1Error extends Error {
  override readonly name = 'Av1Error';
}

export const ObuType = { sequenceHeader: 1, temporalDelimiter: 2, frameHeader: 3, tileGroup: 4, metadata: 5, frame: 6, padding: 15 } as const;

export interface Av1Config {
  readonly seqProfile: number;
  readonly seqLevelIdx0: number;
  readonly seqTier0: number;
  readonly bitDepth: 8 | 10 | 12;
  readonly monochrome: boolean;
  readonly chromaSubsamplingX: number;
  readonly chromaSubsamplingY: number;
  /** configOBUs: the sequence header OBU (and maybe metadata OBUs). */
  readonly configObus: Uint8Array;
}

export interface Av1SequenceHeader {
  readonly seqProfile: number;
  readonly seqLevelIdx0: number;
  readonly seqTier0: number;
  readonly maxWidth: number;
  readonly maxHeight: number;
}

export interface Obu {
  readonly type: number;
  /** The whole OBU, header included. */
  readonly obu: Uint8Array;
  /** The OBU's payload (after header and size field). */
  readonly payload: Uint8Array;
}

/** Parse an AV1CodecConfigurationRecord. Throws `Av1Error` when malformed. */
export function parseAv1Config(av1C: Uint8Array): Av1Config {
  if (av1C.length < 4) throw new Av1Error(`av1C too short: ${av1C.length} byte(s), need 4`);
  if (av1C[0] !== 0x81) throw new Av1Error(`av1C marker/version byte is 0x${av1C[0]!.toString(16)}, expected 0x81`);
  const b1 = av1C[1]!;
  const b2 = av1C[2]!;
  const seqProfile = b1 >> 5;
  const highBitdepth = (b2 >> 6) & 1;
  const twelveBit = (b2 >> 5) & 1;
  return {
    seqProfile,
    seqLevelIdx0: b1 & 0x1f,
    seqTier0: b2 >> 7,
    bitDepth: highBitdepth ? (seqProfile === 2 && twelveBit ? 12 : 10) : 8,
    monochrome: ((b2 >> 4) & 1) === 1,
    chromaSubsamplingX: (b2 >> 3) & 1,
    chromaSubsamplingY: (b2 >> 2) & 1,
    configObus: av1C.subarray(4),
  };
}

/** leb128 (AV1 §4.10.5): at most 8 bytes, value below 2^32 as the spec requires. */
function readLeb128(b: Uint8Array, at: number): { value: number; size: number } {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    if (at + i >= b.length) throw new Av1Error('OBU size field truncated');
    const byte = b[at + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) {
      if (value > 0xffffffff) throw new Av1Error('OBU size above 2^32 - 1');
      return { value, size: i + 1 };
    }
  }
  throw new Av1Error('OBU size field longer than 8 bytes');
}

/**
 * Split low-overhead OBUs (each with obu_has_size_field). An OBU without a
 * size field is only allowed last, and then spans the rest of the buffer.
 */
export function splitObus(data: Uint8Array): Obu[] {
  const out: Obu[] = [];
  let p = 0;
  while (p < data.length) {
    const header = data[p]!;
    if (header & 0x80) throw new Av1Error(`OBU forbidden bit set at offset ${p}`);
    const type = (header >> 3) & 0x0f;
    const headerSize = header & 0x04 ? 2 : 1;
    if (p + headerSize > data.length) throw new Av1Error('OBU header truncated');
    let payloadStart = p + headerSize;
    let payloadSize: number;
    if (header & 0x02) {
      const leb = readLeb128(data, payloadStart);
      payloadStart += leb.size;
      payloadSize = leb.value;
    } else {
      payloadSize = data.length - payloadStart;
    }
    const end = payloadStart + payloadSize;
    if (end > data.length) throw new Av1Error(`OBU of ${payloadSize} byte(s) overruns its buffer (${data.length - payloadStart} left)`);
    out.push({ type, obu: data.subarray(p, end), payload: data.subarray(payloadStart, end) });
    p = end;
  }
  return out;
}

function skipUvlc(r: BitReader): void {
  let leadingZeros = 0;
  while (!r.readFlag()) leadingZeros++;
  // AV1 §4.10.3: 32 or more zeros mean the maximum value, with no value bits.
  if (leadingZeros < 32) r.skipBits(leadingZeros);
}

/** The fields of a sequence header OBU payload (AV1 §5.5.1) up to the maximum frame size. */
export function parseSequenceHeader(payload: Uint8Array): Av1SequenceHeader {
  try {
    const r = new BitReader(payload);
    const seqProfile = r.readBits(3);
    if (seqProfile > 2) throw new Av1Error(`seq_profile ${seqProfile} is reserved`);
    r.skipBits(1); // still_picture
    const reduced = r.readFlag();
    let seqLevelIdx0: number;
    let seqTier0 = 0;
    if (reduced) {
      seqLevelIdx0 = r.readBits(5);
    } else {
      let decoderModelInfo = false;
      let bufferDelayLength = 0;
      if (r.readFlag()) {
        // timing_info
        r.skipBits(64);
        if (r.readFlag()) skipUvlc(r);
        decoderModelInfo = r.readFlag();
        if (decoderModelInfo) {
          bufferDelayLength = r.readBits(5) + 1;
          r.skipBits(32 + 5 + 5);
        }
      }
      const initialDisplayDelay = r.readFlag();
      const operatingPoints = r.readBits(5) + 1;
      seqLevelIdx0 = 0;
      for (let i = 0; i < operatingPoints; i++) {
        r.skipBits(12); // operating_point_idc
        const level = r.readBits(5);
        const tier = level > 7 ? r.readBit() : 0;
        if (i === 0) [seqLevelIdx0, seqTier0] = [level, tier];
        if (decoderModelInfo && r.readFlag()) r.skipBits(2 * bufferDelayLength + 1);
        if (initialDisplayDelay && r.readFlag()) r.skipBits(4);
      }
    }
    const widthBits = r.readBits(4) + 1;
    const heightBits = r.readBits(4) + 1;
    const maxWidth = r.readBits(widthBits) + 1;
    const maxHeight = r.readBits(heightBits) + 1;
    return { seqProfile, seqLevelIdx0, seqTier0, maxWidth, maxHeight };
  } catch (err) {
    if (err instanceof BitstreamError) throw new Av1Error(`sequence header: ${err.message}`);
    throw err;
  }
}

/** The first sequence header in a run of OBUs, if any. */
export function findSequenceHeader(obus: Uint8Array): Av1SequenceHeader | undefined {
  const seq = splitObus(obus).find((o) => o.type === ObuType.sequenceHeader);
  return seq && parseSequenceHeader(seq.payload);
}

const two = (n: number) => String(n).padStart(2, '0');

/** `av01.P.LLT.DD`, the short form (the colour fields default to what nearly every encoder uses). */
export function av1CodecString(c: Pick<Av1Config, 'seqProfile' | 'seqLevelIdx0' | 'seqTier0' | 'bitDepth'>): string {
  return `av01.${c.seqProfile}.${two(c.seqLevelIdx0)}${c.seqTier0 ? 'H' : 'M'}.${two(c.bitDepth)}`;
}

/**
 * Track description from an av1C record whose configOBUs carry the sequence
 * header (enhanced RTMP and MP4 writers put it there). Throws `Av1Error`.
 */
export function av1TrackInfo(av1C: Uint8Array): Av1TrackInfo {
  const config = parseAv1Config(av1C);
  const seq = findSequenceHeader(config.configObus);
  if (seq === undefined) throw new Av1Error('av1C carries no sequence header OBU');
  if (seq.seqProfile !== config.seqProfile) {
    throw new Av1Error(`av1C says profile ${config.seqProfile}, its sequence header ${seq.seqProfile}`);
  }
  return {
    kind: 'video',
    codec: 'av1',
    codecString: av1CodecString(config),
    width: seq.maxWidth,
    height: seq.maxHeight,
    av1C: av1C.slice(),
  };
}

/**
 * A temporal unit as MP4 samples and WebCodecs want it: without temporal
 * delimiters (and padding), which AV1-ISOBMFF §2.4 says samples must not carry.
 * Returns the input itself when there is nothing to drop.
 */
export function stripTemporalDelimiters(tu: Uint8Array): Uint8Array {
  const obus = splitObus(tu);
  const keep = obus.filter((o) => o.type !== ObuType.temporalDelimiter && o.type !== ObuType.padding);
  if (keep.length === obus.length) return tu;
  const out = new Uint8Array(keep.reduce((n, o) => n + o.obu.length, 0));
  let p = 0;
  for (const o of keep) {
    out.set(o.obu, p);
    p += o.obu.length;
  }
  return out;
}

/** True when a temporal unit holds a sequence header, which every AV1 keyframe an encoder emits for random access carries. */
export function hasSequenceHeader(tu: Uint8Array): boolean {
  return splitObus(tu).some((o) => o.type === ObuType.sequenceHeader);
}
