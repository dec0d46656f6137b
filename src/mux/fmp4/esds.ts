/**
 * The MPEG-4 elementary stream descriptor carried in `esds` (ISO/IEC 14496-14 §3.1.2,
 * descriptors from 14496-1 §7.2.6): it is the only place an MP4 file keeps the
 * AudioSpecificConfig that an AAC decoder needs before the first frame.
 */

import { fields, raw, type Chunk } from './boxes.js';

const ES_DESCRIPTOR_TAG = 0x03;
const DECODER_CONFIG_TAG = 0x04;
const DECODER_SPECIFIC_INFO_TAG = 0x05;
const SL_CONFIG_TAG = 0x06;

/** objectTypeIndication for ISO/IEC 14496-3 audio (the AOT itself lives in the ASC). */
const OTI_MPEG4_AUDIO = 0x40;
/** streamType 0x05 (audio) in the top six bits, upStream 0, reserved bit 1. */
const STREAM_TYPE_AUDIO_BYTE = (0x05 << 2) | 0x01;
/** SLConfigDescriptor predefined value reserved for MP4 files (14496-14 §3.1.2). */
const SL_PREDEFINED_MP4 = 0x02;

/** Bytes taken by an expandable size field: 7 bits per byte (14496-1 §8.3.3). */
function lengthFieldSize(length: number): number {
  let n = 1;
  while (length >= 2 ** (7 * n)) n++;
  return n;
}

/** A descriptor: tag, minimal-length size field, then its body. */
function descriptor(tag: number, body: readonly Chunk[]): Chunk {
  let bodySize = 0;
  for (const c of body) bodySize += c.size;
  const lenBytes = lengthFieldSize(bodySize);
  return {
    size: 1 + lenBytes + bodySize,
    write(w) {
      w.u8(tag);
      for (let i = lenBytes - 1; i >= 0; i--) {
        const septet = Math.floor(bodySize / 2 ** (7 * i)) & 0x7f;
        w.u8(i > 0 ? septet | 0x80 : septet);
      }
      for (const c of body) c.write(w);
    },
  };
}

/** Body of the `esds` full box (the caller adds the box header). */
export function esDescriptor(audioSpecificConfig: Uint8Array): Chunk {
  const decoderConfig = descriptor(DECODER_CONFIG_TAG, [
    fields(13, (w) => {
      w.u8(OTI_MPEG4_AUDIO);
      w.u8(STREAM_TYPE_AUDIO_BYTE);
      // bufferSizeDB and both bitrates are advisory; 0 declares them unknown,
      // which is the truth for a live stream whose encoder we do not control.
      w.u24(0);
      w.u32(0);
      w.u32(0);
    }),
    descriptor(DECODER_SPECIFIC_INFO_TAG, [raw(audioSpecificConfig)]),
  ]);
  return descriptor(ES_DESCRIPTOR_TAG, [
    // ES_ID 0: MP4 files identify streams by track, and 14496-14 asks for 0 when stored.
    // Then streamDependenceFlag, URL_Flag, OCRstreamFlag and priority, all zero.
    fields(3, (w) => { w.u16(0); w.u8(0); }),
    decoderConfig,
    descriptor(SL_CONFIG_TAG, [fields(1, (w) => w.u8(SL_PREDEFINED_MP4))]),
  ]);
}
