import { avccToAnnexB } from '../../src/codec/h264.js';
import { hevcToAnnexB } from '../../src/codec/hevc.js';
import { serializeOnce, type Frame, type VideoTrackInfo } from '../../src/stream/types.js';
import { FLAG_DISCONTINUITY, FLAG_KEYFRAME, MEDIA_HEADER_SIZE, MSG_AUDIO, MSG_VIDEO, writeMediaHeader } from '../../src/protocols/ws-nal/media-header.js';
import { writeWsBinaryHeader, wsHeaderLength } from './protocol.js';

/**
 * Builds the complete WebSocket frame (RFC 6455 header + media header +
 * payload) for a frame, once per frame whatever the number of viewers:
 * server-to-client frames are unmasked, so every viewer gets the same bytes
 * and each socket gets one write.
 */
export function encodeMediaFrame(frame: Frame, video: VideoTrackInfo | undefined, discontinuity: boolean): Buffer {
  const key = discontinuity ? 'ws-nal:d' : 'ws-nal';
  return serializeOnce(frame, key, (f) => build(f, video, discontinuity));
}

/** The ws-nal message of `frame` without its WebSocket header: what a viewer's `message` event would hold. */
export function encodeMediaMessage(frame: Frame, video: VideoTrackInfo | undefined): Buffer {
  const framed = encodeMediaFrame(frame, video, false);
  // The frame is header + message, and the header's length follows from the message's (RFC 6455 §5.2).
  const header = [2, 4, 10].find((h) => wsHeaderLength(framed.byteLength - h) === h) ?? 10;
  return framed.subarray(header);
}

/**
 * A video frame as ws-nal sends it: NAL-unit codecs as Annex B with their
 * parameter sets ahead of every keyframe, so a decoder can (re)start at any
 * of them; AV1 (OBUs) and VP9 (frames) as the stream model holds them.
 */
function videoPayload(frame: Frame, video: VideoTrackInfo | undefined): Uint8Array {
  switch (video?.codec) {
    case undefined:
      return avccToAnnexB(frame.data, 4);
    case 'h264':
      return avccToAnnexB(frame.data, video.nalLengthSize, frame.key ? [...video.sps, ...video.pps] : undefined);
    case 'h265':
      return hevcToAnnexB(frame.data, video.nalLengthSize, frame.key ? [...video.vps, ...video.sps, ...video.pps] : undefined);
    case 'av1':
    case 'vp9':
      return frame.data;
  }
}

function build(frame: Frame, video: VideoTrackInfo | undefined, discontinuity: boolean): Buffer {
  // Audio (raw AAC frames, Opus packets) goes as it is.
  const payload = frame.kind === 'video' ? videoPayload(frame, video) : frame.data;
  const messageLength = MEDIA_HEADER_SIZE + payload.byteLength;
  const out = Buffer.allocUnsafe(wsHeaderLength(messageLength) + messageLength);
  const at = writeWsBinaryHeader(out, messageLength);
  const flags = (frame.key && frame.kind === 'video' ? FLAG_KEYFRAME : 0) | (discontinuity ? FLAG_DISCONTINUITY : 0);
  writeMediaHeader(out, at, frame.kind === 'video' ? MSG_VIDEO : MSG_AUDIO, flags, frame.pts, frame.dts, frame.receivedAt * 1000);
  out.set(payload, at + MEDIA_HEADER_SIZE);
  return out;
}
