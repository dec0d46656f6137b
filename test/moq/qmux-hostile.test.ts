/**
 * QMux on /moq from a raw client: hostile and broken ones are each closed
 * with a CONNECTION_CLOSE naming what they did, before they can make the
 * server hold more than the windows it advertised, while a real @moq/net
 * session on the same server keeps receiving groups; and a well-behaved one
 * that grants little credit gets no more than it granted, then the newest
 * group rather than a backlog.
 */
import { describe, expect, it } from 'vitest';
import * as Net from '@moq/net';
import { WebSocket } from 'ws';
import * as QmuxFrame from '../../node_modules/@moq/qmux/frame.js';
import * as QmuxStream from '../../node_modules/@moq/qmux/stream.js';
import { VarInt } from '../../node_modules/@moq/qmux/varint.js';
import * as Lite from './net-lite.js';
import { liveServerFixture } from './live-server.js';

const fx = liveServerFixture('paths:\n  live/x:\n', 'live/x');

const CLIENT_PARAMS = { ...QmuxFrame.RECOMMENDED_TRANSPORT_PARAMS, resetStreamAt: true };
const params = (): Uint8Array => QmuxFrame.encode({ type: 'transport_parameters', params: CLIENT_PARAMS }, 'qmux-02');
const stream = (id: number, data: Uint8Array, offset = 0): Uint8Array =>
  QmuxFrame.encode({ type: 'stream', id: new QmuxStream.Id(VarInt.from(id)), offset: BigInt(offset), data, fin: false }, 'qmux-02');

interface Outcome {
  /** The WebSocket close code. */
  wsCode: number;
  /** The CONNECTION_CLOSE the server sent, as @moq/qmux decodes it. */
  close: { code: number; reason: string } | undefined;
  /** Bytes the client could send before the server closed. */
}

/** Opens a raw QMux WebSocket, sends `messages` (binary unless a string), and reports how the server ended it. */
async function hostile(messages: Array<Uint8Array | string>, protocol = 'qmux-02.moq-lite-05'): Promise<Outcome> {
  const ws = new WebSocket(fx.srv.httpUrl('/moq').replace('http', 'ws'), [protocol]);
  let close: Outcome['close'];
  const version = protocol.split('.')[0] as 'qmux-02' | 'qmux-01' | 'qmux-00';
  ws.on('message', (data: Buffer) => {
    for (const f of version === 'qmux-00' ? [QmuxFrame.decode(new Uint8Array(data), version)] : QmuxFrame.decodeRecord(new Uint8Array(data))) {
      if (f?.type === 'connection_close') close = { code: Number(f.code.value), reason: f.reason };
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  expect(ws.protocol).toBe(protocol);
  for (const m of messages) if (ws.readyState === ws.OPEN) ws.send(m, { binary: typeof m !== 'string' });
  const wsCode = await new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return { wsCode, close };
}

describe('hostile QMux clients', () => {
  it('are closed each with its own reason while a real session keeps playing', async () => {
    const conn = await Net.Connection.connect(new URL(fx.srv.httpUrl('/moq')));
    const video = conn.consume(Net.Path.from('live/x')).track('video').subscribe({ priority: 60 });
    expect(await video.nextGroup()).toBeDefined();
    const before = fx.moq.sessions.size;
    try {
      // Garbage where the transport parameters belong: 0x40 0xff is a two-byte varint frame type nobody defined.
      const garbage = await hostile([Uint8Array.of(0x40, 0xff, 1, 2, 3)]);
      expect(garbage.close).toEqual({ code: 0x07, reason: expect.stringContaining('unknown frame type 0xff') });
      expect(garbage.wsCode).toBe(1002);

      const streamFirst = await hostile([stream(0, Uint8Array.of(1))]);
      expect(streamFirst.close).toMatchObject({ code: 0x0a, reason: expect.stringContaining('first frame') });

      const unknownType = await hostile([params(), Uint8Array.of(0x21, 0)]);
      expect(unknownType.close).toMatchObject({ code: 0x07, reason: expect.stringContaining('unknown frame type 0x21') });

      const truncated = await hostile([params(), Uint8Array.of(0x0e, 0x00, 0x00, 0x10, 1, 2)]);
      expect(truncated.close).toMatchObject({ code: 0x07, reason: 'frame truncated' });

      const text = await hostile([params(), 'hello']);
      expect(text.close).toMatchObject({ code: 0x0a, reason: 'text message' });

      // A record one byte over the draft-01 default, which we never raised.
      const record = await hostile([params(), new Uint8Array(16383)]);
      expect(record.close).toMatchObject({ code: 0x07, reason: expect.stringContaining('16383 bytes') });

      // Larger than any draft allows: the WebSocket layer refuses it before buffering it.
      const huge = await hostile([params(), new Uint8Array(1 << 20)]);
      expect(huge.wsCode).toBe(1009);

      const datagram = await hostile([params(), Uint8Array.of(0x31, 1, 0)]);
      expect(datagram.close).toMatchObject({ code: 0x0a, reason: expect.stringContaining('DATAGRAM') });

      // Stream 400 is bidirectional stream index 100; we allow 100 at once.
      const tooMany = await hostile([params(), stream(400, Uint8Array.of(1))]);
      expect(tooMany.close).toMatchObject({ code: 0x04 });

      // STREAM on a stream only the server may open.
      const wrongSide = await hostile([params(), stream(3, Uint8Array.of(1))]);
      expect(wrongSide.close).toMatchObject({ code: 0x05 });

      const gap = await hostile([params(), stream(0, Uint8Array.of(1)), stream(0, Uint8Array.of(2), 5)]);
      expect(gap.close).toMatchObject({ code: 0x0a, reason: expect.stringContaining('offset 5') });

      const params2 = await hostile([params(), params()]);
      expect(params2.close).toMatchObject({ code: 0x0a, reason: expect.stringContaining('second') });

      expect(fx.moq.sessions.size).toBe(before);
      // The real session never noticed.
      for (let i = 0; i < 2; i++) expect(await video.nextGroup()).toBeDefined();
    } finally {
      conn.close();
    }
  });

  it('cannot make the server hold more than the stream and connection windows before the moq session is set up', async () => {
    // Bare qmux-02: no version until the compat setup, so the session reads each stream's type and then waits.
    const chunk = new Uint8Array(16000).fill(1);
    const perStream = (id: number): Uint8Array[] => [0, 1, 2, 3, 4].map((i) => stream(id, chunk, i * chunk.length));
    // One stream, five frames: 80 000 bytes against a 64 KiB stream window of which only the first frame was read.
    const oneStream = await hostile([params(), ...perStream(0)], 'qmux-02');
    expect(oneStream.close).toMatchObject({ code: 0x03, reason: expect.stringContaining("stream's flow-control limit") });
    // Four frames on each of six streams stay inside each stream's window, not inside the 256 KiB for the connection.
    const many = [0, 4, 8, 12, 16, 20].flatMap((id) => perStream(id).slice(0, 4));
    const connection = await hostile([params(), ...many], 'qmux-02');
    expect(connection.close).toMatchObject({ code: 0x03, reason: expect.stringContaining('connection flow-control limit') });
  });

  it('refuses a WebSocket upgrade of /moq that offers no QMux subprotocol', async () => {
    for (const protocols of [[], ['webtransport'], ['moq-lite-05']]) {
      const ws = new WebSocket(fx.srv.httpUrl('/moq').replace('http', 'ws'), protocols);
      const status = await new Promise<number>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => resolve(101));
        ws.once('error', () => {});
      });
      expect(status).toBe(400);
      ws.terminate();
    }
  });
});


