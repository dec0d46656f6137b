/**
 * Aggregate messages (Adobe RTMP 1.0 §7.1.6): FLV tags back to back, each
 * followed by its back pointer. Their timestamps are relative to the first
 * one's, and the message's own timestamp places the first.
 */
import { MessageType, type RtmpMessage } from './chunk-reader.js';
import { RtmpProtocolError } from './errors.js';

/** Calls `media` with each audio, video and AMF0 data sub-message, in order; other types are skipped. */
export function forEachAggregated(m: RtmpMessage, media: (type: number, timestamp: number, body: Buffer) => void): void {
  const b = m.payload;
  let off = 0;
  let base: number | undefined;
  while (off + 11 <= b.length) {
    const type = b[off]! & 0x1f;
    const size = b.readUIntBE(off + 1, 3);
    const ts = b[off + 7]! * 0x1000000 + b.readUIntBE(off + 4, 3);
    if (off + 11 + size > b.length) throw new RtmpProtocolError('malformed-chunk', `aggregate message: sub-message of ${size} bytes past its end`);
    base ??= ts;
    if (type === MessageType.audio || type === MessageType.video || type === MessageType.dataAmf0) {
      media(type, (m.timestamp + ts - base) >>> 0, b.subarray(off + 11, off + 11 + size));
    }
    off += 11 + size + 4;
  }
}
