import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { PathError, type Path } from '../../src/stream/path.js';
import { remoteAddressOf, type Transport, type TransportContext, type UpgradeRoute } from '../../src/transport.js';
import { AudioCoalescer } from './audio-coalescer.js';
import { InputRelay } from './input-relay.js';
import { Viewer } from './session.js';

const STATS_INTERVAL_MS = 2000;

/**
 * `ws-nal`: raw H.264 access units over WebSocket for WebCodecs players, with
 * keyboard and mouse input travelling back (docs/protocols/ws-nal.md).
 */
export class WsNalTransport implements Transport {
  readonly name = 'ws-nal';
  readonly upgrades: readonly UpgradeRoute[];
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  private readonly viewers = new Set<Viewer>();
  private readonly coalescer = new AudioCoalescer();
  private readonly input: InputRelay;
  private readonly timer: NodeJS.Timeout;
  private readonly log;

  constructor(private readonly ctx: TransportContext) {
    this.log = ctx.log.child({ transport: this.name });
    this.input = new InputRelay(this.wss, ctx, this.log);
    this.upgrades = [
      { suffix: 'ws/nal', handleUpgrade: (req, socket, head, path) => this.upgradeViewer(req, socket, head, path) },
      { suffix: 'ws/input', handleUpgrade: (req, socket, head, path) => this.input.upgrade(req, socket, head, path) },
    ];
    this.timer = setInterval(() => this.tick(), STATS_INTERVAL_MS);
    this.timer.unref();
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  close(reason: string): void {
    clearInterval(this.timer);
    for (const viewer of [...this.viewers]) viewer.close(1001, reason);
    this.input.close(reason);
  }

  private upgradeViewer(req: IncomingMessage, socket: Duplex, head: Buffer, pathName: string): void {
    const remoteAddress = remoteAddressOf(req);
    const acquired = this.ctx.paths.acquire(pathName);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (!('name' in acquired)) {
        this.log.info({ path: pathName, remoteAddress, reason: acquired.error }, 'viewer refused');
        ws.close(4404, `no such path: ${acquired.error}`.slice(0, 120));
        return;
      }
      this.authorize(req, pathName, remoteAddress).then(
        (denied) => {
          if (denied !== undefined) {
            this.log.warn({ path: pathName, remoteAddress, reason: denied }, 'viewer refused');
            ws.close(1008, denied.slice(0, 120));
            this.ctx.paths.release(acquired);
            return;
          }
          this.attach(ws, socket, acquired, remoteAddress);
        },
        (err: Error) => ws.close(1011, `authorization failed: ${err.message}`.slice(0, 120)),
      );
    });
  }

  private async authorize(req: IncomingMessage, path: string, remoteAddress: string): Promise<string | undefined> {
    if (this.ctx.authorizeRead === undefined) return undefined;
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    return this.ctx.authorizeRead({ path, transport: this.name, query, headers: req.headers, remoteAddress });
  }

  private attach(ws: WebSocket, socket: Duplex, path: Path, remoteAddress: string): void {
    if (ws.readyState !== ws.OPEN) return;
    const viewer = new Viewer({
      path,
      ws,
      socket,
      remoteAddress,
      queueSize: this.ctx.writeQueueSize,
      serverName: this.ctx.serverName,
      log: this.log,
      coalescer: this.coalescer,
      relayInput: (p, data) => this.input.relay(p, data),
      onClose: (v, reason) => {
        this.viewers.delete(v);
        path.removeReader(v.reader, reason);
        this.input.announce(path.name, 'leave', v.id);
        this.ctx.paths.release(path);
        this.log.info({ path: path.name, remoteAddress, id: v.id, reason, dropped: v.reader.stats.framesDropped }, 'viewer disconnected');
      },
    });
    try {
      path.addReader(viewer.reader);
    } catch (err) {
      const reason = (err as Error).message;
      this.log.warn({ path: path.name, remoteAddress, reason }, 'viewer refused');
      viewer.close(err instanceof PathError && err.code === 'too-many-readers' ? 1008 : 1011, reason);
      return;
    }
    this.viewers.add(viewer);
    this.input.announce(path.name, 'join', viewer.id);
    this.log.info({ path: path.name, remoteAddress, id: viewer.id }, 'viewer connected');
  }

  /** Periodic work for all viewers at once: stats, keep-alive pings, read timeouts. */
  private tick(): void {
    const now = performance.now();
    for (const viewer of this.viewers) {
      if (now - viewer.lastSeen > this.ctx.readTimeoutMs) {
        viewer.close(1001, 'read timeout');
        continue;
      }
      viewer.sendStats();
      viewer.ws.ping();
    }
  }
}
