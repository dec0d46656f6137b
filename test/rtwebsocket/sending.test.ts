import { describe, expect, it, vi } from 'vitest';
import { encodeMessage, type Message } from '../../src/protocols/rtwebsocket/messages.js';
import { Priority } from '../../src/protocols/rtwebsocket/send-flow.js';
import { connectedPair, hex, rawPeer, settle, text } from './helpers.js';

type UserData = Extract<Message, { type: 'user-data' }>;
const userData = (messages: Message[]) => messages.filter((m): m is UserData => m.type === 'user-data');
const ack = (flowId: number, deltaByteCount: number, bufferAdvertisement: number) =>
  encodeMessage({ type: 'data-ack', flowId, deltaByteCount, bufferAdvertisement });

/** A sender whose flow 0 is open and acked with `window`. */
async function sender(window: number, options = {}) {
  const peer = rawPeer(options);
  const flow = peer.conn.openFlow(text('f'));
  await settle();
  peer.wire.take();
  peer.conn.onMessage(ack(flow.id, 0, window));
  return { ...peer, flow };
}

describe('RTWebSocket sender window', () => {
  it('assumes a 64 KiB window before the first ack', async () => {
    const { conn, wire } = rawPeer();
    conn.openFlow(text('f')).write(new Uint8Array(100_000));
    await settle();
    const sent = wire.sent.filter((b) => b[0] === 0x1d || b[0] === 0x3d).reduce((n, b) => n + b.length, 0);
    expect(sent).toBe(65536);
  });

  it('stops at the advertised window and resumes on ack', async () => {
    const { conn, wire, flow } = await sender(3000);
    const receipt = flow.write(new Uint8Array(10_000).fill(7));
    await settle();
    let frames = userData(wire.take());
    expect(frames.map((f) => f.data.length + 2)).toEqual([1402, 1402, 196]); // exactly 3000 wire bytes
    expect(frames.every((f) => f.more)).toBe(true);
    await settle();
    expect(wire.take()).toEqual([]);

    conn.onMessage(ack(flow.id, 3000, 3000));
    await settle();
    frames = userData(wire.take());
    expect(frames.reduce((n, f) => n + f.data.length + 2, 0)).toBe(3000);
    expect(flow.peerWindow).toBe(3000);

    const sent = vi.fn();
    const acknowledged = vi.fn();
    receipt.onSent = sent;
    receipt.onAcknowledged = acknowledged;
    conn.onMessage(ack(flow.id, 3000, 100_000));
    await settle();
    frames = userData(wire.take());
    expect(frames.at(-1)!.more).toBe(false);
    expect(sent).toHaveBeenCalledOnce();
    expect(acknowledged).not.toHaveBeenCalled();
    const rest = frames.reduce((n, f) => n + f.data.length + 2, 0);
    conn.onMessage(ack(flow.id, rest, 100_000));
    await settle();
    expect(acknowledged).toHaveBeenCalledOnce();
    expect(receipt.acknowledged).toBe(true);
  });

  it('keeps control messages flowing when the window is shut', async () => {
    const { conn, wire, flow } = await sender(0);
    flow.write(text('stuck')).abandon();
    flow.close();
    await settle();
    expect(wire.take()).toEqual([
      { type: 'abandon', flowId: 0, count: 1 },
      { type: 'flow-close', flowId: 0 },
    ]);
    expect(conn.isOpen).toBe(true);
  });

  it('notifies once the queue drains below sndbuf', async () => {
    const { conn, flow } = await sender(0);
    flow.sndbuf = 1000;
    flow.write(new Uint8Array(1500));
    expect(flow.writable).toBe(false);
    const onWritable = vi.fn();
    flow.onWritable = onWritable;
    conn.onMessage(ack(flow.id, 0, 100_000));
    await settle();
    expect(onWritable).toHaveBeenCalledOnce();
    expect(flow.writable).toBe(true);
  });
});

