/**
 * The SRT handshake (draft-sharabayko-srt §3.2.1, §4.3): the 48-byte body
 * every handshake packet carries and the extensions a version-5 caller
 * appends to its conclusion (HSREQ, KMREQ, stream id).
 */
import { SrtPacketError } from './packet.js';

export const HANDSHAKE_SIZE = 48;
/** Answered in the listener's induction response so the caller knows it may speak version 5. */
export const SRT_MAGIC = 0x4a17;

export const HandshakeType = {
  done: 0xffff_fffd,
  agreement: 0xffff_fffe,
  conclusion: 0xffff_ffff,
  waveahand: 0x0000_0000,
  induction: 0x0000_0001,
} as const;

/** Extension flags of a version-5 conclusion (the 16-bit extension field). */
export const ExtensionFlag = { hsreq: 0x1, kmreq: 0x2, config: 0x4 } as const;

export const ExtensionType = { hsreq: 1, hsrsp: 2, kmreq: 3, kmrsp: 4, sid: 5, congestion: 6, filter: 7, group: 8 } as const;

/** HSREQ/HSRSP flags (§3.2.1.1.1). */
export const SrtFlag = {
  tsbpdSnd: 0x01,
  tsbpdRcv: 0x02,
  crypt: 0x04,
  tlpktDrop: 0x08,
  periodicNak: 0x10,
  rexmitFlag: 0x20,
  stream: 0x40,
  packetFilter: 0x80,
} as const;

/**
 * Rejection reasons go in the handshake type field as 1000 + code: the
 * library's own codes below 1000, the access-control codes (modelled on HTTP)
 * from 1000 on (Haivision's access-control document).
 */
export const RejectReason = {
  resource: 3,
  rogue: 4,
  version: 8,
  badSecret: 10,
  unsecure: 11,
  messageApi: 12,
  congestion: 13,
  filter: 14,
  group: 15,
  badRequest: 1400,
  unauthorized: 1401,
  forbidden: 1403,
  notFound: 1404,
  badMode: 1405,
  conflict: 1409,
} as const;
export const REJECTION_BASE = 1000;

export interface Extension {
  readonly type: number;
  readonly body: Uint8Array;
}

export interface Handshake {
  readonly version: number;
  readonly encryption: number;
  readonly extensionField: number;
  readonly initialSeq: number;
  readonly mtu: number;
  readonly flowWindow: number;
  readonly type: number;
  readonly socketId: number;
  readonly cookie: number;
  /** 16 bytes: an IPv4 address fills the first four. */
  readonly peerIp: Uint8Array;
  readonly extensions: readonly Extension[];
}

/** More extension blocks than any caller sends; bounds the work a hostile conclusion causes. */
const MAX_EXTENSIONS = 16;

export function parseHandshake(cif: Uint8Array): Handshake {
  if (cif.length < HANDSHAKE_SIZE) throw new SrtPacketError('truncated handshake');
  const view = new DataView(cif.buffer, cif.byteOffset, cif.byteLength);
  const extensions: Extension[] = [];
  let pos = HANDSHAKE_SIZE;
  while (pos + 4 <= cif.length) {
    if (extensions.length === MAX_EXTENSIONS) throw new SrtPacketError('too many handshake extensions');
    const type = view.getUint16(pos);
    const words = view.getUint16(pos + 2);
    const end = pos + 4 + words * 4;
    if (end > cif.length) throw new SrtPacketError('handshake extension runs past the packet');
    extensions.push({ type, body: cif.subarray(pos + 4, end) });
    pos = end;
  }
  return {
    version: view.getUint32(0),
    encryption: view.getUint16(4),
    extensionField: view.getUint16(6),
    initialSeq: view.getUint32(8) & 0x7fff_ffff,
    mtu: view.getUint32(12),
    flowWindow: view.getUint32(16),
    type: view.getUint32(20),
    socketId: view.getUint32(24),
    cookie: view.getUint32(28),
    peerIp: cif.subarray(32, 48),
    extensions,
  };
}

export function buildHandshake(h: Omit<Handshake, 'extensions'> & { extensions?: readonly Extension[] }): Uint8Array {
  const extensions = h.extensions ?? [];
  const size = HANDSHAKE_SIZE + extensions.reduce((n, e) => n + 4 + e.body.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, h.version);
  view.setUint16(4, h.encryption);
  view.setUint16(6, h.extensionField);
  view.setUint32(8, h.initialSeq);
  view.setUint32(12, h.mtu);
  view.setUint32(16, h.flowWindow);
  view.setUint32(20, h.type >>> 0);
  view.setUint32(24, h.socketId);
  view.setUint32(28, h.cookie >>> 0);
  out.set(h.peerIp.subarray(0, 16), 32);
  let pos = HANDSHAKE_SIZE;
  for (const e of extensions) {
    if (e.body.length % 4 !== 0) throw new Error('handshake extension bodies are whole 32-bit words');
    view.setUint16(pos, e.type);
    view.setUint16(pos + 2, e.body.length / 4);
    out.set(e.body, pos + 4);
    pos += 4 + e.body.length;
  }
  return out;
}

export interface HsReq {
  readonly version: number;
  readonly flags: number;
  /** What the peer's receiver wants (ms). */
  readonly receiverDelay: number;
  /** What the peer, as sender, asks its receiver to use at least (ms). */
  readonly senderDelay: number;
}

export function parseHsReq(body: Uint8Array): HsReq {
  if (body.length < 12) throw new SrtPacketError('truncated HSREQ');
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const delays = view.getUint32(8);
  return { version: view.getUint32(0), flags: view.getUint32(4), receiverDelay: delays >>> 16, senderDelay: delays & 0xffff };
}

export function buildHsRsp(r: HsReq): Extension {
  const body = new Uint8Array(12);
  const view = new DataView(body.buffer);
  view.setUint32(0, r.version);
  view.setUint32(4, r.flags);
  view.setUint32(8, ((r.receiverDelay & 0xffff) << 16) | (r.senderDelay & 0xffff));
  return { type: ExtensionType.hsrsp, body };
}

/**
 * The stream id extension. libsrt writes the string as 32-bit words in host
 * order, so on the wire each group of four characters is reversed; the last
 * group is zero-padded.
 */
export function decodeStreamId(body: Uint8Array): string {
  const bytes = Buffer.alloc(body.length);
  for (let i = 0; i + 4 <= body.length; i += 4) {
    bytes[i] = body[i + 3]!;
    bytes[i + 1] = body[i + 2]!;
    bytes[i + 2] = body[i + 1]!;
    bytes[i + 3] = body[i]!;
  }
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.subarray(0, end).toString('utf8');
}

export function encodeStreamId(id: string): Extension {
  const text = Buffer.from(id, 'utf8');
  const body = new Uint8Array(Math.ceil(text.length / 4) * 4);
  for (let i = 0; i < body.length; i += 4) {
    for (let k = 0; k < 4; k++) body[i + 3 - k] = text[i + k] ?? 0;
  }
  return { type: ExtensionType.sid, body };
}
