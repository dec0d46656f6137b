import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { PathError, type Path } from '../stream/path.js';
import type { Reader } from '../stream/reader.js';
import { remoteAddressOf, type TransportContext } from '../transport.js';

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
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: WsEndpointOptions<V>) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pathName: string): void {
    const remoteAddress = remoteAddressOf(req);
    const { ctx, log } = this.o;
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
          this.attach(ws, socket, req, acquired, remoteAddress);
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

  private async authorize(req: IncomingMessage, path: string, remoteAddress: string): Promise<string | undefined> {
    const { ctx } = this.o;
    if (ctx.authorizeRead === undefined) return undefined;
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    return ctx.authorizeRead({ path, transport: this.o.transport, query, headers: req.headers, remoteAddress });
  }

  private attach(ws: WebSocket, socket: Duplex, req: IncomingMessage, path: Path, remoteAddress: string): void {
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
        path.removeReader(mine.reader, reason);
        if (attached) {
          this.o.onDetached?.(mine, path);
          log.info({ path: path.name, remoteAddress, id: mine.id, reason, dropped: mine.reader.stats.framesDropped }, 'viewer disconnected');
        }
        ctx.paths.release(path);
      },
    });
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
    this.o.onAttached?.(viewer, path);
    log.info({ path: path.name, remoteAddress, id: viewer.id }, 'viewer connected');
  }

  private tick(): void {
    const now = performance.now();
    for (const viewer of this.viewers) {
      if (now - viewer.lastSeen > this.o.ctx.readTimeoutMs) {
        viewer.close(1001, 'read timeout');
        continue;
      }
      viewer.sendStats();
      viewer.ws.ping();
    }
  }
}
