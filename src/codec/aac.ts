/**
 * AAC configuration: the AudioSpecificConfig RTMP publishers send as their
 * audio sequence header (ISO 14496-3 §1.6.2.1), and ADTS headers (§1.A.2)
 * for tools that want a self-describing AAC stream, such as ffmpeg.
 */

import type { AacTrackInfo } from '../stream/types.js';
import { BitReader, BitstreamError } from './bits.js';

export class AacError extends Error {
  override readonly name = 'AacError';
}

export interface AacConfig {
  /**
   * Audio object type of the core codec (2 = AAC-LC). For explicitly
   * signalled SBR/PS (HE-AAC v1/v2) this is the underlying core type, and
   * `sampleRate` is the core rate: that is what frame timing runs on.
   */
  readonly objectType: number;
  readonly sampleRate: number;
  readonly channels: number;
  readonly samplesPerFrame: number;
  /** `mp4a.40.<objectType>` */
  readonly codecString: string;
}

/** Table 1.18, samplingFrequencyIndex 0..12 (13 and 14 are reserved, 15 escapes). */
export const AAC_SAMPLE_RATES: readonly number[] = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

// channelConfiguration → channel count (Table 1.19, with the 2013 additions 11–14).
const CHANNELS_BY_CONFIG: Readonly<Record<number, number>> = {
  1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8,
};

// Object types whose config is a GASpecificConfig (frame length flag, optional PCE).
const GA_OBJECT_TYPES = new Set([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23]);

const SBR = 5;
const PS = 29;

function readObjectType(r: BitReader): number {
  const aot = r.readBits(5);
  return aot === 31 ? 32 + r.readBits(6) : aot;
}

function readSampleRate(r: BitReader): number {
  const index = r.readBits(4);
  if (index === 15) {
    const rate = r.readBits(24);
    if (rate === 0) throw new AacError('AudioSpecificConfig: explicit sampling frequency is 0');
    return rate;
  }
  const rate = AAC_SAMPLE_RATES[index];
  if (rate === undefined) throw new AacError(`AudioSpecificConfig: reserved samplingFrequencyIndex ${index}`);
  return rate;
}

/** Parse an AudioSpecificConfig. Throws `AacError` on truncated or unsupported input. */
export function parseAudioSpecificConfig(asc: Uint8Array): AacConfig {
  if (asc.length < 2) throw new AacError(`AudioSpecificConfig truncated: ${asc.length} byte(s), need at least 2`);
  const r = new BitReader(asc);
  try {
    return readAsc(r);
  } catch (err) {
    if (err instanceof BitstreamError) throw new AacError(`AudioSpecificConfig: ${err.message}`);
    throw err;
  }
}

function readAsc(r: BitReader): AacConfig {
  let objectType = readObjectType(r);
  if (objectType === 0) throw new AacError('AudioSpecificConfig: audio object type 0 is invalid');
  let sampleRate = readSampleRate(r);
  const channelConfig = r.readBits(4);
  if (objectType === SBR || objectType === PS) {
    // Explicit hierarchical signalling: the extension rate, then the core object type.
    readSampleRate(r);
    objectType = readObjectType(r);
    if (objectType === 22) r.readBits(4); // extensionChannelConfiguration (ER BSAC)
  }

  let samplesPerFrame = 1024;
  let channels: number | undefined = CHANNELS_BY_CONFIG[channelConfig];
  if (GA_OBJECT_TYPES.has(objectType)) {
    const frameLengthFlag = r.readFlag();
    if (objectType === 23) samplesPerFrame = frameLengthFlag ? 480 : 512; // AAC-LD
    else samplesPerFrame = frameLengthFlag ? 960 : 1024;
    if (r.readFlag()) r.skipBits(14); // dependsOnCoreCoder → coreCoderDelay
    r.skipBits(1); // extensionFlag; what follows it does not affect the fields we report
    if (channelConfig === 0) channels = readPceChannels(r);
  } else if (channelConfig === 0) {
    throw new AacError(`AudioSpecificConfig: channelConfiguration 0 with object type ${objectType} is not supported`);
  }
  if (channels === undefined) throw new AacError(`AudioSpecificConfig: reserved channelConfiguration ${channelConfig}`);
  if (channels === 0) throw new AacError('AudioSpecificConfig: program config element declares no channels');

  return { objectType, sampleRate, channels, samplesPerFrame, codecString: `mp4a.40.${objectType}` };
}

