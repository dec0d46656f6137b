import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { SocketOutput, sendBatch, tcpDirect } from '../../src/web/socket-output.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A connected pair on loopback: `server` is the side SocketOutput writes on, `client` reads (paused until asked). */
async function pair(): Promise<{ server: Socket; client: Socket }> {
  const listener: Server = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as { port: number }).port;
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  client.pause();
  const [server] = await accepted;
  cleanup.push(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  return { server, client };
}

/** Reads everything the client gets until `bytes` have arrived. */
async function readAll(client: Socket, bytes: number): Promise<Buffer> {
  const got: Buffer[] = [];
  let n = 0;
  client.on('data', (d: Buffer) => {
    got.push(d);
    n += d.length;
  });
  client.resume();
  const deadline = Date.now() + 10_000;
  while (n < bytes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return Buffer.concat(got);
}

/** `len` bytes counting up from `from`, so any reordering or loss shows. */
function pattern(from: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (from + i) & 0xff;
  return b;
}

describe('SocketOutput', () => {
  it('is built and used for plain TCP sockets (npm run build builds native/tcp-direct)', async () => {
    expect(tcpDirect()).toHaveProperty('binding');
    const { server } = await pair();
    expect(new SocketOutput(server).bypasses).toBe(true);
  });

  it('keeps the byte order across direct writes, held bursts and writes of others on the socket', async () => {
    const { server, client } = await pair();
    const out = new SocketOutput(server);
    const parts = [pattern(0, 100), pattern(100, 5000), pattern(5100, 7), pattern(5107, 70_000), pattern(75_107, 300)];
    out.write(parts[0]!);
    out.cork();
    out.write(parts[1]!);
    out.write(parts[2]!);
    // Another writer (the ws library) flushes what is held before its own bytes.
    out.flush();
    server.write(parts[3]!);
    out.write(parts[4]!);
    out.uncork();
    const total = parts.reduce((a, p) => a + p.length, 0);
    const got = await readAll(client, total);
    expect(got.equals(Buffer.concat(parts))).toBe(true);
    expect(out.bytesWritten).toBe(total);
  });

  it('hands what the kernel does not take to Node, in order, when the reader is slow', async () => {
    const { server, client } = await pair();
    const out = new SocketOutput(server);
    const parts: Buffer[] = [];
    let at = 0;
    // Far beyond the kernel's socket buffers while the client reads nothing.
    for (let i = 0; i < 200; i++) {
      const len = 1000 + ((i * 7919) % 60_000);
      const p = pattern(at, len);
      at += len;
      parts.push(p);
      if (i % 3 === 0) {
        out.cork();
        out.write(p);
      } else {
        out.write(p);
        if (i % 3 === 2) out.uncork();
      }
    }
    out.uncork();
    expect(out.writableLength).toBeGreaterThan(0);
    expect(out.bytesWritten).toBe(at);
    const got = await readAll(client, at);
    expect(got.length).toBe(at);
    expect(got.equals(Buffer.concat(parts))).toBe(true);
  });

  it('tells a writer that found no room once a held burst went to the kernel, which Node never sees', async () => {
    const { server, client } = await pair();
    const out = new SocketOutput(server);
    let drains = 0;
    out.onDrain(() => drains++);
    out.cork();
    out.write(pattern(0, 200_000));
    expect(out.hasRoom(100_000)).toBe(false);
    out.uncork();
    await new Promise((r) => setTimeout(r, 0));
    expect(drains).toBe(1);
    expect(out.hasRoom(100_000)).toBe(true);
    await readAll(client, 200_000);
  });

  it('tells a writer that found no room when Node drains what the kernel refused', async () => {
    const { server, client } = await pair();
    const out = new SocketOutput(server);
    let drains = 0;
    out.onDrain(() => drains++);
    for (let i = 0; i < 100; i++) out.write(pattern(i, 64 * 1024));
    expect(out.hasRoom(256 * 1024)).toBe(false);
    await readAll(client, 100 * 64 * 1024);
    await new Promise((r) => setTimeout(r, 20));
    expect(drains).toBeGreaterThanOrEqual(1);
  });

  it('never writes on the descriptor of a socket that is gone (it may belong to another connection by then)', async () => {
    const a = await pair();
    const out = new SocketOutput(a.server);
    a.server.destroy();
    const b = await pair();
    out.write(pattern(0, 1000));
    b.server.write(pattern(7, 10));
    const got = await readAll(b.client, 10);
    expect(got.equals(pattern(7, 10))).toBe(true);
  });

  it('holds writes until the end of the turn, then sends every socket\'s share together, over helper threads, intact and in order', async () => {
    const sockets = await Promise.all(Array.from({ length: 80 }, () => pair()));
    const outputs = sockets.map((p) => new SocketOutput(p.server));
    const received = sockets.map(() => [] as Buffer[]);
    sockets.forEach((p, i) => {
      p.client.on('data', (d: Buffer) => received[i]!.push(d));
      p.client.resume();
    });
    const before = { ...sendBatch()!.counters };
    const expected = sockets.map(() => [] as Buffer[]);
    // A helper that is slow to wake finds the caller done with the batch: rounds until one took part, 10 at most.
    for (let round = 0; round < 10; round++) {
      // One frame serialized once for everyone, as the fan-out writes it, then a burst of each viewer's own.
      const shared = pattern(round, 60_000);
      outputs.forEach((out, i) => {
        const own = pattern(i + round, 1000 + i);
        out.write(shared);
        out.cork();
        out.write(own);
        out.write(shared.subarray(0, 7));
        out.uncork();
        expected[i]!.push(shared, own, shared.subarray(0, 7));
      });
      // Nothing has left yet: it is all held, and counted as written.
      expect(outputs[0]!.writableLength).toBe(60_000 + 1000 + 7);
      await new Promise((r) => setTimeout(r, 0));
      if (sendBatch()!.counters.parallel > before.parallel) break;
    }
    const deadline = Date.now() + 10_000;
    const complete = () => received.every((got, i) => Buffer.concat(got).length === Buffer.concat(expected[i]!).length);
    while (!complete() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    received.forEach((got, i) => expect(Buffer.concat(got).equals(Buffer.concat(expected[i]!))).toBe(true));
    for (const out of outputs) expect(out.writableLength).toBe(0);
    // Every round was one batch for all 80 sockets; with a second core, a helper thread sent part of one.
    const batches = sendBatch()!.counters.batches - before.batches;
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBe(expected[0]!.length / 3);
    if (availableParallelism() > 1) expect(sendBatch()!.counters.parallel).toBeGreaterThan(before.parallel);
  });

  it('a socket destroyed while its write is held costs only itself: the others of the batch get theirs', async () => {
    const sockets = await Promise.all(Array.from({ length: 40 }, () => pair()));
    const outputs = sockets.map((p) => new SocketOutput(p.server));
    const frame = pattern(3, 20_000);
    for (const out of outputs) out.write(frame);
    sockets[5]!.server.destroy();
    sockets[6]!.server.end();
    const alive = sockets.filter((_, i) => i !== 5 && i !== 6);
    const got = await Promise.all(alive.map((p) => readAll(p.client, frame.length)));
    for (const bytes of got) expect(bytes.equals(frame)).toBe(true);
  });

  it('leaves TLS sockets to Node: their bytes must be encrypted first', () => {
    expect(new SocketOutput(new TLSSocket(undefined as unknown as Socket)).bypasses).toBe(false);
  });
});
