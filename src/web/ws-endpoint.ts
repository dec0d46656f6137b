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
import { SocketOutput } from './socket-output.js';

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
  /** Where media goes: writes on `socket` past Node's stream where it can (src/web/socket-output.ts). */
  output: SocketOutput;
  /** Sinks without their own flow control consult it in `writable()`, so pings never wait behind much media. */
  pacer: PingPacer;
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

/** A keep-alive ping the client has not answered yet (nor sent anything since). */
interface UnansweredPing {
  readonly sentAt: number;
  /** Socket byte count just past the ping frame: once that much has left our buffers, the ping is on its way. */
  readonly position: number;
  /** When the ping was seen leaving our buffers; until then the client cannot have answered it. */
  flushedAt: number | undefined;
}

/** What the endpoint keeps per viewer beyond the viewer itself. */
interface Tracked {
  readonly socket: Duplex;
  readonly output: SocketOutput;
  readonly path: Path;
  readonly query: string;
  /** performance.now() of the last time bytes left the socket's buffer, or it was empty. */
  progressAt: number;
  /** Bytes the socket has handed to the kernel, at the last visit. */
  flushed: number;
  /** socket.bytesRead at the last visit: any inbound byte, even of an unfinished frame, is a sign of life. */
  bytesRead: number;
  inboundAt: number;
  readonly pacer: PingPacer;
  ping: UnansweredPing | undefined;
  statsAt: number;
}

/** What may be in flight before the first answered ping tells how fast the client reads. */
const INITIAL_WINDOW = 256 * 1024;
const MIN_WINDOW = 64 * 1024;
const MAX_OUTSTANDING_PINGS = 32;

/**
 * Keep-alive pings double as acknowledgements: a pong for the ping at byte
 * N says the client has read N bytes (TCP delivers in order, and browsers
 * answer pings by themselves). Bytes sent past the last answered ping are
 * held to what the client reads in half a read timeout, so a ping never
 * waits long behind media, however slowly the client reads and however much
 * the kernels' socket buffers would take. Frames beyond that wait in the
 * reader's bounded queue (which drops whole GOPs), where pings do not.
 */
export class PingPacer {
  /** Called when an answered ping lets media flow again. */
  onOpen: (() => void) | undefined;
  private seq = 0;
  private readonly outstanding: Array<{ seq: number; position: number }> = [];
  private ackedPosition = 0;
  private ackedAt = performance.now();
  /** Bytes per ms the client read between answered pings (smoothed); 0 until measured. */
  private rate = 0;
  private window = INITIAL_WINDOW;
  private blocked = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly output: SocketOutput,
    private readonly readTimeoutMs: () => number,
  ) {
    ws.on('pong', (data: Buffer) => this.onPong(data));
  }

  /** True while less than the window is unacknowledged. */
  open(): boolean {
    if (this.output.counted - this.ackedPosition < this.window) return true;
    if (!this.blocked) {
      this.blocked = true;
      // Ask at once rather than at the next keep-alive: a fast client's answer opens the window within a round trip.
      this.ping();
    }
    return false;
  }

  ping(): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    // The ping's position is right only once held media is on its way ahead of it.
    this.output.beforeOtherWrite();
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(this.seq);
    this.ws.ping(payload);
    this.outstanding.push({ seq: this.seq, position: this.written() });
    this.seq = (this.seq + 1) >>> 0;
    if (this.outstanding.length > MAX_OUTSTANDING_PINGS) this.outstanding.shift();
  }

  /**
   * By when the client should have read up to byte `position`, counted from its
   * last answer, if it reads at a quarter of the rate it showed so far: a reader
   * that suddenly slows down (a throttled link, a busy tab) finds its window
   * sized for the old rate, and must not be taken for dead while it drains it.
   * -Infinity before any rate is known.
   */
  readBy(position: number): number {
    return this.rate > 0 ? this.ackedAt + (4 * Math.max(0, position - this.ackedPosition)) / this.rate : -Infinity;
  }

  private written(): number {
    return this.output.bytesWritten;
  }

  private onPong(data: Buffer): void {
    if (data.length !== 4) return;
    const seq = data.readUInt32BE(0);
    const i = this.outstanding.findIndex((p) => p.seq === seq);
    if (i < 0) return;
    const { position } = this.outstanding[i]!;
    this.outstanding.splice(0, i + 1);
    const now = performance.now();
    const bytes = position - this.ackedPosition;
    const ms = now - this.ackedAt;
    this.ackedPosition = position;
    this.ackedAt = now;
    if (bytes > 0 && ms > 0) {
      const sample = bytes / ms;
      this.rate = this.rate === 0 ? sample : (this.rate + sample) / 2;
      this.window = Math.max(MIN_WINDOW, (this.rate * this.readTimeoutMs()) / 2);
    }
    if (this.blocked && this.written() - this.ackedPosition < this.window) {
      this.blocked = false;
      this.onOpen?.();
    }
  }
}

/** How often each viewer gets stats and a ping, and has its timeouts checked (at most: see `visitPeriod`). */
const VISIT_MS = 2000;
/** The endpoint's timer; each firing visits the slice of viewers that is due, so no pass stalls the event loop. */
const SLICE_MS = 250;

