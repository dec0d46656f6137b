import { describe, expect, it } from 'vitest';
import { encodeMessage, type Message } from '../../src/protocols/rtwebsocket/messages.js';
import type { RecvFlow } from '../../src/protocols/rtwebsocket/recv-flow.js';
import { rawPeer, settle, text } from './helpers.js';

const open = (flowId: number) => encodeMessage({ type: 'flow-open', flowId, metadata: text('m') });
/** A complete user-data message whose wire length is `wire` bytes (flow IDs < 128). */
const data = (flowId: number, wire: number, more = false) =>
  encodeMessage({ type: 'user-data', flowId, more, data: new Uint8Array(wire - 2) });
const acks = (messages: Message[]) => messages.filter((m) => m.type === 'data-ack');

function receiver(options = {}) {
  const peer = rawPeer(options);
  const flows: RecvFlow[] = [];
  peer.conn.onRecvFlow = (flow) => {
    flow.accept();
    flows.push(flow);
  };
  return { ...peer, flows };
}

describe('RTWebSocket ack generation', () => {
  it('acks immediately on flow open, advertising the receive buffer', async () => {
    const { conn, wire } = receiver();
    conn.onMessage(open(1));
    await settle();
    expect(wire.take()).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 0, bufferAdvertisement: 2097151 }]);
  });

  it('delays the ack for a little data, but by no more than 250 ms', async () => {
    const { conn, wire, timing } = receiver();
    conn.onMessage(open(1));
    await settle();
    wire.take();
    conn.onMessage(data(1, 100));
    await timing.advance(249);
    expect(wire.take()).toEqual([]);
    await timing.advance(1);
    expect(wire.take()).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 100, bufferAdvertisement: 2097151 }]);
  });

  it('acks at once after every ack-window bytes (initially 2800), counting headers', async () => {
    const { conn, wire } = receiver();
    conn.onMessage(open(1));
    await settle();
    wire.take();
    conn.onMessage(data(1, 1402, true));
    await settle();
    expect(wire.take()).toEqual([]);
    conn.onMessage(data(1, 1402));
    await settle();
    expect(wire.take()).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 2804, bufferAdvertisement: 2097151 }]);
  });

  it('honours set ack window, never below 2800, and counts afresh from it', async () => {
    const { conn, wire } = receiver();
    conn.onMessage(open(1));
    await settle();
    wire.take();
    conn.onMessage(data(1, 2000));
    conn.onMessage(encodeMessage({ type: 'set-ack-window', ackWindow: 5000 }));
    conn.onMessage(data(1, 2000));
    conn.onMessage(data(1, 2000));
    await settle();
    expect(wire.take()).toEqual([]);
    conn.onMessage(data(1, 1000));
    await settle();
    expect(acks(wire.take())).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 7000, bufferAdvertisement: 2097151 }]);

    conn.onMessage(encodeMessage({ type: 'set-ack-window', ackWindow: 10 }));
    conn.onMessage(data(1, 2798));
    await settle();
    expect(wire.take()).toEqual([]);
    conn.onMessage(data(1, 2));
    await settle();
    expect(acks(wire.take())).toHaveLength(1);
  });

  it('acks at once after half the last advertised window arrives on a flow', async () => {
    const { conn, wire } = receiver({ rcvbuf: 8000 });
    conn.onMessage(encodeMessage({ type: 'set-ack-window', ackWindow: 1_000_000 }));
    conn.onMessage(open(1));
    await settle();
    expect(wire.take()).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 0, bufferAdvertisement: 8000 }]);
    conn.onMessage(data(1, 1500));
    conn.onMessage(data(1, 2498));
    await settle();
    expect(wire.take()).toEqual([]);
    conn.onMessage(data(1, 2));
    await settle();
    expect(wire.take()).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 4000, bufferAdvertisement: 8000 }]);
  });

  it('sends every pending ack together', async () => {
    const { conn, wire } = receiver();
    conn.onMessage(open(1));
    conn.onMessage(open(2));
    await settle();
    wire.take();
    conn.onMessage(data(1, 100));
    conn.onMessage(data(2, 200));
    await settle();
    expect(wire.take()).toEqual([]);
    conn.onMessage(encodeMessage({ type: 'abandon', flowId: 2, count: 1 })); // an immediate-ack event on flow 2
    await settle();
    expect(wire.take()).toEqual([
      { type: 'data-ack', flowId: 1, deltaByteCount: 100, bufferAdvertisement: 2097151 },
      { type: 'data-ack', flowId: 2, deltaByteCount: 200, bufferAdvertisement: 2097151 },
    ]);
  });

  it('on flow close sends the ack, then the close ack, and forgets the flow ID', async () => {
    const { conn, wire } = receiver();
    conn.onMessage(open(1));
    await settle();
    wire.take();
    conn.onMessage(data(1, 10));
    conn.onMessage(encodeMessage({ type: 'flow-close', flowId: 1 }));
    await settle();
    expect(wire.take()).toEqual([
      { type: 'data-ack', flowId: 1, deltaByteCount: 10, bufferAdvertisement: 2097151 },
      { type: 'flow-close-ack', flowId: 1 },
    ]);
    conn.onMessage(open(1)); // the ID is free for a new flow at once
    expect(conn.isOpen).toBe(true);
  });

  it('a paused flow advertises what is left of its buffer, and the full buffer on resume', async () => {
    const { conn, wire, flows } = receiver({ rcvbuf: 10000 });
    conn.onMessage(open(1));
    await settle();
    wire.take();
    const got: number[] = [];
    flows[0]!.onMessage = (bytes) => got.push(bytes.length);
    flows[0]!.paused = true;
    conn.onMessage(data(1, 3002));
    await settle();
    expect(acks(wire.take())).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 3002, bufferAdvertisement: 7000 }]);
    expect(got).toEqual([]);
    expect(flows[0]!.bufferLength).toBe(3000);
    flows[0]!.paused = false;
    await settle();
    expect(got).toEqual([3000]);
    expect(acks(wire.take())).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 0, bufferAdvertisement: 10000 }]);
  });

  it('keeps acking a rejected flow so the sender can drain, advertising nothing', async () => {
    const { conn, wire } = rawPeer();
    conn.onRecvFlow = (flow) => flow.close(9);
    conn.onMessage(open(1));
    await settle();
    expect(wire.take()).toEqual([
      { type: 'flow-exception', flowId: 1, reasonCode: 9 },
      { type: 'data-ack', flowId: 1, deltaByteCount: 0, bufferAdvertisement: 0 },
    ]);
    conn.onMessage(data(1, 500));
    await settle();
    expect(wire.take()).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 500, bufferAdvertisement: 0 }]);
  });

  it('holds acks while the transport is backed up, merging them per flow', async () => {
    const { conn, wire, timing } = receiver({ maxBufferedAmount: 1000 });
    conn.onMessage(open(1));
    await settle();
    wire.take();
    wire.buffered = 5000;
    for (let i = 0; i < 10; i++) conn.onMessage(data(1, 1402));
    await timing.advance(300);
    expect(wire.take()).toEqual([]);
    wire.buffered = 0;
    await timing.advance(10);
    expect(wire.take()).toEqual([{ type: 'data-ack', flowId: 1, deltaByteCount: 14020, bufferAdvertisement: 2097151 }]);
  });
});