describe('RTWebSocket abandonment', () => {
  it('abandons messages that missed their start deadline and says how many', async () => {
    const { wire, timing, flow } = await sender(0);
    const abandoned = vi.fn();
    const a = flow.write(text('a'), { startWithin: 100 });
    const b = flow.write(text('b'), { startWithin: 100 });
    const c = flow.write(text('c'));
    a.onAbandoned = abandoned;
    b.onAbandoned = abandoned;
    await timing.advance(99);
    expect(wire.take()).toEqual([]);
    await timing.advance(30);
    expect(abandoned).toHaveBeenCalledTimes(2);
    expect(c.abandoned).toBe(false);
    expect(flow.bufferLength).toBe(1);
    expect(wire.sent.map(hex)).toEqual(['1a 00 01']); // count 2 travels as countMinusOne 1
  });

  it('abandons a partly sent message at its finish deadline', async () => {
    const { conn, wire, timing, flow } = await sender(2000);
    const big = flow.write(new Uint8Array(5000), { finishWithin: 100 });
    await settle();
    expect(big.started).toBe(true);
    expect(userData(wire.take()).length).toBe(2);
    await timing.advance(99);
    expect(big.abandoned).toBe(false);
    await timing.advance(30); // deadlines are checked every 25 ms
    expect(big.abandoned).toBe(true);
    expect(wire.take()).toEqual([{ type: 'abandon', flowId: 0, count: 1 }]);
    conn.onMessage(ack(flow.id, 2000, 2000));
    flow.write(text('next'));
    await settle();
    expect(userData(wire.take())).toEqual([{ type: 'user-data', flowId: 0, more: false, data: text('next') }]);
  });

  it('abandons a whole chain with its parent, and only that chain', async () => {
    const { conn, wire, flow } = await sender(0);
    const parent = flow.write(text('I'));
    const child = flow.write(text('P1'), { parent });
    const grandchild = flow.write(text('P2'));
    grandchild.parent = child;
    const other = flow.write(text('audio'));
    const order: number[] = [];
    for (const r of [parent, child, grandchild]) r.onAbandoned = (x) => order.push(x.messageNumber);
    parent.abandon();
    expect([parent.abandoned, child.abandoned, grandchild.abandoned, other.abandoned]).toEqual([true, true, true, false]);
    await settle();
    expect(order.sort()).toEqual([1, 2, 3]);
    expect(wire.take()).toEqual([{ type: 'abandon', flowId: 0, count: 3 }]);
    conn.onMessage(ack(flow.id, 0, 1000));
    await settle();
    expect(userData(wire.take()).map((m) => new TextDecoder().decode(m.data))).toEqual(['audio']);
  });

  it('a missed deadline anywhere up the chain abandons the descendants', async () => {
    const { timing, flow } = await sender(0);
    const parent = flow.write(text('I'), { startWithin: 50 });
    const child = flow.write(text('P'), { parent });
    await timing.advance(80);
    expect(child.abandoned).toBe(true);
  });

  it('does not link to a parent that was already sent, and refuses cycles', async () => {
    const { flow } = await sender(100_000);
    const sent = flow.write(text('a'));
    await settle();
    const later = flow.write(text('b'), { parent: sent });
    expect(later.parent).toBeNull();
    const x = flow.write(text('x'));
    const y = flow.write(text('y'), { parent: x });
    expect(() => (x.parent = y)).toThrow(/cycle/);
  });

  it('the receiver skips abandoned messages, numbering the rest as the sender did', async () => {
    const { a, b } = connectedPair();
    const got: [string, number][] = [];
    b.onRecvFlow = (f) => {
      f.accept();
      f.onMessage = (bytes, n) => got.push([new TextDecoder().decode(bytes), n]);
    };
    const flow = a.openFlow(text('f'));
    const receipts = ['1', '2', '3', '4', '5'].map((s) => flow.write(text(s)));
    receipts[1]!.abandon();
    receipts[2]!.abandon();
    await settle();
    expect(got).toEqual([
      ['1', 1],
      ['4', 4],
      ['5', 5],
    ]);
  });

  it('the receiver drops a partly received message on abandon, counting never-sent ones after it', async () => {
    const { conn } = rawPeer();
    const got: [string, number][] = [];
    conn.onRecvFlow = (f) => {
      f.accept();
      f.onMessage = (bytes, n) => got.push([new TextDecoder().decode(bytes), n]);
    };
    const send = (m: Message) => conn.onMessage(encodeMessage(m));
    send({ type: 'flow-open', flowId: 1, metadata: text('m') });
    send({ type: 'user-data', flowId: 1, more: false, data: text('a') }); // #1
    send({ type: 'user-data', flowId: 1, more: true, data: text('b-part') }); // #2, partial
    send({ type: 'abandon', flowId: 1, count: 3 }); // #2 (partial) plus #3, #4 never sent
    send({ type: 'user-data', flowId: 1, more: false, data: text('c') }); // #5
    send({ type: 'abandon', flowId: 1, count: 1 }); // #6 never sent
    send({ type: 'user-data', flowId: 1, more: true, data: text('d') });
    send({ type: 'user-data', flowId: 1, more: false, data: text('e') }); // #7
    await settle();
    expect(got).toEqual([
      ['a', 1],
      ['c', 5],
      ['de', 7],
    ]);
  });
});

