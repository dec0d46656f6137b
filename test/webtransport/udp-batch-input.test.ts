import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ipv6, packetInput, type PacketInput, type Peer } from '../../src/protocols/udp/batch-input.js';

const sockets: Socket[] = [];
const inputs: PacketInput[] = [];

async function bound(type: 'udp4' | 'udp6', host: string): Promise<Socket> {
  const s = createSocket(type);
  await new Promise<void>((resolve) => s.bind(0, host, resolve));
  // The burst is sent before the reader's turn comes: the default buffer would drop part of it.
  s.setRecvBufferSize(4 * 1024 * 1024);
  sockets.push(s);
  return s;
}

afterEach(async () => {
  for (const i of inputs.splice(0)) i.stop();
  await Promise.all(sockets.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

/** Collects what `rx` reads through packetInput until `count` datagrams came. */
async function collect(rx: Socket, count: number, send: () => void): Promise<{ mode: string; got: Array<{ data: Buffer; from: Peer }> }> {
  const got: Array<{ data: Buffer; from: Peer }> = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  // The datagram is a view of a buffer the next batch reuses: a copy is what a handler may keep.
  const { input } = packetInput(rx, (msg, from) => {
    got.push({ data: Buffer.from(msg), from });
    if (got.length === count) done();
  });
  inputs.push(input);
  send();
  await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error(`read ${got.length} of ${count}`)), 3000))]);
  return { mode: input.mode, got };
}

describe('batched UDP input (recvmmsg)', () => {
  it('reads every datagram of a burst, in order, with its sender, and dgram no longer emits them', async () => {
    const rx = await bound('udp4', '127.0.0.1');
    const tx = await bound('udp4', '127.0.0.1');
    let dgramEvents = 0;
    rx.on('message', () => dgramEvents++);
    const n = 300;
    const { mode, got } = await collect(rx, n, () => {
      for (let i = 0; i < n; i++) tx.send(Buffer.alloc(20 + (i % 1300), i & 0xff), rx.address().port, '127.0.0.1');
    });
    expect(mode).toBe('recvmmsg');
    expect(got.map((g) => g.data.length)).toEqual(Array.from({ length: n }, (_, i) => 20 + (i % 1300)));
    expect(got.every((g, i) => g.data.every((b) => b === (i & 0xff)))).toBe(true);
    expect(new Set(got.map((g) => g.from)).size).toBe(1);
    expect(got[0]!.from).toEqual({ address: '127.0.0.1', port: tx.address().port });
    expect(dgramEvents).toBe(0);
  });

  it('names IPv6 senders as dgram does, and drops a datagram larger than a slot', async () => {
    const rx = await bound('udp6', '::1');
    const tx = await bound('udp6', '::1');
    const { got } = await collect(rx, 2, () => {
      tx.send(Buffer.alloc(100, 1), rx.address().port, '::1');
      // Larger than any QUIC packet a client may send us: not handed on.
      tx.send(Buffer.alloc(4000, 2), rx.address().port, '::1');
      tx.send(Buffer.alloc(50, 3), rx.address().port, '::1');
    });
    expect(got.map((g) => [g.data.length, g.data[0]])).toEqual([
      [100, 1],
      [50, 3],
    ]);
    expect(got[0]!.from).toEqual({ address: '::1', port: tx.address().port });
  });

  it('falls back to dgram events when asked', async () => {
    const rx = await bound('udp4', '127.0.0.1');
    const tx = await bound('udp4', '127.0.0.1');
    const got: number[] = [];
    const { input, why } = packetInput(rx, (msg) => got.push(msg.length), { POLYCAST_UDP_INPUT: 'dgram' });
    inputs.push(input);
    expect(input.mode).toBe('dgram');
    expect(why).toBe('POLYCAST_UDP_INPUT=dgram');
    tx.send(Buffer.alloc(10), rx.address().port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([10]);
  });

  it('leaves no copy of the socket in child processes: once closed, the port is closed', async () => {
    const rx = createSocket('udp4');
    await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', resolve));
    const port = rx.address().port;
    const { input } = packetInput(rx, () => {});
    expect(input.mode).toBe('recvmmsg');
    // A child started while the server listens (ffmpeg, a browser) must not inherit the reader's descriptor.
    const child = spawn('sleep', ['5'], { stdio: 'ignore' });
    try {
      input.stop();
      await new Promise<void>((resolve) => rx.close(() => resolve()));
      const tx = createSocket('udp4');
      sockets.push(tx);
      await new Promise<void>((resolve) => tx.connect(port, '127.0.0.1', resolve));
      const refused = new Promise<string>((resolve) => tx.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')));
      // The first send draws the ICMP "port unreachable"; a later one reports it.
      const timer = setInterval(() => tx.send(Buffer.alloc(1)), 20);
      const code = await Promise.race([refused, new Promise<string>((resolve) => setTimeout(() => resolve('no error: the port is still open'), 1000))]);
      clearInterval(timer);
      expect(code).toBe('ECONNREFUSED');
    } finally {
      child.kill();
    }
  });

  it('formats IPv6 addresses as RFC 5952 and Node do', () => {
    const cases: Array<[string, string]> = [
      ['00000000000000000000000000000001', '::1'],
      ['20010db8000000000000000000000001', '2001:db8::1'],
      ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
      ['00000000000000000000ffff7f000001', '::ffff:127.0.0.1'],
      ['fe800000000000000202b3fffe1e8329', 'fe80::202:b3ff:fe1e:8329'],
      ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
      ['00000000000000000000000000000000', '::'],
    ];
    for (const [hex, text] of cases) expect(ipv6(Buffer.from(hex, 'hex'), 0)).toBe(text);
  });
});
