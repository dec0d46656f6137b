/**
 * A bare QUIC handshake (quiche, as the server uses) that verifies the
 * server's certificate chain against `ca` for `serverName`, and returns the
 * chain it presented: what a browser's WebTransport sees, without a browser.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { quiche } from '@matrixai/quic/native/index.js';

export async function quicPeerCertificates(port: number, serverName: string, ca: string, timeoutMs = 5000): Promise<Uint8Array[]> {
  const config = quiche.Config.withBoringSslCtx(true, false, new TextEncoder().encode(ca), null, null, null);
  config.setApplicationProtos(['h3']);
  config.setMaxIdleTimeout(timeoutMs);
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const local = { host: '127.0.0.1', port: sock.address().port };
  const remote = { host: '127.0.0.1', port };
  const conn = quiche.Connection.connect(serverName, randomBytes(20), local, remote, config);
  const out = Buffer.alloc(1500);
  const flush = () => {
    for (;;) {
      const sent = conn.send(out);
      if (sent === null) break;
      sock.send(Buffer.from(out.subarray(0, sent[0])), port, '127.0.0.1');
    }
  };
  try {
    return await new Promise<Uint8Array[]>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('QUIC handshake timed out')), timeoutMs);
      sock.on('message', (msg) => {
        try {
          conn.recv(msg, { to: local, from: remote });
        } catch (err) {
          clearTimeout(deadline);
          const local = conn.localError();
          reject(new Error(`QUIC handshake failed: ${(err as Error).message}${local ? ` (local error ${local.errorCode}: ${Buffer.from(local.reason).toString()})` : ''}`));
          return;
        }
        if (conn.isEstablished()) {
          clearTimeout(deadline);
          resolve(conn.peerCertChain() ?? []);
          return;
        }
        if (conn.isClosed()) {
          clearTimeout(deadline);
          const e = conn.localError() ?? conn.peerError();
          reject(new Error(`QUIC connection closed: ${e ? `${e.errorCode} ${Buffer.from(e.reason).toString()}` : 'no reason'}`));
          return;
        }
        flush();
      });
      flush();
    });
  } finally {
    try {
      conn.close(false, 0, new Uint8Array());
      flush();
    } catch {
      // Already closed.
    }
    sock.close();
  }
}
