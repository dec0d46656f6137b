/**
 * A server Initial packet carrying CONNECTION_CLOSE, built without a QUIC
 * connection (RFC 9000 §17.2.2, RFC 9001 §5).
 *
 * Refusing a connection should tell the client so (RFC 9000 §5.2.2), but
 * quiche can only close a connection it has fed the ClientHello to: by then
 * it has done the TLS work a refusal is meant to save, and it sends the close
 * at the Handshake level, which a client that never saw our ServerHello cannot
 * read. Initial keys, by contrast, derive from the client's Destination
 * Connection ID alone, so the refusal costs two HMACs and one AES-GCM seal.
 * It lives with the HTTP/3 formats because WebTransport is its only user.
 */
import { createCipheriv, createHmac } from 'node:crypto';
import { ByteWriter } from './bytes.js';
import { varintSize, writeVarint } from './varint.js';

export const QUIC_V1 = 0x0000_0001;

/** RFC 9001 §5.2: the salt of QUIC version 1's Initial secrets. */
const INITIAL_SALT_V1 = Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex');

/** Transport error codes (RFC 9000 §20.1) a refusal may carry. */
export const QuicTransportError = {
  NO_ERROR: 0x00,
  INTERNAL_ERROR: 0x01,
  CONNECTION_REFUSED: 0x02,
  INVALID_TOKEN: 0x0b,
} as const;

export interface InitialKeys {
  readonly key: Buffer;
  readonly iv: Buffer;
  readonly hp: Buffer;
}

/** TLS 1.3 HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, for lengths up to one SHA-256 block. */
function expandLabel(secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'ascii');
  const info = Buffer.concat([Uint8Array.of(length >> 8, length & 0xff, full.length), full, Uint8Array.of(0)]);
  // HKDF-Expand's first block, T(1) = HMAC(PRK, info | 0x01), is all we need for ≤ 32 bytes.
  return createHmac('sha256', secret).update(info).update(Uint8Array.of(1)).digest().subarray(0, length);
}

/** The Initial packet protection keys of one side, from the client's first Destination Connection ID. */
export function initialKeys(clientDcid: Uint8Array, side: 'client' | 'server'): InitialKeys {
  const initialSecret = createHmac('sha256', INITIAL_SALT_V1).update(clientDcid).digest();
  const secret = expandLabel(initialSecret, side === 'client' ? 'client in' : 'server in', 32);
  return { key: expandLabel(secret, 'quic key', 16), iv: expandLabel(secret, 'quic iv', 12), hp: expandLabel(secret, 'quic hp', 16) };
}

export interface InitialCloseOptions {
  /** The Destination Connection ID of the client's Initial: it keys the packet protection. */
  readonly clientDcid: Uint8Array;
  /** The client's Source Connection ID: our packet's destination. */
  readonly clientScid: Uint8Array;
  /** Our Source Connection ID (any value the client may echo; it never will). */
  readonly serverScid: Uint8Array;
  readonly errorCode: number;
  readonly reason: string;
}

/**
 * A protected server Initial (packet number 0) with one CONNECTION_CLOSE
 * frame of type 0x1c. The reason is cut to 64 bytes: the frame goes to an
 * unvalidated address, so it must stay far below the 3× amplification limit
 * of the 1200-byte Initial that provoked it.
 */
export function encodeInitialClose(o: InitialCloseOptions): Uint8Array {
  const reason = Buffer.from(o.reason, 'utf8').subarray(0, 64);
  let frame = new ByteWriter(16 + reason.length).varint(0x1c).varint(o.errorCode).varint(0).varint(reason.length).bytes(reason).finish();
  // Header protection samples the 16 bytes that start 4 after the packet
  // number (RFC 9001 §5.4.2); the AEAD tag supplies 16, PADDING the rest.
  const PN_LENGTH = 1;
  const minFrame = 4 - PN_LENGTH;
  if (frame.length < minFrame) frame = Buffer.concat([frame, new Uint8Array(minFrame - frame.length)]);
  const length = PN_LENGTH + frame.length + 16;
  const head = new ByteWriter(64)
    .u8(0xc0 | (PN_LENGTH - 1)) // long header, fixed bit, type Initial
    .u32(QUIC_V1)
    .u8(o.clientScid.length)
    .bytes(o.clientScid)
    .u8(o.serverScid.length)
    .bytes(o.serverScid)
    .varint(0); // no token
  const lengthField = new Uint8Array(varintSize(length));
  writeVarint(lengthField, 0, length);
  const header = Buffer.concat([head.finish(), lengthField, Uint8Array.of(0)]); // packet number 0
  const pnOffset = header.length - PN_LENGTH;

  const keys = initialKeys(o.clientDcid, 'server');
  // The nonce is the IV XORed with the packet number; with packet number 0 it is the IV itself.
  const cipher = createCipheriv('aes-128-gcm', keys.key, keys.iv);
  cipher.setAAD(header);
  const sealed = Buffer.concat([cipher.update(frame), cipher.final(), cipher.getAuthTag()]);
  const packet = Buffer.concat([header, sealed]);

  const sample = packet.subarray(pnOffset + 4, pnOffset + 20);
  const ecb = createCipheriv('aes-128-ecb', keys.hp, null).setAutoPadding(false);
  const mask = ecb.update(sample);
  packet[0] = packet[0]! ^ (mask[0]! & 0x0f);
  for (let i = 0; i < PN_LENGTH; i++) packet[pnOffset + i] = packet[pnOffset + i]! ^ mask[1 + i]!;
  return packet;
}