describe('RTWebSocket scheduling', () => {
  it('sends strictly by priority, round-robin by fragment within a level', async () => {
    const { conn, wire } = rawPeer();
    const low = conn.openFlow(text('low'), { priority: Priority.BULK });
    const midA = conn.openFlow(text('midA'), { priority: 5 });
    const midB = conn.openFlow(text('midB'), { priority: 5 });
    const high = conn.openFlow(text('high'), { priority: Priority.FLASH_OVERRIDE });
    await settle();
    expect(wire.take().map((m) => m.type === 'flow-open' && m.flowId)).toEqual([high.id, midA.id, midB.id, low.id]);

    low.write(new Uint8Array(3000));
    midA.write(new Uint8Array(4200));
    midB.write(new Uint8Array(4200));
    high.write(new Uint8Array(2800));
    await settle();
    const order = userData(wire.take()).map((m) => m.flowId);
    const [L, A, B, H] = [low.id, midA.id, midB.id, high.id];
    expect(order).toEqual([H, H, A, B, A, B, A, B, L, L, L]);
  });

  it('applies a priority change from the next fragment', async () => {
    const { conn, wire } = rawPeer();
    const a = conn.openFlow(text('a'), { priority: 2 });
    const b = conn.openFlow(text('b'), { priority: 1 });
    await settle();
    wire.take();
    a.write(new Uint8Array(1400));
    b.write(new Uint8Array(1400));
    b.priority = 6;
    expect(b.priority).toBe(6);
    a.priority = 99;
    expect(a.priority).toBe(7);
    await settle();
    expect(userData(wire.take()).map((m) => m.flowId)).toEqual([a.id, b.id]);
  });

  it('fragments a 100 KB message into 1400-byte pieces and reassembles it', async () => {
    const { a, b, log } = connectedPair();
    const message = new Uint8Array(100_000).map((_, i) => (i * 31 + 7) & 0xff);
    let received: Uint8Array | undefined;
    b.onRecvFlow = (f) => {
      f.accept();
      f.onMessage = (bytes, n) => {
        expect(n).toBe(1);
        received = bytes;
      };
    };
    a.openFlow(text('big')).write(message);
    for (let i = 0; i < 10 && received === undefined; i++) await settle();
    expect(received).toBeDefined();
    expect(Buffer.compare(received!, message)).toBe(0);
    const frames = log.filter((e) => e.from === 'a').map((e) => e.message).filter((m): m is UserData => m.type === 'user-data');
    expect(frames).toHaveLength(Math.ceil(100_000 / 1400));
    expect(frames.every((f) => f.data.length <= 1400)).toBe(true);
    expect(frames.map((f) => f.more)).toEqual([...Array(frames.length - 1).fill(true), false]);
  });

  it('holds everything while the transport buffers too much, then resumes', async () => {
    const { conn, wire, timing } = rawPeer({ maxBufferedAmount: 1000 });
    wire.buffered = 5000;
    conn.openFlow(text('f')).write(text('x'));
    await timing.advance(50);
    expect(wire.sent).toEqual([]);
    wire.buffered = 0;
    await timing.advance(10);
    expect(wire.take().map((m) => m.type)).toEqual(['flow-open', 'user-data', 'set-ack-window']);
  });

  it('never lets bytes in flight pass the cap', async () => {
    const { conn, wire } = rawPeer({ minOutstanding: 10_000 });
    const flow = conn.openFlow(text('f'));
    flow.write(new Uint8Array(50_000));
    await settle();
    const sent = userData(wire.take()).reduce((n, m) => n + m.data.length + 2, 0);
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(sent).toBeLessThan(10_000 + 1402);
    expect(conn.bytesInFlight).toBe(sent);
  });
});

