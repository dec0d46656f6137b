import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { packetOutput, type PacketOutput } from '../../src/protocols/udp/batch-output.js';
import { nativeUdpBatch } from '../../src/protocols/udp/native-udp-batch.js';

const sockets: Socket[] = [];

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  s.setRecvBufferSize(4 * 1024 * 1024);
  sockets.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  const native = nativeUdpBatch();
  if ('binding' in native) native.binding.setGso(true);
});

/** Packets with their index in every byte, in the sizes a flush produces: full ones, a short one closing a frame, lone small ones. */
const SIZES = [1350, 1350, 1350, 700, 1350, 1350, 1350, 1350, 200, 90, 1350, 1349, 1350, 60];

function sendAll(out: PacketOutput, port: number, sizes: number[]): void {
  sizes.forEach((len, i) => {
    const buf = out.next();
    expect(buf.length).toBeGreaterThanOrEqual(len);
    buf.fill(i & 0xff, 0, len);
    out.commit(len, { host: '127.0.0.1', port });
  });
  out.end();
}

async function receive(rx: Socket, count: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`received ${got.length} of ${count} packets`)), 3000);
    rx.on('message', (m) => {
      got.push(m);
      if (got.length === count) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return got;
}

function expectIntact(got: Buffer[], sizes: number[]): void {
  expect(got.map((m) => m.length)).toEqual(sizes);
  got.forEach((m, i) => expect(m.every((b) => b === (i & 0xff))).toBe(true));
}

describe('batched UDP output', () => {
  it('is built and chosen on Linux: sendmmsg with UDP GSO', async () => {
    expect(process.platform).toBe('linux');
    const native = nativeUdpBatch();
    expect('error' in native ? native.error : 'loaded').toBe('loaded');
    const { output, why } = packetOutput(await bound(), 1350, {});
    expect(why).toBeUndefined();
    expect(output.mode).toBe('sendmmsg+gso');
  });

  it('delivers every packet whole and in order, equal-sized runs merged into GSO sends', async () => {
    const rx = await bound();
    const { output } = packetOutput(await bound(), 1350, {});
    const arriving = receive(rx, SIZES.length);
    sendAll(output, rx.address().port, SIZES);
    expectIntact(await arriving, SIZES);
    // One sendmmsg for the whole flush.
    expect(output.counters).toEqual({ packets: SIZES.length, sends: 1, deferred: 0 });
  });

  it('sends more packets than one batch holds, across several system calls', async () => {
    const rx = await bound();
    const { output } = packetOutput(await bound(), 1350, {});
    const sizes = Array.from({ length: 150 }, (_, i) => (i % 17 === 16 ? 333 : 1350));
    const arriving = receive(rx, sizes.length);
    sendAll(output, rx.address().port, sizes);
    expectIntact(await arriving, sizes);
    expect(output.counters.sends).toBe(3);
  });

  it('works without GSO (plain sendmmsg)', async () => {
    const rx = await bound();
    const { output } = packetOutput(await bound(), 1350, { POLYCAST_UDP_GSO: '0' });
    expect(output.mode).toBe('sendmmsg');
    const arriving = receive(rx, SIZES.length);
    sendAll(output, rx.address().port, SIZES);
    expectIntact(await arriving, SIZES);
  });

  it('falls back to dgram when asked, packet by packet', async () => {
    const rx = await bound();
    const { output, why } = packetOutput(await bound(), 1350, { POLYCAST_UDP_OUTPUT: 'dgram' });
    expect(output.mode).toBe('dgram');
    expect(why).toContain('POLYCAST_UDP_OUTPUT');
    const arriving = receive(rx, SIZES.length);
    sendAll(output, rx.address().port, SIZES);
    expectIntact(await arriving, SIZES);
    expect(output.counters.sends).toBe(SIZES.length);
  });

  it('sends each part of a batch to its own peer when the destination changes', async () => {
    const a = await bound();
    const b = await bound();
    const { output } = packetOutput(await bound(), 1350, {});
    const toA = receive(a, 3);
    const toB = receive(b, 2);
    [1350, 1350, 500].forEach((len, i) => {
      output.next().fill(i, 0, len);
      output.commit(len, { host: '127.0.0.1', port: a.address().port });
    });
    [1350, 20].forEach((len, i) => {
      output.next().fill(i, 0, len);
      output.commit(len, { host: '127.0.0.1', port: b.address().port });
    });
    output.end();
    expectIntact(await toA, [1350, 1350, 500]);
    expectIntact(await toB, [1350, 20]);
    // Each packet carries its own address: both peers in one sendmmsg.
    expect(output.counters.sends).toBe(1);
  });

  it('never merges equal-sized packets for different peers into one GSO send', async () => {
    const a = await bound();
    const b = await bound();
    const { output } = packetOutput(await bound(), 1350, {});
    const toA = receive(a, 3);
    const toB = receive(b, 3);
    for (let i = 0; i < 6; i++) {
      output.next().fill(i >> 1, 0, 1350);
      output.commit(1350, { host: '127.0.0.1', port: (i % 2 === 0 ? a : b).address().port });
    }
    output.end();
    expectIntact(await toA, [1350, 1350, 1350]);
    expectIntact(await toB, [1350, 1350, 1350]);
  });

  it('flushes of several connections in one turn of the event loop leave in one system call', async () => {
    const peers = await Promise.all([bound(), bound(), bound()]);
    const { output } = packetOutput(await bound(), 1350, {});
    const arriving = peers.map((p) => receive(p, 2));
    for (const p of peers) {
      // What Http3Connection.flush does per connection: its packets, then end().
      [1350, 400].forEach((len, i) => {
        output.next().fill(i, 0, len);
        output.commit(len, { host: '127.0.0.1', port: p.address().port });
      });
      output.end();
    }
    expect(output.counters.sends).toBe(0);
    for (const a of arriving) expectIntact(await a, [1350, 400]);
    expect(output.counters).toEqual({ packets: 6, sends: 1, deferred: 0 });
  });
});
