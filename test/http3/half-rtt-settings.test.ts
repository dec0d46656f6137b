import { createSocket, type RemoteInfo } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSelfSignedCertificate, WebTransportServer } from '../../src/protocols/webtransport/index.js';
import { nativeQuic, Ngtcp2ClientConnection } from '../../src/protocols/webtransport/ngtcp2-connection.js';
import { waitFor } from '../helpers/ops.js';

/**
 * The server's HTTP/3 SETTINGS leave in its first flight, as 0.5-RTT data:
 * Chromium sends no extended CONNECT before it has them, so without this a
 * WebTransport session cost a round trip more than the handshake needs.
 * Shown by holding back everything the client sends after its first flight
 * (its Finished included): the server never completes its handshake, and
 * the client must still have read the control stream.
 */
const cert = generateSelfSignedCertificate();
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Forwards the client's datagrams to the server until the server has answered once, then holds them all. */
async function holdingRelay(serverPort: number): Promise<{ port: number; held: () => number }> {
  const socket = createSocket('udp4');
  let client: RemoteInfo | undefined;
  let answered = false;
  let held = 0;
  socket.on('message', (msg, from) => {
    if (from.port === serverPort) {
      answered = true;
      if (client) socket.send(msg, client.port, client.address);
      return;
    }
    client = from;
    if (answered) held++;
    else socket.send(msg, serverPort, '127.0.0.1');
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, held: () => held };
}

describe('HTTP/3 SETTINGS in the first flight', () => {
  it('reach a client whose Finished never arrives (ngtcp2)', async () => {
    const native = nativeQuic();
    // The addon is built by `npm run build` on every machine CI runs on; a missing one is a failure here, not a skip.
    if ('error' in native) throw new Error(native.error);
    const server = new WebTransportServer({ port: 0, host: '127.0.0.1', cert: cert.certPem, key: cert.keyPem, quic: 'ngtcp2' });
    const { port } = await server.listen();
    cleanups.push(() => server.close());
    const relay = await holdingRelay(port);

    const ctx = Ngtcp2ClientConnection.context(native.binding, { maxUdpPayloadSize: 1350, idleTimeoutMs: 30_000, initialMaxData: 1 << 20, initialMaxStreamData: 1 << 20, initialMaxStreams: 100 });
    let client: Ngtcp2ClientConnection | undefined;
    client = new Ngtcp2ClientConnection(native.binding, ctx, { host: '127.0.0.1', port: relay.port }, 16, () => client?.flush());
    cleanups.push(() => client?.destroy());
    client.flush();

    // The client's handshake completes on the server's first flight; its answer (the Finished) is held.
    await waitFor(() => client!.isEstablished() && relay.held() > 0, 5000, "the client's handshake, its Finished held back");
    await waitFor(() => client!.readable().includes(3), 2000, "the server's first unidirectional stream");
    const buf = new Uint8Array(256);
    const [n] = client.streamRecv(3, buf) ?? [0];
    // Stream type 0x00 (control), then a SETTINGS frame (type 0x04).
    expect(n).toBeGreaterThan(2);
    expect([buf[0], buf[1]]).toEqual([0x00, 0x04]);
    expect(server.handshakeCount).toBe(1);
  });
});
