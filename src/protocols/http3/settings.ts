/**
 * The SETTINGS frame payload (RFC 9114 §7.2.4): a list of (identifier, value)
 * varint pairs.
 */
import { ByteReader, ByteWriter } from './bytes.js';
import { Http3Error, H3ErrorCode } from './errors.js';
import { encodeFrame, FrameType } from './frames.js';

export const SettingId = {
  QPACK_MAX_TABLE_CAPACITY: 0x01,
  MAX_FIELD_SECTION_SIZE: 0x06,
  QPACK_BLOCKED_STREAMS: 0x07,
  /** RFC 9220: extended CONNECT (the `:protocol` pseudo-header). */
  ENABLE_CONNECT_PROTOCOL: 0x08,
  /** RFC 9297. */
  H3_DATAGRAM: 0x33,
  /** draft-ietf-masque-h3-datagram-04 and older, still sent by some clients. */
  H3_DATAGRAM_DRAFT04: 0xffd277,
  /** draft-ietf-webtrans-http3-02: what Chromium's WebTransport requires. */
  ENABLE_WEBTRANSPORT_DRAFT02: 0x2b603742,
  /** draft-ietf-webtrans-http3-05..07: SETTINGS_WEBTRANSPORT_MAX_SESSIONS. */
  WEBTRANSPORT_MAX_SESSIONS_DRAFT07: 0xc671706a,
  /** draft-ietf-webtrans-http3-08..14: SETTINGS_WT_MAX_SESSIONS. */
  WT_MAX_SESSIONS: 0x14e9cd29,
} as const;

/** Identifiers HTTP/2 used that HTTP/3 reserves; receiving one is H3_SETTINGS_ERROR (§7.2.4.1). */
const HTTP2_SETTING_IDS = new Set([0x00, 0x02, 0x03, 0x04, 0x05]);

export type Settings = ReadonlyMap<number, number>;

export function encodeSettingsPayload(settings: Iterable<readonly [number, number]>): Uint8Array {
  const w = new ByteWriter();
  for (const [id, value] of settings) w.varint(id).varint(value);
  return w.finish();
}

export function encodeSettingsFrame(settings: Iterable<readonly [number, number]>): Uint8Array {
  return encodeFrame(FrameType.SETTINGS, encodeSettingsPayload(settings));
}

/** Decodes a SETTINGS payload; duplicates and HTTP/2 identifiers are H3_SETTINGS_ERROR. */
export function decodeSettingsPayload(payload: Uint8Array): Map<number, number> {
  const r = new ByteReader(payload, 'SETTINGS frame', H3ErrorCode.FRAME_ERROR);
  const out = new Map<number, number>();
  while (r.remaining > 0) {
    const id = r.varint();
    const value = r.varint();
    if (HTTP2_SETTING_IDS.has(id)) throw new Http3Error(H3ErrorCode.SETTINGS_ERROR, `HTTP/2 setting 0x${id.toString(16)} in HTTP/3 SETTINGS`);
    if (out.has(id)) throw new Http3Error(H3ErrorCode.SETTINGS_ERROR, `setting 0x${id.toString(16)} sent twice`);
    out.set(id, value);
  }
  return out;
}
