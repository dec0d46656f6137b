/**
 * Tokens for QUIC's stateless Retry (RFC 9000 §8.1.2). Under a handshake
 * burst the server answers new Initials with a Retry instead of starting TLS;
 * only a client that really owns its address comes back with the token, and
 * only then does the handshake cost us anything. The token carries what the
 * server must remember and may not store: the client's original Destination
 * Connection ID (quiche needs it to authenticate the transport parameters)
 * and when it was issued, bound to the client's address by an HMAC.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const MAC_BYTES = 16;
/** A Retry is answered within a round trip; a few seconds covers any real path and bounds replays. */
const DEFAULT_LIFETIME_MS = 10_000;

export class RetryTokens {
  private readonly key = randomBytes(32);

  constructor(private readonly lifetimeMs = DEFAULT_LIFETIME_MS) {}

  issue(originalDcid: Uint8Array, address: string, port: number, now = Date.now()): Buffer {
    const body = Buffer.alloc(8 + 1 + originalDcid.length);
    body.writeBigUInt64BE(BigInt(now), 0);
    body[8] = originalDcid.length;
    body.set(originalDcid, 9);
    return Buffer.concat([body, this.mac(body, address, port)]);
  }

  /** The original Destination Connection ID if `token` is ours, fresh, and was issued to this address; else null. */
  verify(token: Uint8Array, address: string, port: number, now = Date.now()): Buffer | null {
    const t = Buffer.from(token.buffer, token.byteOffset, token.byteLength);
    if (t.length < 9 + MAC_BYTES) return null;
    const dcidLength = t[8]!;
    if (t.length !== 9 + dcidLength + MAC_BYTES || dcidLength > 20) return null;
    const body = t.subarray(0, 9 + dcidLength);
    if (!timingSafeEqual(t.subarray(9 + dcidLength), this.mac(body, address, port))) return null;
    const issued = Number(body.readBigUInt64BE(0));
    if (now < issued || now - issued > this.lifetimeMs) return null;
    return Buffer.from(body.subarray(9));
  }

  private mac(body: Uint8Array, address: string, port: number): Buffer {
    return createHmac('sha256', this.key).update(body).update(`${address}|${port}`).digest().subarray(0, MAC_BYTES);
  }
}