describe('flow control towards the client', () => {
  it('sends no more than the client granted, and after a stall the newest group rather than the backlog', async () => {
    const ws = new WebSocket(fx.srv.httpUrl('/moq').replace('http', 'ws'), ['qmux-02.moq-lite-04']);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    /** Each group stream's first bytes (its header). */
    const heads = new Map<bigint, Uint8Array>();
    let total = 0;
    ws.on('message', (data: Buffer) => {
      for (const f of QmuxFrame.decodeRecord(new Uint8Array(data))) {
        if (f.type !== 'stream') continue;
        // Connection credit covers every stream, the SUBSCRIBE_OK on the client's own stream included.
        total += f.data.length;
        if (!f.id.serverInitiated) continue;
        const id = f.id.value.value;
        if (!heads.has(id)) heads.set(id, f.data.slice(0, 8));
      }
    });
    const granted = 40_000;
    // The client gives the connection 40 kB and never reads more: each of a few video frames is bigger than that.
    const tight = { ...CLIENT_PARAMS, initialMaxData: BigInt(granted), initialMaxStreamDataUni: 1_000_000n, initialMaxStreamsUni: 1000n };
    ws.send(QmuxFrame.encode({ type: 'transport_parameters', params: tight }, 'qmux-02'));
    const subscribe = await Lite.netBytes(async (w) => {
      await w.u53(Lite.StreamId.Subscribe);
      await new Lite.Subscribe({ id: 7n, broadcast: 'live/x', track: 'video', priority: 60 }).encode(w, Lite.Version.DRAFT_04);
    });
    ws.send(stream(0, subscribe));
    const sessionOf = () => [...fx.moq.sessions].find((x) => x.negotiatedVersion === 'moq-lite-04' && x.binding === 'websocket');
    await new Promise((r) => setTimeout(r, 2500));
    // Credit used up, and not one byte beyond it, while the server had seconds of video to send.
    expect(total).toBe(granted);
    const dropped = sessionOf()!.groupsDropped;
    expect(dropped).toBeGreaterThan(0);
    // A group stream opens with type 0, the header's size, subscription 7, then the sequence (small here: one byte).
    for (const h of heads.values()) expect([h[0], h[2]]).toEqual([0, 7]);
    const firstSequences = [...heads.values()].map((h) => h[3]!);
    // Now the client reads: the next groups come, and they are new ones, not the two-and-a-half seconds it missed.
    ws.send(QmuxFrame.encode({ type: 'max_data', max: 100_000_000n }, 'qmux-02'));
    const before = heads.size;
    const deadline = Date.now() + 10_000;
    while (heads.size < before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(heads.size).toBeGreaterThanOrEqual(before + 2);
    const later = [...heads.values()].slice(before).map((h) => h[3]!);
    // Half-second GOPs: 2.5 s of stall is about five groups the server skipped.
    expect(Math.min(...later)).toBeGreaterThan(Math.max(...firstSequences) + 2);
    ws.close();
  });
});