/** Bytes the socket has handed on (to the kernel, or to TLS): its unsent data left the buffer. */
function flushedBytes(output: SocketOutput): number {
  return output.bytesWritten - output.writableLength;
}

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
  /** Where the rounds of visits stand; a Set iterator survives additions and deletions. */
  private round: Iterator<V> | undefined;
  private roundStartedAt = 0;

  constructor(private readonly o: WsEndpointOptions<V>) {
    this.timer = setInterval(() => this.tick(), SLICE_MS);
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
      // Until the viewer is attached (authorization is asynchronous) nothing else listens: a protocol error from the
      // client (ws already answers it with a close) would otherwise be an unhandled 'error' that ends the process.
      ws.on('error', () => undefined);
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
    const pending = () => [...this.tracked.values()].some((t) => t.output.writableLength > 0 && !t.socket.destroyed);
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
      outboundBytes: t.output.bytesWritten,
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
    const output = new SocketOutput(socket);
    const pacer = new PingPacer(ws, output, () => ctx.readTimeoutMs);
    const viewer = this.o.create({
      ws,
      socket,
      output,
      pacer,
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
    pacer.onOpen = () => viewer.reader.resume();
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
    const now = performance.now();
    const bytesRead = (socket as { bytesRead?: number }).bytesRead ?? 0;
    this.tracked.set(viewer, { socket, output, path, query: viewer.reader.query, progressAt: now, flushed: flushedBytes(output), bytesRead, inboundAt: now, pacer, ping: undefined, statsAt: now });
    lease?.identify(apiTypeOf(this.o.transport), viewer.id);
    this.o.onAttached?.(viewer, path);
    log.info({ path: path.name, remoteAddress, id: viewer.id }, 'viewer connected');
  }

  /**
   * Each viewer is visited once per `visitPeriod`, spread over the timer's
   * firings: a pass over a thousand viewers at once blocked the event loop
   * for tens of milliseconds every 2 s.
   */
  private tick(): void {
    const count = this.viewers.size;
    if (count === 0) return;
    const now = performance.now();
    const period = this.visitPeriod();
    // A round visits everyone; a slice is this firing's share, so a round takes about one period.
    let budget = Math.max(1, Math.ceil((count * SLICE_MS) / period));
    if (this.round === undefined) {
      // The next round waits for the period to come round: a small endpoint does not visit every firing.
      if (now - this.roundStartedAt < period - SLICE_MS / 2) return;
      this.round = this.viewers.values();
      this.roundStartedAt = now;
    }
    while (budget-- > 0) {
      const next = this.round.next();
      if (next.done === true) {
        this.round = undefined;
        return;
      }
      this.visit(next.value, now);
    }
  }

  /** A read timeout shorter than the stats period still gets a few pings in before it fires. */
  private visitPeriod(): number {
    return Math.max(SLICE_MS, Math.min(VISIT_MS, this.o.ctx.readTimeoutMs / 4));
  }

  private visit(viewer: V, now: number): void {
    const t = this.tracked.get(viewer);
    if (t === undefined) return;
    const { socket, output } = t;
    const bytesRead = (socket as { bytesRead?: number }).bytesRead ?? 0;
    if (bytesRead > t.bytesRead) {
      t.bytesRead = bytesRead;
      t.inboundAt = now;
    }
    const flushed = flushedBytes(output);
    const unsent = output.writableLength;
    if (unsent === 0 || flushed > t.flushed) t.progressAt = now;
    t.flushed = flushed;

    const readTimeout = this.o.ctx.readTimeoutMs;
    const lastSign = Math.max(viewer.lastSeen, t.inboundAt);
    let ping = t.ping;
    if (ping !== undefined && lastSign >= ping.sentAt) ping = t.ping = undefined;
    if (ping !== undefined && ping.flushedAt === undefined && flushed >= ping.position) ping.flushedAt = now;
    // The client owes an answer only once our oldest unanswered ping can have reached it:
    // not while it sits in our buffer, nor before the client, reading at the rate its
    // earlier answers showed, gets through the media ahead of it. A reader that drains
    // slowly gets pings late, answers them late, and is alive all the same. The rate
    // could be a lie, so that allowance is capped.
    const reachedAt = ping === undefined ? -Infinity : Math.max(ping.flushedAt ?? now, Math.min(t.pacer.readBy(ping.position), ping.sentAt + 2 * readTimeout));
    if (now - Math.max(lastSign, reachedAt) > readTimeout) {
      viewer.close(1001, 'read timeout');
      return;
    }
    // A socket is stuck when none of its unsent data has left for writeTimeout;
    // a slow client that drains, however slowly, is the reader queue's business.
    if (now - t.progressAt > (this.o.ctx.writeTimeoutMs ?? Infinity)) {
      this.o.log.warn({ path: t.path.name, id: viewer.id, unsent }, 'closing viewer: write timeout');
      viewer.close(1001, 'write timeout');
      // Its close frame cannot get through a stuck socket either.
      socket.destroy();
      return;
    }
    if (now - t.statsAt >= VISIT_MS - SLICE_MS) {
      t.statsAt = now;
      viewer.sendStats();
    }
    t.pacer.ping();
    if (t.ping === undefined) {
      const position = output.bytesWritten;
      t.ping = { sentAt: now, position, flushedAt: flushedBytes(output) >= position ? now : undefined };
    }
  }
}