describe('RTWebSocket scheduling under the cap', () => {
  it('an empty message waiting on the cap goes out when another flow\'s ack opens it', async () => {
    const { conn, wire } = rawPeer({ minOutstanding: 3000 });
    const busy = conn.openFlow(text('busy'));
    const quiet = conn.openFlow(text('quiet'));
    busy.write(new Uint8Array(4000));
    await settle();
    const inFlight = conn.bytesInFlight;
    expect(conn.outstandingThreshold).toBe(3000);
    expect(inFlight).toBeGreaterThanOrEqual(3000);
    wire.take();
    const empty = quiet.write(new Uint8Array(0));
    await settle();
    expect(userData(wire.take())).toEqual([]);
    conn.onMessage(ack(busy.id, inFlight, 100_000));
    await settle();
    expect(userData(wire.take())).toContainEqual({ type: 'user-data', flowId: quiet.id, more: false, data: new Uint8Array(0) });
    expect(empty.sent).toBe(true);
  });
});

describe('RTWebSocket bounds', () => {
  it('drops the oldest queued messages past the byte limit', async () => {
    const { flow } = await sender(0, { maxQueuedBytes: 3000 });
    const receipts = Array.from({ length: 5 }, () => flow.write(new Uint8Array(1000)));
    expect(receipts.map((r) => r.abandoned)).toEqual([true, true, false, false, false]);
    expect(flow.bufferLength).toBe(3000);
    const tooBig = flow.write(new Uint8Array(3001));
    expect(tooBig.abandoned).toBe(true);
    expect(tooBig.error).toBeInstanceOf(RangeError);
    // Refused, not queued: what was queued stays.
    expect(flow.bufferLength).toBe(3000);
  });

  it('drops the oldest queued messages past the message limit, placeholders included', async () => {
    const { flow } = await sender(0);
    flow.maxQueuedMessages = 3;
    const receipts = Array.from({ length: 5 }, () => flow.write(text('m')));
    expect(receipts.map((r) => r.abandoned)).toEqual([true, true, false, false, false]);
    expect(flow.queuedMessages).toBe(3);
  });

  it('rejects a flow whose message outgrows maxMessageSize, and stays connected', async () => {
    const { conn, wire } = rawPeer({ maxMessageSize: 1000 });
    conn.onRecvFlow = (f) => f.accept();
    conn.onMessage(encodeMessage({ type: 'flow-open', flowId: 1, metadata: text('m') }));
    for (let i = 0; i < 3; i++) conn.onMessage(encodeMessage({ type: 'user-data', flowId: 1, more: true, data: new Uint8Array(400) }));
    await settle();
    expect(wire.take()).toContainEqual({ type: 'flow-exception', flowId: 1, reasonCode: 0, description: 'message too large' });
    expect(conn.isOpen).toBe(true);
    expect(conn.stats().receiveBuffered).toBe(0);
  });

  it('treats data far beyond the advertised window as a protocol error', async () => {
    const { conn, wire } = rawPeer({ rcvbuf: 1000, maxMessageSize: 1000 });
    conn.onRecvFlow = (f) => {
      f.accept();
      f.paused = true;
    };
    conn.onMessage(encodeMessage({ type: 'flow-open', flowId: 1, metadata: text('m') }));
    for (let i = 0; i < 100 && conn.isOpen; i++) {
      conn.onMessage(encodeMessage({ type: 'user-data', flowId: 1, more: false, data: new Uint8Array(1000) }));
    }
    expect(conn.isOpen).toBe(false);
    expect(wire.closedWith?.code).toBe(4002);
  });

  it('refuses flows beyond maxRecvFlows, and disconnects a peer that keeps trying', async () => {
    const { conn, wire } = rawPeer({ maxRecvFlows: 2 });
    conn.onRecvFlow = (f) => f.accept();
    for (let id = 1; id <= 3; id++) conn.onMessage(encodeMessage({ type: 'flow-open', flowId: id, metadata: text('m') }));
    await settle();
    expect(wire.take()).toContainEqual({ type: 'flow-exception', flowId: 3, reasonCode: 0, description: 'too many flows' });
    conn.onMessage(encodeMessage({ type: 'flow-open', flowId: 4, metadata: text('m') }));
    expect(conn.isOpen).toBe(true);
    conn.onMessage(encodeMessage({ type: 'flow-open', flowId: 5, metadata: text('m') }));
    expect(conn.isOpen).toBe(false);
  });
});
