import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { RTWebSocketConnection } from '../../src/protocols/rtwebsocket/connection.js';
import type { WriteReceipt } from '../../src/protocols/rtwebsocket/receipt.js';
import type { RecvFlow } from '../../src/protocols/rtwebsocket/recv-flow.js';
import { Priority } from '../../src/protocols/rtwebsocket/send-flow.js';
import { attachWebSocket } from '../../src/protocols/rtwebsocket/websocket.js';

const MESSAGE_BYTES = 16 * 1024;
const WRITE_EVERY_MS = 10; // ~1.6 MB/s offered
const READ_EVERY_MS = 40; // ~400 KB/s consumed
const GOP = 10;
const RUN_MS = 2500;
const RCVBUF = 128 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function frame(seq: number): Uint8Array {
  const bytes = new Uint8Array(MESSAGE_BYTES).fill(seq & 0xff);
  new DataView(bytes.buffer).setUint32(0, seq);
  return bytes;
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function loopbackPair() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const { port } = wss.address() as AddressInfo;
  const serverSide = once(wss, 'connection') as Promise<[WebSocket]>;
  const clientSocket = new WebSocket(`ws://127.0.0.1:${port}`);
  await once(clientSocket, 'open');
  const [serverSocket] = await serverSide;
  cleanup = async () => {
    clientSocket.terminate();
    serverSocket.terminate();
    await new Promise((resolve) => wss.close(resolve));
  };
  return { serverSocket, clientSocket };
}

describe('RTWebSocket over ws on 127.0.0.1', () => {
  it('a throttled reader makes the sender abandon late messages while every buffer stays bounded', async () => {
    const { serverSocket, clientSocket } = await loopbackPair();
    const server: RTWebSocketConnection = attachWebSocket(serverSocket);
    const client: RTWebSocketConnection = attachWebSocket(clientSocket, { rcvbuf: RCVBUF });

    // Reader: holds the flow paused and takes one message per tick.
    const received = new Map<number, Uint8Array>();
    let recvFlow: RecvFlow | undefined;
    let maxReceiveBuffer = 0;
    client.onRecvFlow = (flow) => {
      flow.accept();
      flow.paused = true;
      flow.onMessage = (bytes, n) => {
        received.set(n, bytes);
        flow.paused = true;
      };
      recvFlow = flow;
    };
    const reader = setInterval(() => {
      if (recvFlow === undefined) return;
      maxReceiveBuffer = Math.max(maxReceiveBuffer, recvFlow.bufferLength);
      recvFlow.paused = false;
    }, READ_EVERY_MS);

    // Writer: GOP-like chains, each frame depending on the previous one.
    const flow = server.openFlow(new TextEncoder().encode('video'), { priority: Priority.PRIORITY });
    const receipts: WriteReceipt[] = [];
    let previous: WriteReceipt | null = null;
    let maxQueued = 0;
    let maxInFlightOverCap = -Infinity;
    let maxSocketBuffered = 0;
    const writer = setInterval(() => {
      const seq = receipts.length + 1;
      const parent = (seq - 1) % GOP === 0 ? null : previous;
      previous = flow.write(frame(seq), { startWithin: 150, finishWithin: 400, parent });
      receipts.push(previous);
      maxQueued = Math.max(maxQueued, flow.bufferLength);
      maxInFlightOverCap = Math.max(maxInFlightOverCap, server.bytesInFlight - server.outstandingThreshold);
      maxSocketBuffered = Math.max(maxSocketBuffered, serverSocket.bufferedAmount);
    }, WRITE_EVERY_MS);

    await sleep(RUN_MS);
    clearInterval(writer);
    flow.close();
    await sleep(600); // every remaining deadline has passed by now
    clearInterval(reader);

    const abandoned = receipts.filter((r) => r.abandoned);
    const sent = receipts.filter((r) => r.sent);
    expect(receipts.length).toBeGreaterThan(150);
    expect(abandoned.length).toBeGreaterThan(receipts.length / 3); // offered 4x what is read
    expect(sent.length + abandoned.length).toBe(receipts.length);
    expect(received.size).toBeGreaterThan(20);

    // Every received message is intact and numbered as written; abandoned ones leave gaps.
    for (const [n, bytes] of received) {
      expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)).toBe(n);
      expect(bytes.length).toBe(MESSAGE_BYTES);
      expect(bytes[MESSAGE_BYTES - 1]).toBe(n & 0xff);
    }
    const numbers = [...received.keys()].sort((x, y) => x - y);
    expect(numbers.at(-1)! - numbers[0]! + 1).toBeGreaterThan(numbers.length);
    // A dependent frame never arrives without the frame it depends on.
    for (const n of numbers) if ((n - 1) % GOP !== 0) expect(received.has(n - 1)).toBe(true);

    // Bounds: deadlines keep the send queue to ~150 ms of offered data, the
    // window keeps the reader's buffer to its rcvbuf, the cap keeps the flight bounded.
    expect(maxQueued).toBeLessThan(500 * 1024);
    expect(maxReceiveBuffer).toBeLessThanOrEqual(RCVBUF + MESSAGE_BYTES);
    expect(maxInFlightOverCap).toBeLessThanOrEqual(1402);
    expect(maxSocketBuffered).toBeLessThan(256 * 1024);
    expect(server.stats().queuedBytes).toBe(0);

    const closed = new Promise<Error | undefined>((resolve) => (server.onClose = resolve));
    client.close();
    await expect(closed).resolves.toBeUndefined();
  });

  it('carries flows both ways, with pings, between a ws server and client', async () => {
    const { serverSocket, clientSocket } = await loopbackPair();
    const server = attachWebSocket(serverSocket);
    const client = attachWebSocket(clientSocket);
    server.onRecvFlow = (flow) => {
      flow.accept();
      const back = flow.openReturnFlow(new TextEncoder().encode('pong'));
      flow.onMessage = (bytes) => back.write(bytes.slice().reverse());
    };
    const request = client.openFlow(new TextEncoder().encode('ping'));
    const replies: Uint8Array[] = [];
    request.onRecvFlow = (flow) => {
      flow.accept();
      flow.onMessage = (bytes) => replies.push(bytes);
    };
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    request.write(big);
    request.write(new Uint8Array([1, 2, 3]));
    const rtt = await client.ping();
    expect(rtt).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 100 && replies.length < 2; i++) await sleep(10);
    expect(replies[1]).toEqual(new Uint8Array([3, 2, 1]));
    expect(Buffer.compare(replies[0]!, big.slice().reverse())).toBe(0);
  });

  it('the binding ignores text frames, as the reference does: the connection carries on', async () => {
    const { serverSocket, clientSocket } = await loopbackPair();
    const server = attachWebSocket(serverSocket);
    const client = attachWebSocket(clientSocket);
    const got: string[] = [];
    server.onRecvFlow = (flow) => {
      flow.accept();
      flow.onMessage = (bytes) => got.push(new TextDecoder().decode(bytes));
    };
    const flow = client.openFlow(new TextEncoder().encode('x'));
    flow.write(new TextEncoder().encode('before'));
    // Not RTWebSocket: a text frame (and one that even looks like a message type).
    clientSocket.send('\u001d\u0000not a protocol message');
    flow.write(new TextEncoder().encode('after'));
    expect(await client.ping()).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 100 && got.length < 2; i++) await sleep(10);
    expect(got).toEqual(['before', 'after']);
    expect(server.isOpen).toBe(true);
  });
});
