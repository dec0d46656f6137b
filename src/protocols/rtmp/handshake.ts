/**
 * The server side of the RTMP handshake (Adobe RTMP 1.0 §5.2): C0+C1 in,
 * S0+S1+S2 out, C2 in.
 *
 * Two flavours exist. The spec's "simple" one: S1 is random, S2 echoes C1.
 * Flash Player 9+ and encoders modelled on it (ffmpeg, librtmp) send a C1
 * with an HMAC-SHA256 digest at a position derived from the packet, and
 * check that S1/S2 carry digests keyed with the server's key. When C1 carries
 * a valid digest the server answers in kind; otherwise it answers simply.
 * The layout and keys are the publicly documented ones (the "complex
 * handshake" write-ups of the Flash-era protocol), where the keys are
 * "Genuine Adobe Flash Player 001" / "Genuine Adobe Flash Media Server 001"
 * followed by the same 32 constant bytes.
 *
 * C2 is not checked: clients fill it loosely, and nothing depends on it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { RtmpProtocolError } from './errors.js';

export const RTMP_VERSION = 3;
export const HANDSHAKE_SIZE = 1536;

// The 32 bytes every public description of the scheme lists after the text of both keys.
const COMMON_TAIL = Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex');
const CLIENT_KEY_TEXT = Buffer.from('Genuine Adobe Flash Player 001', 'latin1');
const SERVER_KEY_TEXT = Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1');
/** The client signs C1 with the text part only; S2 is keyed with the full server key. */
export const CLIENT_KEY = Buffer.concat([CLIENT_KEY_TEXT, COMMON_TAIL]);
export const SERVER_KEY = Buffer.concat([SERVER_KEY_TEXT, COMMON_TAIL]);
const DIGEST_SIZE = 32;
/** Server version announced in S1 of a digest handshake (any non-zero value selects the scheme; this is FMS 3.5's). */
const SERVER_VERSION = Buffer.from([0x03, 0x05, 0x01, 0x01]);

export type HandshakeKind = 'simple' | 'digest';

/**
 * Where the digest sits in a 1536-byte packet for the two layouts ("scheme 0":
 * offset from bytes 8–11, "scheme 1": from bytes 772–775).
 */
