import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { redactQuery } from '../auth/credentials.js';
import { apiTypeOf } from '../hooks.js';
import type { ConnectionLease } from '../limits.js';
import { PathError, type Path } from '../stream/path.js';
import type { Reader } from '../stream/reader.js';
import { remoteAddressOf, type SessionInfo, type TransportContext } from '../transport.js';

/** One WebSocket reader of a path, as a transport implements it. */
export interface WsViewer {
  readonly id: string;
  readonly reader: Reader;
  readonly ws: WebSocket;
  /** performance.now() of the last sign of life from the client. */
  readonly lastSeen: number;
  close(code: number, reason: string): void;
  sendStats(): void;
}

export interface ViewerFactoryArgs {
  ws: WebSocket;
  socket: Duplex;
  req: IncomingMessage;
  path: Path;
  remoteAddress: string;
  /** The viewer calls this exactly once when it ends, whoever ended it. */
  onClose(viewer: WsViewer, reason: string): void;
}

export interface WsEndpointOptions<V extends WsViewer> {
  transport: string;
  ctx: TransportContext;
  log: Logger;
  create(args: ViewerFactoryArgs): V;
  onAttached?(viewer: V, path: Path): void;
  onDetached?(viewer: V, path: Path): void;
  /** Transport-specific fields of a session in the control API. */
  describe?(viewer: V): SessionInfo['extra'];
}

/** What the endpoint keeps per viewer beyond the viewer itself. */
interface Tracked {
  readonly socket: Duplex;
  readonly path: Path;
  readonly query: string;
  /** performance.now() of the last time the socket's unsent data shrank or was empty. */
  progressAt: number;
  unsent: number;
}

const TICK_MS = 2000;

/**
 * The part every WebSocket transport shares: resolve the path, authorize,
 * upgrade, attach a reader (maxReaders), log connect and disconnect, and a
 * periodic tick for stats, keep-alive pings and read timeouts.
 */
