import { avccToAnnexB } from '../../src/codec/h264.js';
import { serializeOnce, type Frame, type H264TrackInfo } from '../../src/stream/types.js';
import { FLAG_DISCONTINUITY, FLAG_KEYFRAME, MEDIA_HEADER_SIZE, MSG_AUDIO, MSG_VIDEO, writeMediaHeader } from '../../src/protocols/ws-nal/media-header.js';
import { writeWsBinaryHeader, wsHeaderLength } from './protocol.js';

/**
 * Builds the complete WebSocket frame (RFC 6455 header + media header +
 * payload) for a frame, once per frame whatever the number of viewers:
 * server-to-client frames are unmasked, so every viewer gets the same bytes
 * and each socket gets one write.
 */
export function encodeMediaFrame(frame: Frame, video: H264TrackInfo | undefined, discontinuity: boolean): Buffer {
  const key = discontinuity ? 'ws-nal:d' : 'ws-nal';
  return serializeOnce(frame, key, (f) => build(f, video, discontinuity));
}

function build(frame: Frame, video: H264TrackInfo | undefined, discontinuity: boolean): Buffer {
  let payload: Uint8Array;
  if (frame.kind === 'video') {
    // SPS/PPS ahead of every IDR lets a decoder (re)start at any keyframe.
    payload = avccToAnnexB(frame.data, video?.nalLengthSize ?? 4, frame.key && video ? [...video.sps, ...video.pps] : undefined);
  } else {
    payload = frame.data;
  }
  const messageLength = MEDIA_HEADER_SIZE + payload.byteLength;
  const out = Buffer.allocUnsafe(wsHeaderLength(messageLength) + messageLength);
  const at = writeWsBinaryHeader(out, messageLength);
  const flags = (frame.key && frame.kind === 'video' ? FLAG_KEYFRAME : 0) | (discontinuity ? FLAG_DISCONTINUITY : 0);
  writeMediaHeader(out, at, frame.kind === 'video' ? MSG_VIDEO : MSG_AUDIO, flags, frame.pts, frame.dts, frame.receivedAt * 1000);
  out.set(payload, at + MEDIA_HEADER_SIZE);
  return out;
}
