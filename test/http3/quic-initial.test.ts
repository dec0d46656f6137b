/**
 * The refusal packet and Retry tokens the server uses under handshake load:
 * Initial keys against RFC 9001's test vectors, the packet read by a real
 * quiche client, and tokens bound to address, time and content.
 */
import { randomBytes } from 'node:crypto';
import { quiche } from '@matrixai/quic/native/index.js';
import { describe, expect, it } from 'vitest';
import { encodeInitialClose, initialKeys, QuicTransportError } from '../../src/protocols/http3/index.js';
import { RetryTokens } from '../../src/protocols/webtransport/retry-token.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('Initial packet protection (RFC 9001 §5.2, Appendix A.1)', () => {
  const dcid = Buffer.from('8394c8f03e515708', 'hex');

  it('derives the client keys of the test vectors', () => {
    const k = initialKeys(dcid, 'client');
    expect([hex(k.key), hex(k.iv), hex(k.hp)]).toEqual(['1f369613dd76d5467730efcbe3b1a22d', 'fa044b2f42a3fd3b46fb255c', '9f50449e04a0e810283a1e9933adedd2']);
  });

  it('derives the server keys of the test vectors', () => {
    const k = initialKeys(dcid, 'server');
    expect([hex(k.key), hex(k.iv), hex(k.hp)]).toEqual(['cf3a5331653c364c88f0f379b6067e37', '0ac1493ca1905853b0bba03e', 'c206b8d9b9f0f37644430b490eeaa314']);
  });
});

describe('encodeInitialClose', () => {
  const client = { host: '127.0.0.1', port: 40000 };
  const server = { host: '127.0.0.1', port: 4443 };

  /** A quiche client that has sent its first Initial, and that Initial's connection ids. */
  function startClient() {
    const config = quiche.Config.withBoringSslCtx(false, false, null, null, null, null);
    config.setApplicationProtos(['h3']);
    const conn = quiche.Connection.connect('localhost', randomBytes(20), client, server, config);
    const buf = Buffer.alloc(1500);
    const [n] = conn.send(buf)!;
    const header = quiche.Header.fromSlice(buf.subarray(0, n), 20);
    return { conn, header };
  }

  it('is read by a quiche client as the server closing with CONNECTION_REFUSED and the reason', () => {
    const { conn, header } = startClient();
    const packet = encodeInitialClose({
      clientDcid: header.dcid,
      clientScid: header.scid,
      serverScid: randomBytes(8),
      errorCode: QuicTransportError.CONNECTION_REFUSED,
      reason: 'server full, retry later',
    });
    conn.recv(Buffer.from(packet), { from: server, to: client });
    const err = conn.peerError();
    expect(err).not.toBeNull();
    expect(err!.isApp).toBe(false);
    expect(err!.errorCode).toBe(QuicTransportError.CONNECTION_REFUSED);
    expect(Buffer.from(err!.reason).toString()).toBe('server full, retry later');
  });

  it('is keyed by the client\'s DCID: protected with another, it is discarded', () => {
    const { conn, header } = startClient();
    const packet = encodeInitialClose({ clientDcid: randomBytes(16), clientScid: header.scid, serverScid: randomBytes(8), errorCode: 2, reason: 'x' });
    try {
      conn.recv(Buffer.from(packet), { from: server, to: client });
    } catch {
      // quiche reports an undecryptable packet by throwing or by ignoring it; either way no close is seen.
    }
    expect(conn.peerError()).toBeNull();
  });

  it('stays small whatever the reason: at most 64 bytes of it go to an unvalidated address', () => {
    const packet = encodeInitialClose({ clientDcid: randomBytes(20), clientScid: randomBytes(20), serverScid: randomBytes(20), errorCode: 2, reason: 'é'.repeat(1000) });
    expect(packet.length).toBeLessThan(200);
  });
});

describe('RetryTokens', () => {
  const odcid = randomBytes(20);

  it('gives the original DCID back to the address it was issued to', () => {
    const t = new RetryTokens();
    expect(t.verify(t.issue(odcid, '127.0.0.1', 5000), '127.0.0.1', 5000)).toEqual(odcid);
  });

  it('refuses another address or port, another server\'s key, a changed byte and an old token', () => {
    const t = new RetryTokens(10_000);
    const token = t.issue(odcid, '127.0.0.1', 5000, 1_000_000);
    expect(t.verify(token, '127.0.0.2', 5000, 1_000_001)).toBeNull();
    expect(t.verify(token, '127.0.0.1', 5001, 1_000_001)).toBeNull();
    expect(new RetryTokens().verify(token, '127.0.0.1', 5000, 1_000_001)).toBeNull();
    const changed = Buffer.from(token);
    changed[12] = changed[12]! ^ 1;
    expect(t.verify(changed, '127.0.0.1', 5000, 1_000_001)).toBeNull();
    expect(t.verify(token, '127.0.0.1', 5000, 1_000_000 + 10_001)).toBeNull();
    expect(t.verify(token.subarray(0, 20), '127.0.0.1', 5000, 1_000_001)).toBeNull();
  });
});