export function digestOffset(packet: Uint8Array, scheme: 0 | 1): number {
  const base = scheme === 0 ? 8 : 772;
  const sum = packet[base]! + packet[base + 1]! + packet[base + 2]! + packet[base + 3]!;
  return (sum % 728) + base + 4;
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The digest a packet should carry at `offset`: HMAC over the packet without those 32 bytes. */
export function packetDigest(packet: Uint8Array, offset: number, key: Uint8Array): Buffer {
  return hmac(key, packet.subarray(0, offset), packet.subarray(offset + DIGEST_SIZE));
}

/** The offset of C1's valid digest (trying both layouts), or undefined for a simple C1. */
export function findClientDigest(c1: Uint8Array): number | undefined {
  // A C1 with zero in the version field is the spec's simple handshake.
  if (c1[4] === 0 && c1[5] === 0 && c1[6] === 0 && c1[7] === 0) return undefined;
  for (const scheme of [0, 1] as const) {
    const offset = digestOffset(c1, scheme);
    const expected = packetDigest(c1, offset, CLIENT_KEY.subarray(0, CLIENT_KEY_TEXT.length));
    if (timingSafeEqual(expected, c1.subarray(offset, offset + DIGEST_SIZE))) return offset;
  }
  return undefined;
}

/** S1 and S2 for a given C1. */
export function serverResponse(c1: Uint8Array, nowMs: number = Date.now()): { kind: HandshakeKind; s1: Buffer; s2: Buffer } {
  const clientDigestAt = findClientDigest(c1);
  const s1 = randomBytes(HANDSHAKE_SIZE);
  s1.writeUInt32BE(nowMs >>> 0, 0);
  if (clientDigestAt === undefined) {
    s1.writeUInt32BE(0, 4);
    // Simple S2 echoes C1 (its time, then our read time, then its random bytes).
    const s2 = Buffer.from(c1);
    s2.writeUInt32BE(nowMs >>> 0, 4);
    return { kind: 'simple', s1, s2 };
  }
  SERVER_VERSION.copy(s1, 4);
  // Answer with the layout the client used.
  const scheme = clientDigestAt === digestOffset(c1, 0) ? 0 : 1;
  const offset = digestOffset(s1, scheme);
  packetDigest(s1, offset, SERVER_KEY.subarray(0, SERVER_KEY_TEXT.length)).copy(s1, offset);
  const s2 = randomBytes(HANDSHAKE_SIZE);
  const key = hmac(SERVER_KEY, c1.subarray(clientDigestAt, clientDigestAt + DIGEST_SIZE));
  hmac(key, s2.subarray(0, HANDSHAKE_SIZE - DIGEST_SIZE)).copy(s2, HANDSHAKE_SIZE - DIGEST_SIZE);
  return { kind: 'digest', s1, s2 };
}

/**
 * Incremental server handshake. `push` consumes what it needs and returns
 * the bytes after C2 (the first chunks, sent by clients without waiting).
 * Holds at most 1 + 1536 bytes.
 */
export class ServerHandshake {
  private phase: 'c0c1' | 'c2' | 'done' = 'c0c1';
  private readonly c0c1 = Buffer.alloc(1 + HANDSHAKE_SIZE);
  private fill = 0;
  private c2Left = HANDSHAKE_SIZE;
  kind: HandshakeKind | undefined;

  constructor(private readonly send: (bytes: Buffer) => void) {}

  get done(): boolean {
    return this.phase === 'done';
  }

  push(data: Buffer): Buffer {
    let off = 0;
    if (this.phase === 'c0c1') {
      if (this.fill === 0 && data.length > 0 && data[0] !== RTMP_VERSION) {
        const first = data[0]!;
        // A browser or an HTTP client on the RTMP port is a common mistake worth naming.
        const what = first >= 0x41 && first <= 0x5a ? ` (looks like text: ${JSON.stringify(data.subarray(0, 16).toString('latin1'))})` : '';
        throw new RtmpProtocolError('handshake', `unsupported RTMP version ${first} in C0, only 3 is${what}`);
      }
      const take = Math.min(this.c0c1.length - this.fill, data.length);
      data.copy(this.c0c1, this.fill, 0, take);
      this.fill += take;
      off = take;
      if (this.fill < this.c0c1.length) return Buffer.alloc(0);
      const c1 = this.c0c1.subarray(1);
      const { kind, s1, s2 } = serverResponse(c1);
      this.kind = kind;
      this.send(Buffer.concat([Buffer.from([RTMP_VERSION]), s1, s2]));
      this.phase = 'c2';
    }
    if (this.phase === 'c2') {
      const take = Math.min(this.c2Left, data.length - off);
      this.c2Left -= take;
      off += take;
      if (this.c2Left > 0) return Buffer.alloc(0);
      this.phase = 'done';
    }
    return data.subarray(off);
  }
}

/**
 * Incremental client handshake, the spec's simple flavour: C0+C1 out (C1
 * with a zero version field, which selects the simple scheme on servers that
 * know both), S0+S1+S2 in, C2 (an echo of S1) out. `push` returns the bytes
 * after S2: the server's first chunks. Holds at most 1 + 1536 bytes.
 */
export class ClientHandshake {
  private readonly s0s1 = Buffer.alloc(1 + HANDSHAKE_SIZE);
  private fill = 0;
  private s2Left = HANDSHAKE_SIZE;

  constructor(private readonly send: (bytes: Buffer) => void) {}

  get done(): boolean {
    return this.s2Left === 0;
  }

  /** Sends C0+C1; call once, when the connection is up. */
  start(nowMs: number = Date.now()): void {
    const c0c1 = randomBytes(1 + HANDSHAKE_SIZE);
    c0c1[0] = RTMP_VERSION;
    c0c1.writeUInt32BE(nowMs >>> 0, 1);
    c0c1.writeUInt32BE(0, 5);
    this.send(c0c1);
  }

  push(data: Buffer): Buffer {
    let off = 0;
    if (this.fill < this.s0s1.length) {
      if (this.fill === 0 && data.length > 0 && data[0] !== RTMP_VERSION) {
        throw new RtmpProtocolError('handshake', `the server answered with RTMP version ${data[0]} in S0, not 3 (is this an RTMP server?)`);
      }
      const take = Math.min(this.s0s1.length - this.fill, data.length);
      data.copy(this.s0s1, this.fill, 0, take);
      this.fill += take;
      off = take;
      if (this.fill < this.s0s1.length) return Buffer.alloc(0);
      // C2 echoes S1; servers check it loosely if at all.
      this.send(Buffer.from(this.s0s1.subarray(1)));
    }
    const take = Math.min(this.s2Left, data.length - off);
    this.s2Left -= take;
    off += take;
    return this.s2Left > 0 ? Buffer.alloc(0) : data.subarray(off);
  }
}
