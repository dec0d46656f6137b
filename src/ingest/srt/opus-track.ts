/**
 * An Opus track as MPEG-TS describes it: no identification header travels in
 * TS, only the channel configuration in the PMT's extension descriptor, so
 * the identification header WebCodecs and MP4 need is written here.
 */
import { opusTrackInfo } from '../../codec/opus.js';
import type { ElementaryStreamInfo } from '../../protocols/mpegts/psi.js';
import type { OpusTrackInfo } from '../../stream/types.js';

const EXTENSION_DESCRIPTOR = 0x7f;
const OPUS_EXTENSION_TAG = 0x80;

/** The track, or why it cannot be carried. */
export function opusTrackFromTs(info: ElementaryStreamInfo): OpusTrackInfo | string {
  const ext = info.descriptors.find((d) => d.tag === EXTENSION_DESCRIPTOR && d.body[0] === OPUS_EXTENSION_TAG);
  // Without the descriptor, decoders assume stereo (as ffmpeg does).
  const code = ext?.body[1] ?? 2;
  if (code !== 1 && code !== 2) return `Opus channel configuration 0x${code.toString(16)} is not carried: mono and stereo are`;
  const channels = code;
  // TS signals the encoder delay as the first packet's start trim, not as a pre-skip; 0 costs at most a few ms of warm-up sound.
  const preSkip = 0;
  const inputSampleRate = 48000;
  const opusHead = new Uint8Array(19);
  opusHead.set(new TextEncoder().encode('OpusHead'));
  opusHead[8] = 1; // version
  opusHead[9] = channels;
  const head = new DataView(opusHead.buffer);
  head.setUint16(10, preSkip, true);
  head.setUint32(12, inputSampleRate, true);
  // Output gain 0 and channel mapping family 0 (mono or stereo): the bytes are already zero.
  return opusTrackInfo(opusHead);
}