export class WsReaderEndpoint<V extends WsViewer> {
  readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  readonly viewers = new Set<V>();
  private readonly tracked = new Map<V, Tracked>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: WsEndpointOptions<V>) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pathName: string): void {
    const remoteAddress = remoteAddressOf(req);
    const { ctx, log } = this.o;
    const lease = ctx.connections?.reserve(remoteAddress);
    if (lease !== undefined && 'refused' in lease) {
      log.warn({ path: pathName, remoteAddress, reason: lease.refused }, 'viewer refused');
      const text = `${lease.refused}\n`;
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
      return;
    }
    // Whatever happens from here (a failed handshake included), the slot goes with the socket.
    if (lease !== undefined) socket.once('close', () => lease.release());
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const acquired = ctx.paths.acquire(pathName);
      if (!('name' in acquired)) {
        log.info({ path: pathName, remoteAddress, reason: acquired.error }, 'viewer refused');
        ws.close(4404, `no such path: ${acquired.error}`.slice(0, 120));
        return;
      }
      this.authorize(req, pathName, remoteAddress).then(
        (denied) => {
          if (denied !== undefined) {
            log.warn({ path: pathName, remoteAddress, reason: denied }, 'viewer refused');
            ws.close(1008, denied.slice(0, 120));
            ctx.paths.release(acquired);
            return;
          }
          this.attach(ws, socket, req, acquired, remoteAddress, lease);
        },
        (err: Error) => {
          ws.close(1011, `authorization failed: ${err.message}`.slice(0, 120));
          ctx.paths.release(acquired);
        },
      );
    });
  }

  close(reason: string): void {
    clearInterval(this.timer);
    for (const viewer of [...this.viewers]) viewer.close(1001, reason);
  }

  /**
   * Resolves once every viewer's socket has sent what it was given (or after
   * `timeoutMs`): at shutdown the last frames reach the clients before the close.
   */
  async flushed(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const pending = () => [...this.tracked.values()].some((t) => t.socket.writableLength > 0 && !t.socket.destroyed);
    while (pending() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  /** Sessions for the control API. */
  sessions(): SessionInfo[] {
    return [...this.tracked].map(([viewer, t]) => ({
      id: viewer.id,
      created: new Date(viewer.reader.createdAt),
      remoteAddr: viewer.reader.info.remoteAddress,
      state: 'read',
      path: t.path.name,
      query: t.query,
      inboundBytes: (t.socket as { bytesRead?: number }).bytesRead ?? 0,
      outboundBytes: (t.socket as { bytesWritten?: number }).bytesWritten ?? 0,
      outboundFramesDiscarded: viewer.reader.stats.framesDropped,
      extra: this.o.describe?.(viewer),
    }));
  }

  /** Closes one viewer (the API's kick) with 1008; false when there is no such id. */
  kick(id: string, reason: string): boolean {
    for (const viewer of this.viewers) {
      if (viewer.id !== id) continue;
      viewer.close(1008, reason);
      return true;
    }
    return false;
  }

  private async authorize(req: IncomingMessage, path: string, remoteAddress: string): Promise<string | undefined> {
    const { ctx } = this.o;
    if (ctx.authorizeRead === undefined) return undefined;
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    return ctx.authorizeRead({ path, transport: this.o.transport, query, headers: req.headers, remoteAddress, ip: req.socket.remoteAddress });
  }

  private attach(ws: WebSocket, socket: Duplex, req: IncomingMessage, path: Path, remoteAddress: string, lease: ConnectionLease | undefined): void {
    const { ctx, log } = this.o;
    if (ws.readyState !== ws.OPEN) {
      ctx.paths.release(path);
      return;
    }
    let attached = false;
    const viewer = this.o.create({
      ws,
      socket,
      req,
      path,
      remoteAddress,
      onClose: (v, reason) => {
        const mine = v as V;
        this.viewers.delete(mine);
        this.tracked.delete(mine);
        path.removeReader(mine.reader, reason);
        if (attached) {
          this.o.onDetached?.(mine, path);
          log.info({ path: path.name, remoteAddress, id: mine.id, reason, dropped: mine.reader.stats.framesDropped }, 'viewer disconnected');
        }
        ctx.paths.release(path);
      },
    });
    const rawQuery = (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?') + 1) : '';
    viewer.reader.query = redactQuery(rawQuery);
    viewer.reader.kick = (reason, code) => viewer.close(code, reason);
    try {
      path.addReader(viewer.reader);
    } catch (err) {
      const reason = (err as Error).message;
      log.warn({ path: path.name, remoteAddress, reason }, 'viewer refused');
      viewer.close(err instanceof PathError && err.code === 'too-many-readers' ? 1008 : 1011, reason);
      return;
    }
    attached = true;
    this.viewers.add(viewer);
    this.tracked.set(viewer, { socket, path, query: viewer.reader.query, progressAt: performance.now(), unsent: 0 });
    lease?.identify(apiTypeOf(this.o.transport), viewer.id);
    this.o.onAttached?.(viewer, path);
    log.info({ path: path.name, remoteAddress, id: viewer.id }, 'viewer connected');
  }

  private tick(): void {
    const now = performance.now();
    const writeTimeout = this.o.ctx.writeTimeoutMs ?? Infinity;
    for (const viewer of this.viewers) {
      if (now - viewer.lastSeen > this.o.ctx.readTimeoutMs) {
        viewer.close(1001, 'read timeout');
        continue;
      }
      // A socket is stuck when its unsent data has not shrunk for writeTimeout;
      // a slow client that drains, however slowly, is the reader queue's business.
      const t = this.tracked.get(viewer);
      if (t !== undefined) {
        const unsent = t.socket.writableLength;
        if (unsent === 0 || unsent < t.unsent) t.progressAt = now;
        t.unsent = unsent;
        if (now - t.progressAt > writeTimeout) {
          this.o.log.warn({ path: t.path.name, id: viewer.id, unsent }, 'closing viewer: write timeout');
          viewer.close(1001, 'write timeout');
          // Its close frame cannot get through a stuck socket either.
          t.socket.destroy();
          continue;
        }
      }
      viewer.sendStats();
      viewer.ws.ping();
    }
  }
}
