import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { remoteAddressOf, type TransportContext } from '../../src/transport.js';

/** An input socket that stops reading may hold this much before input to it is dropped. */
const INPUT_SOCKET_LIMIT = 1024 * 1024;

/**
 * `/<path>/ws/input`: where the publisher's side receives what viewers type
 * and click. Viewers' messages were validated and rate-limited already; this
 * fans them out unchanged.
 */
export class InputRelay {
  private readonly sinks = new Map<string, Set<WebSocket>>();
  dropped = 0;

  constructor(
    private readonly wss: WebSocketServer,
    private readonly ctx: TransportContext,
    private readonly log: Logger,
  ) {}

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pathName: string): void {
    const remoteAddress = remoteAddressOf(req);
    this.wss.handleUpgrade(req, socket, head, async (ws) => {
      // From the first moment: a protocol error while authorization is pending would otherwise end the process.
      ws.on('error', () => ws.terminate());
      const acquired = this.ctx.paths.acquire(pathName);
      if (!('name' in acquired)) {
        ws.close(4404, `no such path: ${acquired.error}`.slice(0, 120));
        return;
      }
      // Viewers' keystrokes belong to whoever may publish the path.
      let denied: string | undefined;
      try {
        denied = await this.ctx.authorizePublish?.({
          path: pathName,
          transport: 'ws-nal-input',
          query: new URL(req.url ?? '/', 'http://x').searchParams,
          headers: req.headers,
          remoteAddress,
          ip: req.socket.remoteAddress,
        });
      } catch (err) {
        denied = `authorization failed: ${(err as Error).message}`;
      }
      if (denied !== undefined) {
        this.log.warn({ path: pathName, remoteAddress, reason: denied }, 'input subscriber refused');
        ws.close(1008, denied.slice(0, 120));
        this.ctx.paths.release(acquired);
        return;
      }
      if (ws.readyState !== ws.OPEN) return;
      let set = this.sinks.get(pathName);
      if (set === undefined) {
        set = new Set();
        this.sinks.set(pathName, set);
      }
      set.add(ws);
      this.log.info({ path: pathName, remoteAddress }, 'input subscriber connected');
      // The input socket is receive-only: anything it sends is a protocol error.
      ws.on('message', () => ws.close(1008, 'the input socket is receive-only'));
      ws.on('close', () => {
        set.delete(ws);
        if (set.size === 0) this.sinks.delete(pathName);
        this.log.info({ path: pathName, remoteAddress }, 'input subscriber disconnected');
      });
    });
  }

  relay(path: string, data: Uint8Array): void {
    const set = this.sinks.get(path);
    if (set === undefined) {
      this.dropped++;
      return;
    }
    for (const ws of set) {
      if (ws.bufferedAmount > INPUT_SOCKET_LIMIT) {
        this.dropped++;
        continue;
      }
      ws.send(data, { binary: true });
    }
  }

  announce(path: string, event: 'join' | 'leave', id: string): void {
    const set = this.sinks.get(path);
    if (set === undefined) return;
    const text = JSON.stringify({ type: 'viewer', event, id });
    for (const ws of set) ws.send(text);
  }

  close(reason: string): void {
    for (const set of this.sinks.values()) for (const ws of set) ws.close(1001, reason);
  }
}
