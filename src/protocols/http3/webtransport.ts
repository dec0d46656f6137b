/**
 * WebTransport over HTTP/3 wire pieces (draft-ietf-webtrans-http3-02, the
 * version Chromium speaks, unchanged in these respects by later drafts):
 * stream headers, datagram framing, and the mapping of 32-bit application
 * error codes into the HTTP/3 error space used by RESET_STREAM/STOP_SENDING.
 */
import { ByteReader } from './bytes.js';
import { EncodeError, Http3Error, H3ErrorCode } from './errors.js';
import { FrameType, StreamType } from './frames.js';
import { varintSize, writeVarint } from './varint.js';

/** Session ids are the stream ids of client-initiated bidirectional CONNECT streams. */
export function isValidSessionId(id: number): boolean {
  return Number.isSafeInteger(id) && id >= 0 && id % 4 === 0;
}

function header(signal: number, sessionId: number): Uint8Array {
  if (!isValidSessionId(sessionId)) throw new EncodeError(`not a session id: ${sessionId}`);
  const out = new Uint8Array(varintSize(signal) + varintSize(sessionId));
  writeVarint(out, writeVarint(out, 0, signal), sessionId);
  return out;
}

/** First bytes of a unidirectional WebTransport stream: type 0x54, then the session id. */
export function encodeUniStreamHeader(sessionId: number): Uint8Array {
  return header(StreamType.WEBTRANSPORT_UNI, sessionId);
}

/** First bytes of a bidirectional WebTransport stream: signal 0x41, then the session id. */
export function encodeBidiStreamHeader(sessionId: number): Uint8Array {
  return header(FrameType.WEBTRANSPORT_STREAM, sessionId);
}

/**
 * An HTTP/3 datagram (RFC 9297 §2.1) for a session: the quarter stream id
 * (session id / 4) then the payload, in one QUIC DATAGRAM frame.
 */
export function encodeDatagram(sessionId: number, payload: Uint8Array): Uint8Array {
  if (!isValidSessionId(sessionId)) throw new EncodeError(`not a session id: ${sessionId}`);
  const q = sessionId / 4;
  const out = new Uint8Array(varintSize(q) + payload.length);
  out.set(payload, writeVarint(out, 0, q));
  return out;
}

/** Prefix length of the datagram header for a session (to size payloads against the QUIC limit). */
export function datagramHeaderSize(sessionId: number): number {
  return varintSize(sessionId / 4);
}

export interface DecodedDatagram {
  readonly sessionId: number;
  readonly payload: Uint8Array;
}

/** Splits an HTTP/3 datagram; a missing or oversized quarter stream id throws (H3_GENERAL_PROTOCOL_ERROR). */
export function decodeDatagram(datagram: Uint8Array): DecodedDatagram {
  const r = new ByteReader(datagram, 'HTTP/3 datagram', H3ErrorCode.GENERAL_PROTOCOL_ERROR);
  const q = r.varint();
  const sessionId = q * 4;
  if (!Number.isSafeInteger(sessionId)) throw new Http3Error(H3ErrorCode.GENERAL_PROTOCOL_ERROR, 'quarter stream id out of range');
  return { sessionId, payload: r.rest() };
}

/**
 * WebTransport application error codes (u32) travel in RESET_STREAM and
 * STOP_SENDING as HTTP/3 codes from 0x52e4a40fa8db on, skipping the reserved
 * GREASE codepoints 0x1f * N + 0x21 (draft-02 §4.3).
 */
export const WT_APPLICATION_ERROR_FIRST = 0x52e4a40fa8db;
export const WT_APPLICATION_ERROR_LAST = 0x52e5ac983162;

export function webTransportCodeToHttp3(code: number): number {
  if (!Number.isInteger(code) || code < 0 || code > 0xffff_ffff) throw new EncodeError(`WebTransport error code must be a u32: ${code}`);
  return WT_APPLICATION_ERROR_FIRST + code + Math.floor(code / 0x1e);
}

/** The application code inside an HTTP/3 error code, or `null` if it is outside the WebTransport range or reserved. */
export function http3ToWebTransportCode(h3: number): number | null {
  if (!Number.isSafeInteger(h3) || h3 < WT_APPLICATION_ERROR_FIRST || h3 > WT_APPLICATION_ERROR_LAST) return null;
  const shifted = h3 - WT_APPLICATION_ERROR_FIRST;
  if ((h3 - 0x21) % 0x1f === 0) return null;
  return shifted - Math.floor(shifted / 0x1f);
}