/** Count output channels declared by a program_config_element (Table 4.2). */
function readPceChannels(r: BitReader): number {
  r.skipBits(4 + 2 + 4); // element_instance_tag, object_type, sampling_frequency_index
  const front = r.readBits(4);
  const side = r.readBits(4);
  const back = r.readBits(4);
  const lfe = r.readBits(2);
  r.skipBits(3 + 4); // num_assoc_data_elements, num_valid_cc_elements
  if (r.readFlag()) r.skipBits(4); // mono_mixdown_element_number
  if (r.readFlag()) r.skipBits(4); // stereo_mixdown_element_number
  if (r.readFlag()) r.skipBits(3); // matrix_mixdown_idx, pseudo_surround_enable
  let channels = lfe;
  for (let i = 0; i < front + side + back; i++) {
    const isCpe = r.readFlag();
    r.skipBits(4); // element_tag_select
    channels += isCpe ? 2 : 1;
  }
  return channels;
}

/** Track description for an AAC AudioSpecificConfig. Throws `AacError` if unusable. */
export function aacTrackInfo(asc: Uint8Array): AacTrackInfo {
  const config = parseAudioSpecificConfig(asc);
  return {
    kind: 'audio',
    codec: 'aac',
    codecString: config.codecString,
    sampleRate: config.sampleRate,
    channels: config.channels,
    samplesPerFrame: config.samplesPerFrame,
    asc: asc.slice(),
  };
}

export const ADTS_HEADER_SIZE = 7;

/**
 * The 7-byte ADTS header (no CRC) to put before one raw AAC frame of
 * `payloadLength` bytes. ADTS can only express object types 1–4, the table
 * sample rates and channel configurations 1–7, so anything else throws.
 */
export function buildAdtsHeader(
  info: Pick<AacConfig, 'objectType' | 'sampleRate' | 'channels'>,
  payloadLength: number,
): Uint8Array {
  const { objectType, sampleRate, channels } = info;
  if (objectType < 1 || objectType > 4) throw new AacError(`ADTS cannot carry audio object type ${objectType}`);
  const freqIndex = AAC_SAMPLE_RATES.indexOf(sampleRate);
  if (freqIndex < 0) throw new AacError(`ADTS cannot carry sample rate ${sampleRate} Hz`);
  if (!((channels >= 1 && channels <= 6) || channels === 8)) throw new AacError(`ADTS cannot carry ${channels} channel(s)`);
  const channelConfig = channels === 8 ? 7 : channels;
  const frameLength = ADTS_HEADER_SIZE + payloadLength;
  if (!Number.isInteger(payloadLength) || payloadLength < 0 || frameLength > 0x1fff) {
    throw new AacError(`ADTS frame length ${frameLength} out of range (max 8191)`);
  }
  const profile = objectType - 1;
  const h = new Uint8Array(ADTS_HEADER_SIZE);
  h[0] = 0xff;
  h[1] = 0xf1; // syncword low bits, MPEG-4, layer 0, protection_absent
  h[2] = (profile << 6) | (freqIndex << 2) | (channelConfig >> 2);
  h[3] = ((channelConfig & 3) << 6) | (frameLength >> 11);
  h[4] = (frameLength >> 3) & 0xff;
  h[5] = ((frameLength & 7) << 5) | 0x1f; // buffer fullness 0x7ff: variable bitrate
  h[6] = 0xfc; // rest of buffer fullness, one raw data block
  return h;
}
