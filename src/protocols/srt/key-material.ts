/**
 * SRT encryption (draft-sharabayko-srt §3.2.2, §6): the key material message
 * a caller sends in KMREQ, the key-encrypting key derived from the
 * passphrase, and AES-CTR payload decryption. All crypto is node:crypto.
 */
import { createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { SrtPacketError } from './packet.js';

const KM_SIGNATURE = 0x2029;
const CIPHER_AES_CTR = 2;
const PBKDF2_ITERATIONS = 2048;
/** The draft's salt is 16 bytes; PBKDF2 takes its last 8. */
const PBKDF2_SALT_BYTES = 8;
/** RFC 3394's default initial value: unwrapping checks the key against it. */
const KEY_WRAP_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

export interface KeyMaterial {
  /** 1: even key only, 2: odd only, 3: both (even first). */
  readonly keys: number;
  readonly cipher: number;
  readonly salt: Uint8Array;
  readonly keyLength: number;
  readonly wrapped: Uint8Array;
}

export function parseKeyMaterial(body: Uint8Array): KeyMaterial {
  if (body.length < 16) throw new SrtPacketError('truncated key material');
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const version = (body[0]! >> 4) & 0x7;
  const packetType = body[0]! & 0xf;
  if (version !== 1 || packetType !== 2 || view.getUint16(1) !== KM_SIGNATURE) throw new SrtPacketError('not a key material message');
  const keys = body[3]! & 0x3;
  const cipher = body[8]!;
  const saltLength = body[14]! * 4;
  const keyLength = body[15]! * 4;
  if (keys === 0) throw new SrtPacketError('key material without keys');
  if (keyLength !== 16 && keyLength !== 24 && keyLength !== 32) throw new SrtPacketError(`key length ${keyLength} is not AES's`);
  if (saltLength !== 16) throw new SrtPacketError(`salt of ${saltLength} bytes (16 expected)`);
  const wrappedLength = 8 + keyLength * (keys === 3 ? 2 : 1);
  if (body.length < 16 + saltLength + wrappedLength) throw new SrtPacketError('truncated key material');
  return {
    keys,
    cipher,
    salt: body.subarray(16, 16 + saltLength),
    keyLength,
    wrapped: body.subarray(16 + saltLength, 16 + saltLength + wrappedLength),
  };
}

export interface StreamKeys {
  readonly even?: Buffer;
  readonly odd?: Buffer;
  readonly salt: Uint8Array;
}

/**
 * Unwraps the stream keys with the key derived from `passphrase`; undefined
 * when the passphrase is not the caller's (the key wrap's integrity check fails).
 */
export function unwrapKeys(km: KeyMaterial, passphrase: string): StreamKeys | undefined {
  if (km.cipher !== CIPHER_AES_CTR) throw new SrtPacketError(`cipher ${km.cipher} is not AES-CTR`);
  const kek = pbkdf2Sync(passphrase, km.salt.subarray(km.salt.length - PBKDF2_SALT_BYTES), PBKDF2_ITERATIONS, km.keyLength, 'sha1');
  let plain: Buffer;
  try {
    const unwrap = createDecipheriv(`id-aes${km.keyLength * 8}-wrap`, kek, KEY_WRAP_IV);
    plain = Buffer.concat([unwrap.update(km.wrapped), unwrap.final()]);
  } catch {
    return undefined;
  }
  const first = plain.subarray(0, km.keyLength);
  const second = plain.subarray(km.keyLength, 2 * km.keyLength);
  if (km.keys === 3) return { even: first, odd: second, salt: km.salt };
  return km.keys === 1 ? { even: first, salt: km.salt } : { odd: first, salt: km.salt };
}

/**
 * Decrypts one data packet's payload. The counter block is the packet's
 * sequence number at bytes 10..13 (the block counter below it), XORed with
 * the first 112 bits of the salt.
 */
export function decryptPayload(key: Buffer, salt: Uint8Array, seq: number, payload: Uint8Array): Uint8Array {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(seq >>> 0, 10);
  for (let i = 0; i < 14; i++) iv[i] = iv[i]! ^ salt[i]!;
  const decipher = createDecipheriv(`aes-${key.length * 8}-ctr`, key, iv);
  return decipher.update(payload);
}
