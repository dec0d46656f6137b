import { describe, expect, it, vi } from 'vitest';
import type { RecvFlow } from '../../src/protocols/rtwebsocket/recv-flow.js';
import { encodeMessage } from '../../src/protocols/rtwebsocket/messages.js';
import { connectedPair, rawPeer, settle, text } from './helpers.js';

const decoder = new TextDecoder();

describe('RTWebSocket flows', () => {
  it('opens a flow with metadata and delivers numbered messages in order', async () => {
    const { a, b } = connectedPair();
    const got: [string, number][] = [];
    let metadata = '';
    b.onRecvFlow = (flow) => {
      metadata = decoder.decode(flow.metadata);
      flow.accept();
      flow.onMessage = (bytes, n) => got.push([decoder.decode(bytes), n]);
    };
    const flow = a.openFlow(text('live/cam1 video'));
    flow.write(text('one'));
    flow.write(new Uint8Array(0));
    flow.write(text('three'));
    await settle();
    expect(metadata).toBe('live/cam1 video');
    expect(got).toEqual([
      ['one', 1],
      ['', 2],
      ['three', 3],
    ]);
  });

  it('rejects a flow nobody accepts', async () => {
    const { a, b } = connectedPair();
    b.onRecvFlow = () => {};
    const flow = a.openFlow(text('x'));
    const onException = vi.fn();
    flow.onException = onException;
    await settle();
    expect(onException).toHaveBeenCalledWith(0, 'not accepted');
    expect(flow.isOpen).toBe(false);
    // A refused write answers an abandoned receipt with the reason; it never throws into the writer.
    const refused = flow.write(text('more'));
    const onAbandoned = vi.fn();
    refused.onAbandoned = onAbandoned;
    expect(refused.abandoned).toBe(true);
    expect(refused.messageNumber).toBe(0);
    expect(refused.error?.message).toMatch(/flow 0 is closed/);
    await settle();
    expect(onAbandoned).toHaveBeenCalledTimes(1);
    expect(flow.bufferLength).toBe(0);
  });

  it('writes made after a flow exception arrived, before its callback ran, are refused without throwing', async () => {
    const { conn, wire } = rawPeer();
    const flow = conn.openFlow(text('x'));
    await settle();
    conn.onMessage(encodeMessage({ type: 'data-ack', flowId: 0, deltaByteCount: 0, bufferAdvertisement: 0 }));
    const queued = flow.write(text('a'));
    const exceptions: Array<[number | undefined, string | undefined]> = [];
    flow.onException = (code, description) => exceptions.push([code, description]);
    conn.onMessage(encodeMessage({ type: 'flow-exception', flowId: 0, reasonCode: 9, description: 'no thanks' }));
    // The callback is deferred; a writer that does not know yet must not be thrown at.
    const late = flow.write(text('b'));
    const child = flow.write(text('c'), { parent: late });
    expect(exceptions).toEqual([]);
    expect([queued.abandoned, late.abandoned, child.abandoned]).toEqual([true, true, true]);
    expect(late.error?.message).toMatch(/closed/);
    await settle();
    expect(exceptions).toEqual([[9, 'no thanks']]);
    expect(wire.take().map((m) => m.type)).toEqual(['flow-open', 'abandon', 'flow-close']);
  });

  it('on a flow exception abandons everything queued, then sends abandon and flow close', async () => {
    const { conn, wire } = rawPeer();
    const flow = conn.openFlow(text('x'));
    await settle();
    conn.onMessage(encodeMessage({ type: 'data-ack', flowId: 0, deltaByteCount: 0, bufferAdvertisement: 0 }));
    const receipts = [flow.write(text('a')), flow.write(text('b'))];
    await settle();
    expect(wire.take().map((m) => m.type)).toEqual(['flow-open']);
    conn.onMessage(encodeMessage({ type: 'flow-exception', flowId: 0, reasonCode: 3 }));
    await settle();
    expect(receipts.every((r) => r.abandoned)).toBe(true);
    expect(flow.bufferLength).toBe(0);
    expect(wire.take()).toEqual([
      { type: 'abandon', flowId: 0, count: 2 },
      { type: 'flow-close', flowId: 0 },
    ]);
    conn.onMessage(encodeMessage({ type: 'flow-close-ack', flowId: 0 }));
    expect(conn.stats().sendFlows).toBe(0);
  });

  it('carries a rejection reason code and description to the sender', async () => {
    const { a, b } = connectedPair();
    let recv: RecvFlow | undefined;
    b.onRecvFlow = (flow) => {
      flow.accept();
      recv = flow;
    };
    const flow = a.openFlow(text('x'));
    const onException = vi.fn();
    flow.onException = onException;
    await settle();
    recv!.close(42, 'go away');
    await settle();
    expect(onException).toHaveBeenCalledWith(42, 'go away');
    // Sender abandons, closes; receiver acks the close: both tables empty again.
    await settle();
    expect(a.stats().sendFlows).toBe(0);
    expect(b.stats().recvFlows).toBe(0);
  });

  it('opens return flows associated with the received flow', async () => {
    const { a, b } = connectedPair();
    b.onRecvFlow = (flow) => {
      flow.accept();
      flow.onMessage = (bytes) => {
        const back = flow.openReturnFlow(text('reply'));
        back.write(text(`echo ${decoder.decode(bytes)}`));
      };
    };
    const request = a.openFlow(text('request'));
    const replies: string[] = [];
    let associated: unknown;
    request.onRecvFlow = (flow) => {
      associated = flow.associatedSendFlow;
      expect(decoder.decode(flow.metadata)).toBe('reply');
      flow.accept();
      flow.onMessage = (bytes) => replies.push(decoder.decode(bytes));
    };
    const plain = vi.fn();
    a.onRecvFlow = plain;
    request.write(text('hello'));
    await settle();
    await settle();
    expect(replies).toEqual(['echo hello']);
    expect(associated).toBe(request);
    expect(plain).not.toHaveBeenCalled();
  });

  it('rejects a return flow whose association is not an open send flow', async () => {
    const { conn, wire } = rawPeer();
    const announced = vi.fn();
    conn.onRecvFlow = announced;
    conn.onMessage(encodeMessage({ type: 'flow-open', flowId: 9, returnAssociation: 4, metadata: text('c') }));
    await settle();
    expect(wire.take()).toEqual([
      { type: 'flow-exception', flowId: 9, reasonCode: 0, description: 'return association not found' },
      { type: 'data-ack', flowId: 9, deltaByteCount: 0, bufferAdvertisement: 0 },
    ]);
    expect(announced).not.toHaveBeenCalled();
  });

  it('closes a flow: data first, then flow close, ack and close ack; the ID is reused later', async () => {
    const { a, b, log } = connectedPair();
    const events: string[] = [];
    b.onRecvFlow = (flow) => {
      flow.accept();
      flow.onMessage = (bytes) => events.push(decoder.decode(bytes));
      flow.onComplete = () => events.push('complete');
    };
    const flow = a.openFlow(text('x'));
    flow.write(text('last words'));
    flow.close();
    expect(flow.write(text('no')).error?.message).toMatch(/closed/);
    await settle();
    await settle();
    expect(events).toEqual(['last words', 'complete']);
    const fromA = log.filter((e) => e.from === 'a').map((e) => e.message.type);
    expect(fromA.slice(0, 3)).toEqual(['flow-open', 'user-data', 'flow-close']);
    const fromB = log.filter((e) => e.from === 'b').map((e) => e.message.type);
    expect(fromB.slice(-2)).toEqual(['data-ack', 'flow-close-ack']);
    expect(a.stats().sendFlows).toBe(0);
    expect(b.stats().recvFlows).toBe(0);

    // IDs come back through the end of the free list, not immediately.
    const ids = Array.from({ length: 20 }, () => a.openFlow(text('n')).id);
    expect(ids.slice(0, 15)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(ids).toContain(0);
  });

  it('answers pings with the same payload and measures RTT', async () => {
    const { a, b, timing, log } = connectedPair({ delayMs: 30 });
    const rtt = a.ping();
    await timing.advance(60);
    await expect(rtt).resolves.toBe(60);
    expect(a.lastPingRtt).toBe(60);
    const ping = log.find((e) => e.message.type === 'ping')!.message;
    const reply = log.find((e) => e.message.type === 'ping-reply')!.message;
    expect(ping.type === 'ping' && reply.type === 'ping-reply' && reply.payload).toEqual(ping.type === 'ping' && ping.payload);
    expect(a.rtt).toBeLessThan(100); // smoothed from the 100 ms prior towards 60
    expect(b.lastPingRtt).toBeUndefined();
  });

  it('bounds outstanding pings by rejecting the oldest', async () => {
    const { conn } = rawPeer({ maxPendingPings: 2 });
    const first = conn.ping();
    conn.ping();
    conn.ping();
    await expect(first).rejects.toThrow(/superseded/);
  });

  it('closing the connection notifies open send flows and completes receive flows', async () => {
    const { a, b } = connectedPair();
    const complete = vi.fn();
    b.onRecvFlow = (flow) => {
      flow.accept();
      flow.onComplete = complete;
    };
    const flow = a.openFlow(text('x'));
    await settle();
    const onException = vi.fn();
    flow.onException = onException;
    const onClose = vi.fn();
    a.onClose = onClose;
    const pending = a.ping();
    a.close();
    await expect(pending).rejects.toThrow(/closed/);
    await settle();
    expect(onException).toHaveBeenCalledWith(undefined, undefined);
    expect(onClose).toHaveBeenCalledWith(undefined);
    expect(complete).toHaveBeenCalled();
    expect(a.isOpen).toBe(false);
    expect(() => a.openFlow(text('y'))).toThrow();
  });
});

describe('RTWebSocket protocol errors', () => {
  const cases: [string, Uint8Array[], string][] = [
    ['a malformed message', [new Uint8Array([0x5a, 0x01])], 'truncated'],
    [
      'a duplicate flow open',
      [encodeMessage({ type: 'flow-open', flowId: 1, metadata: text('a') }), encodeMessage({ type: 'flow-open', flowId: 1, metadata: text('b') })],
      'duplicate-flow',
    ],
    ['data for an unknown flow', [encodeMessage({ type: 'user-data', flowId: 3, more: false, data: text('x') })], 'unknown-flow'],
    ['an abandon for an unknown flow', [encodeMessage({ type: 'abandon', flowId: 3, count: 1 })], 'unknown-flow'],
    ['an ack for an unknown flow', [encodeMessage({ type: 'data-ack', flowId: 3, deltaByteCount: 0, bufferAdvertisement: 0 })], 'unknown-flow'],
    ['an exception for an unknown flow', [encodeMessage({ type: 'flow-exception', flowId: 3 })], 'unknown-flow'],
    ['a close ack for a flow never closed', [encodeMessage({ type: 'flow-close-ack', flowId: 3 })], 'bad-close-ack'],
  ];

  it.each(cases)('closes the connection on %s', async (_name, messages, kind) => {
    const { conn, wire } = rawPeer();
    conn.onRecvFlow = (flow) => flow.accept();
    const onClose = vi.fn();
    conn.onClose = onClose;
    for (const m of messages) conn.onMessage(m);
    await settle();
    expect(wire.closedWith?.code).toBe(4002);
    expect(wire.closedWith?.reason).toMatch(/protocol error/);
    expect(onClose).toHaveBeenCalledWith(expect.objectContaining({ kind }));
    expect(conn.isOpen).toBe(false);
  });

  it('closes the connection on an ack for bytes never sent', async () => {
    const { conn, wire } = rawPeer();
    const flow = conn.openFlow(text('x'));
    flow.write(new Uint8Array(10));
    await settle();
    conn.onMessage(encodeMessage({ type: 'data-ack', flowId: flow.id, deltaByteCount: 13, bufferAdvertisement: 100 }));
    expect(conn.isOpen).toBe(false);
    expect(wire.closedWith?.code).toBe(4002);
  });

  it('keeps the protocol error when the transport close re-enters close()', async () => {
    const { conn, wire } = rawPeer();
    wire.close = (code, reason) => {
      wire.closedWith = { code, reason };
      conn.close();
    };
    const onClose = vi.fn();
    conn.onClose = onClose;
    conn.onMessage(encodeMessage({ type: 'flow-close', flowId: 8 }));
    await settle();
    expect(wire.closedWith?.code).toBe(4002);
    expect(onClose).toHaveBeenCalledExactlyOnceWith(expect.objectContaining({ kind: 'unknown-flow' }));
  });

  it('ignores empty messages and undefined type codes', () => {
    const { conn } = rawPeer();
    conn.onMessage(new Uint8Array(0));
    conn.onMessage(new Uint8Array([0x77, 1, 2, 3]));
    expect(conn.isOpen).toBe(true);
  });

  it('reports, not propagates, exceptions thrown by application callbacks', async () => {
    const errors: unknown[] = [];
    const { a, b } = connectedPair({ b: { onCallbackError: (e) => errors.push(e) } });
    b.onRecvFlow = (flow) => {
      flow.accept();
      flow.onMessage = () => {
        throw new Error('app bug');
      };
    };
    a.openFlow(text('x')).write(text('boom'));
    await settle();
    expect(errors).toEqual([new Error('app bug')]);
    expect(b.isOpen).toBe(true);
  });
});
