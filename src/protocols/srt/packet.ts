/**
 * SRT packet framing (draft-sharabayko-srt §3): the 16-byte header shared by
 * data and control packets, the control types a live-mode receiver meets, and
 * 31-bit sequence arithmetic. Pure functions over bytes; no sockets.
 */

export const HEADER_SIZE = 16;
/** Sequence numbers are 31 bits and wrap. */
export const SEQ_MODULO = 0x8000_0000;

export const ControlType = {
  handshake: 0x0000,
  keepalive: 0x0001,
  ack: 0x0002,
  nak: 0x0003,
  congestionWarning: 0x0004,
  shutdown: 0x0005,
  ackack: 0x0006,
  dropreq: 0x0007,
  peerError: 0x0008,
  userDefined: 0x7fff,
} as const;

/** Data packet word 1, bits 2..3: which key encrypted the payload. */
export const EncryptionKey = { none: 0, even: 1, odd: 2 } as const;

/** A datagram that is not a well-formed SRT packet: dropped and counted under `reason`, never thrown at the server. */
export class SrtPacketError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface DataPacket {
  readonly control: false;
  readonly seq: number;
  /** Encryption key flag (EncryptionKey). */
  readonly key: number;
  /** The sender marks retransmissions (REXMITFLG negotiated). */
  readonly retransmitted: boolean;
  readonly timestamp: number;
  readonly destination: number;
  readonly payload: Uint8Array;
}

export interface ControlPacket {
  readonly control: true;
  readonly type: number;
  readonly subtype: number;
  readonly typeInfo: number;
  readonly timestamp: number;
  readonly destination: number;
  readonly cif: Uint8Array;
}

export type SrtPacket = DataPacket | ControlPacket;

export function parsePacket(datagram: Uint8Array): SrtPacket {
  if (datagram.length < HEADER_SIZE) throw new SrtPacketError('truncated header');
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const w0 = view.getUint32(0);
  const w1 = view.getUint32(4);
  const timestamp = view.getUint32(8);
  const destination = view.getUint32(12);
  if ((w0 & 0x8000_0000) === 0) {
    return {
      control: false,
      seq: w0,
      key: (w1 >>> 27) & 0x3,
      retransmitted: ((w1 >>> 26) & 1) === 1,
      timestamp,
      destination,
      payload: datagram.subarray(HEADER_SIZE),
    };
  }
  return {
    control: true,
    type: (w0 >>> 16) & 0x7fff,
    subtype: w0 & 0xffff,
    typeInfo: w1,
    timestamp,
    destination,
    cif: datagram.subarray(HEADER_SIZE),
  };
}

export function controlPacket(type: number, typeInfo: number, timestamp: number, destination: number, cif?: Uint8Array, subtype = 0): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + (cif?.length ?? 0));
  const view = new DataView(out.buffer);
  view.setUint32(0, (0x8000_0000 | (type << 16) | subtype) >>> 0);
  view.setUint32(4, typeInfo >>> 0);
  view.setUint32(8, timestamp >>> 0);
  view.setUint32(12, destination >>> 0);
  if (cif !== undefined) out.set(cif, HEADER_SIZE);
  return out;
}

/** A data packet, for tests and tools that play the caller's part. */
export function dataPacket(p: { seq: number; message: number; timestamp: number; destination: number; key?: number; retransmitted?: boolean; payload: Uint8Array }): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + p.payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, p.seq & 0x7fff_ffff);
  // PP = 11 (a whole message in one packet), in order, as live mode sends.
  const w1 = (0b11 << 30) | ((p.key ?? 0) << 27) | ((p.retransmitted ? 1 : 0) << 26) | (p.message & 0x03ff_ffff);
  view.setUint32(4, w1 >>> 0);
  view.setUint32(8, p.timestamp >>> 0);
  view.setUint32(12, p.destination >>> 0);
  out.set(p.payload, HEADER_SIZE);
  return out;
}

/** a − b on the 31-bit circle, in −2^30 … 2^30. */
export function seqDiff(a: number, b: number): number {
  let d = (a - b) % SEQ_MODULO;
  if (d < 0) d += SEQ_MODULO;
  return d >= SEQ_MODULO / 2 ? d - SEQ_MODULO : d;
}

export function seqAdd(a: number, n: number): number {
  let s = (a + n) % SEQ_MODULO;
  if (s < 0) s += SEQ_MODULO;
  return s;
}
