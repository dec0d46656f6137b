/**
 * AAC in MPEG-TS travels as ADTS (ISO/IEC 14496-3 §1.A.2): each raw frame
 * behind a 7-byte header (9 with CRC) that also says what an
 * AudioSpecificConfig would.
 */
import { AAC_SAMPLE_RATES } from '../../codec/aac.js';

export interface AdtsFrame {
  /** AudioSpecificConfig built from the header (object type, rate index, channels). */
  readonly asc: Uint8Array;
  readonly sampleRate: number;
  /** One raw_data_block: ADTS with several blocks per frame is not produced by live encoders. */
  readonly data: Uint8Array;
}

/** Splits a PES payload into ADTS frames; stops with a reason at the first malformed header. */
export function splitAdts(data: Uint8Array): { frames: AdtsFrame[]; problem?: string } {
  const frames: AdtsFrame[] = [];
  let pos = 0;
  while (pos + 7 <= data.length) {
    if (data[pos] !== 0xff || (data[pos + 1]! & 0xf0) !== 0xf0) return { frames, problem: 'ADTS sync word missing' };
    const protectionAbsent = data[pos + 1]! & 0x01;
    const profile = data[pos + 2]! >> 6;
    const rateIndex = (data[pos + 2]! >> 2) & 0x0f;
    const channels = ((data[pos + 2]! & 0x01) << 2) | (data[pos + 3]! >> 6);
    const frameLength = ((data[pos + 3]! & 0x03) << 11) | (data[pos + 4]! << 3) | (data[pos + 5]! >> 5);
    const blocks = (data[pos + 6]! & 0x03) + 1;
    const headerLength = protectionAbsent ? 7 : 9;
    const sampleRate = AAC_SAMPLE_RATES[rateIndex];
    if (sampleRate === undefined) return { frames, problem: `ADTS sampling frequency index ${rateIndex}` };
    if (frameLength < headerLength || pos + frameLength > data.length) return { frames, problem: 'ADTS frame runs past the PES' };
    if (blocks !== 1) return { frames, problem: `ADTS frame with ${blocks} raw data blocks` };
    const objectType = profile + 1;
    const asc = new Uint8Array([(objectType << 3) | (rateIndex >> 1), ((rateIndex & 1) << 7) | (channels << 3)]);
    frames.push({ asc, sampleRate, data: data.subarray(pos + headerLength, pos + frameLength) });
    pos += frameLength;
  }
  return { frames };
}
