/**
 * Raw UDP on the WebTransport port: noise, and mutated datagrams of a real
 * QUIC handshake (Initial, Handshake, 1-RTT packets recorded by a UDP proxy
 * while the project's Node WebTransport client connected).
 */
import dgram from 'node:dgram';
import { connectWebTransport } from '../../moq/wt-client.js';
import { fuzzInput } from '../harness.js';
import { runCases, within, type CaseContext, type FuzzTarget } from '../target.js';

/** Client→server datagrams of one WebTransport session set-up. */
export async function captureQuicHandshake(port: number): Promise<Uint8Array[]> {
  const captured: Uint8Array[] = [];
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  let client: { address: string; port: number } | undefined;
  front.on('message', (msg, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port };
    if (captured.length < 16) captured.push(Uint8Array.from(msg));
    back.send(msg, port, '127.0.0.1');
  });
  back.on('message', (msg) => client && front.send(msg, client.port, client.address));
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', () => r()));
  const proxyPort = front.address().port;
  const wt = await within(connectWebTransport(`https://127.0.0.1:${proxyPort}/fuzz/quic/wt/fmp4`), 10_000);
  if (wt !== 'timeout') {
    await new Promise((r) => setTimeout(r, 300));
    wt.close();
  }
  front.close();
  back.close();
  if (captured.length === 0) throw new Error('no QUIC datagrams captured');
  return captured;
}

export const quicUdp: FuzzTarget & { corpus?: Uint8Array[] } = {
  name: 'quic-udp',
  summary: 'UDP datagrams on the WebTransport port: random bytes and mutated QUIC packets of a real handshake (Initial first)',
  // A valid-looking Initial opens a connection the server keeps until its 10 s handshake timeout:
  // memory read sooner counts the last 10 s of half-open handshakes as held.
  settleMs: 12_000,
  // Half-open handshakes allocate in BoringSSL and quiche; the first 100 000 datagrams grow RSS by about
  // 30 MiB that glibc keeps (heap flat), and a second run of the same size on the same server adds nothing.
  fullWarmup: true,
  async prepare(ctx: CaseContext) {
    this.corpus = await captureQuicHandshake(ctx.ports.webTransport);
  },
  async wire(ctx: CaseContext) {
    const corpus = this.corpus!;
    // A few sockets, so that mutated Initials come from several addresses but never thousands.
    const sockets = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const s = dgram.createSocket('udp4');
        s.on('message', () => undefined);
        s.on('error', () => undefined);
        await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
        return s;
      }),
    );
    try {
      await runCases(
        ctx,
        this.name,
        async (index, rng) => {
          const bytes = fuzzInput(rng, corpus, 1400);
          await new Promise<void>((r) => sockets[index % sockets.length]!.send(bytes.subarray(0, 1500), ctx.ports.webTransport, '127.0.0.1', () => r()));
          ctx.sent();
          // Bounded rate: the point is the parser, not flooding loopback.
          if (index % 50 === 49) await new Promise((r) => setTimeout(r, 10));
        },
        1,
      );
    } finally {
      for (const s of sockets) s.close();
    }
  },
};
