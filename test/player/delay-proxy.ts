/**
 * An HTTP front for a Polycast server that delays every WebSocket message by
 * `delayMs` in each direction, so a page loaded through it sees a slow
 * network (RTT ≈ 2 × delay) without touching the server or the page.
 * Plain HTTP requests pass straight through. Messages keep their order even
 * when the delay changes, and the text messages the page sends are recorded.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';

export interface DelayProxy {
  readonly port: number;
  /** Changes apply to messages sent from now on. */
  delayMs: number;
  /** Text messages pages sent upstream, in order. */
  readonly sentByPages: string[];
  url(path: string): string;
  close(): Promise<void>;
}

/** One direction of one connection: a FIFO released at each message's due time, never out of order. */
class DelayedPipe {
  private readonly queue: { due: number; data: RawData; binary: boolean }[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly target: () => WebSocket | null,
    private readonly delayMs: () => number,
  ) {}

  push(data: RawData, binary: boolean): void {
    const last = this.queue[this.queue.length - 1];
    const due = Math.max(Date.now() + this.delayMs(), last?.due ?? 0);
    this.queue.push({ due, data, binary });
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.release();
    }, Math.max(0, this.queue[0]!.due - Date.now()));
  }

  private release(): void {
    const socket = this.target();
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      // Upstream still connecting: try again shortly, keeping the order.
      if (this.queue.length > 0) this.timer = setTimeout(() => ((this.timer = null), this.release()), 10);
      return;
    }
    while (this.queue.length > 0 && this.queue[0]!.due <= Date.now()) {
      const { data, binary } = this.queue.shift()!;
      socket.send(data, { binary });
    }
    this.schedule();
  }
}

export async function startDelayProxy(upstreamPort: number, delayMs: number): Promise<DelayProxy> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const sockets = new Set<WebSocket>();
  const server: Server = createServer((req, res) => {
    const upstream = request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const proxy: DelayProxy = {
    port: 0,
    delayMs,
    sentByPages: [],
    url: (path) => `http://127.0.0.1:${proxy.port}${path}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (client) => {
      const upstream = new WebSocket(`ws://127.0.0.1:${upstreamPort}${req.url ?? '/'}`, { perMessageDeflate: false });
      sockets.add(client);
      sockets.add(upstream);
      const up = new DelayedPipe(() => upstream, () => proxy.delayMs);
      const down = new DelayedPipe(() => client, () => proxy.delayMs);
      client.on('message', (data, binary) => {
        if (!binary) proxy.sentByPages.push(data.toString());
        up.push(data, binary);
      });
      upstream.on('message', (data, binary) => down.push(data, binary));
      const end = (code: number, reason: Buffer) => {
        up.stop();
        down.stop();
        const valid = code === 1000 || (code >= 3000 && code <= 4999);
        for (const ws of [client, upstream]) {
          if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(valid ? code : 1000, reason);
          sockets.delete(ws);
        }
      };
      client.on('close', end);
      upstream.on('close', end);
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (proxy as { port: number }).port = (server.address() as AddressInfo).port;
  return proxy;
}
