/**
 * Whether a frame's bytes are framed as its track says, checked once where
 * frames enter a stream: every transport then relies on it (the ws-nal
 * writer, the fMP4 muxer, the JPEG decoder all walk NAL lengths or OBU
 * sizes). A publisher or an origin that sends a bad one loses that frame,
 * with a reason; its readers never see it.
 *
 * Only framing is checked (lengths that fit), not the codec syntax inside:
 * that is the decoder's business, and cheap to get wrong here.
 */
import { splitObus } from '../codec/av1.js';
import type { TrackInfo } from './types.js';

export function framingError(track: TrackInfo, data: Uint8Array): string | undefined {
  if (data.length === 0) return 'empty frame';
  switch (track.codec) {
    case 'h264':
    case 'h265':
      return lengthPrefixedError(data, track.nalLengthSize);
    case 'av1':
      try {
        splitObus(data);
        return undefined;
      } catch (err) {
        return `AV1 temporal unit: ${(err as Error).message}`;
      }
    case 'vp9':
    case 'aac':
    case 'opus':
      return undefined;
  }
}

function lengthPrefixedError(data: Uint8Array, lengthSize: number): string | undefined {
  let pos = 0;
  while (pos < data.length) {
    if (pos + lengthSize > data.length) return `NAL units truncated: ${data.length - pos} byte(s) left at offset ${pos}, need a ${lengthSize}-byte length`;
    let len = 0;
    for (let i = 0; i < lengthSize; i++) len = len * 256 + data[pos + i]!;
    pos += lengthSize;
    if (len > data.length - pos) return `NAL units truncated: the one at offset ${pos} declares ${len} byte(s), only ${data.length - pos} left`;
    pos += len;
  }
  return undefined;
}
