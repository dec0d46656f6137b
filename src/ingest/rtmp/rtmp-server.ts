import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Connections } from '../../limits.js';
import type { ChunkReaderLimits } from '../../protocols/rtmp/chunk-reader.js';
import { PathError, type Path } from '../../stream/path.js';
import type { PathManager } from '../../stream/path-manager.js';
import type { Stream } from '../../stream/stream.js';
import { mediaLimits, RtmpConnection, type PublishRequest } from './connection.js';
import { createMediaTap, type MediaTap } from './flv-tap.js';
import { LogLimiter } from './log-limiter.js';

export interface RtmpIngestOptions {
  host: string;
  port: number;
  /** A connection that sends nothing for this long is closed, and one that has not been allowed to publish by then (ms). */
  readTimeoutMs: number;
  /** `rtmpMaxMessageSize`: the largest message a chunk header may declare (bytes). */
  maxMessageSize?: number;
  /** `rtmpMaxUnauthenticatedPerIP`: connections per IP not yet allowed to publish; 0 for unlimited. */
  maxUnauthenticatedPerIP?: number;
  paths: PathManager;
  log: Logger;
  /** Decides whether a publish may proceed; returns a refusal reason or undefined. Authentication hooks in here. */
  authorizePublish?: (request: {
    path: string;
    query: Record<string, unknown>;
    /** The query string as sent, without `?`. */
    rawQuery: string;
    remoteAddress: string;
    ip: string;
    id: string;
  }) => string | undefined | Promise<string | undefined>;
  /** The global connection limit and runOnConnect. */
  connections?: Connections;
  /** Publishers' query strings as hooks see them (credentials removed). */
  redactQuery?: (query: string) => string;
}

/** One RTMP connection, as the control API lists it (MediaMTX's `rtmpconns`). */
export interface RtmpConnInfo {
  readonly id: string;
  readonly created: Date;
  readonly remoteAddr: string;
  readonly state: 'idle' | 'publish';
  readonly path: string;
  readonly query: string;
  readonly inboundBytes: number;
  readonly outboundBytes: number;
}

/** What publish handling needs of one connection. */
interface PublishContext {
  readonly id: string;
  readonly socket: net.Socket;
  readonly ip: string;
  readonly remoteAddress: string;
  readonly conn: Conn;
  readonly rtmp: RtmpConnection;
  /** The connection was allowed to publish: it no longer counts against its IP, and its deadline is off. */
  authenticate(): void;
  setPublishing(p: { path: Path; stream: Stream; tap: MediaTap }): void;
  /** Closes with a reason. */
  end(reason: string): void;
  /** Records why the connection is about to close (the first reason wins). */
  because(reason: string): void;
}

interface Conn {
  readonly id: string;
  readonly created: Date;
  readonly remoteAddr: string;
  readonly socket: net.Socket;
  state: 'idle' | 'publish';
  path: string;
  query: string;
  end(reason: string): void;
}

export const DEFAULT_MAX_MESSAGE_SIZE = 8 * 1024 * 1024;
/** Client-provoked warnings (protocol errors, refused connections) per second, over all connections. */
const CLIENT_LOG_LINES_PER_SECOND = 10;

/** 16 characters of [0-9a-z], the form node-media-server's session ids had, so API users see no change. */
function connectionId(): string {
  const bytes = randomBytes(16);
  let id = '';
  for (const b of bytes) id += (b % 36).toString(36);
  return id;
}

/**
 * RTMP ingest: Polycast's own RTMP stack (src/protocols/rtmp) behind a
 * listener that decides who may publish where, bounds what a client can cost
 * before it is authorized, and taps each publisher into the stream core.
 */
export class RtmpIngest {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly conns = new Map<string, Conn>();
  /** Connections per IP that have not been allowed to publish yet. */
  private readonly unauthenticated = new Map<string, number>();
  private readonly log: Logger;
  private readonly clientLog: LogLimiter;

  constructor(private readonly opts: RtmpIngestOptions) {
    this.log = opts.log.child({ module: 'rtmp' });
    this.clientLog = new LogLimiter(CLIENT_LOG_LINES_PER_SECOND, (count) =>
      this.log.warn({ suppressed: count }, `suppressed ${count} similar lines (RTMP client errors)`),
    );
  }

  /** Connections for the control API. */
  connections(): RtmpConnInfo[] {
    return [...this.conns.values()].map((c) => ({
      id: c.id,
      created: c.created,
      remoteAddr: c.remoteAddr,
      state: c.state,
      path: c.path,
      query: c.query,
      inboundBytes: c.socket.bytesRead,
      outboundBytes: c.socket.bytesWritten,
    }));
  }

  /** Closes one connection (the API's kick); false when there is no such id. */
  kick(id: string, reason: string): boolean {
    const conn = this.conns.get(id);
    if (conn === undefined) return false;
    this.log.info({ id, path: conn.path, remoteAddress: conn.remoteAddr, reason }, 'closing RTMP connection');
    conn.end(reason);
    return true;
  }

  /**
   * Moves the listener to a new address (a reload changed rtmpAddress):
   * connections on the old one, publishers included, carry on.
   */
  async relisten(host: string, port: number): Promise<net.AddressInfo> {
    const old = this.server;
    this.opts.host = host;
    this.opts.port = port;
    this.server = null;
    // close() stops listening at once; its callback would wait for every connection to end.
    old?.close();
    return this.start();
  }

  /** Shutdown, first step: no new connections; the current ones carry on. */
  stopAccepting(): void {
    const server = this.server;
    this.server = null;
    // Stops listening at once; its callback would wait for every connection to end.
    server?.close();
  }

  /**
   * Shutdown, second step: tells every publisher we are done (FIN) and keeps
   * reading until it closes or `graceMs` passed, so the frames it already
   * sent reach the readers; then the connections go.
   */
  async drainPublishers(graceMs: number): Promise<void> {
    const closing = [...this.conns.values()].map(
      (conn) =>
        new Promise<void>((resolve) => {
          const socket = conn.socket;
          if (socket.destroyed) return resolve();
          socket.once('close', () => resolve());
          if (conn.state === 'publish') socket.end();
          setTimeout(() => socket.destroy(), conn.state === 'publish' ? graceMs : 0).unref();
        }),
    );
    await Promise.all(closing);
  }

  /** Listens; rejects with a message naming the address when it cannot. */
  start(): Promise<net.AddressInfo> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const where = `${this.opts.host || '*'}:${this.opts.port}`;
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? `RTMP listener: address ${where} is already in use (set rtmpAddress in the config, or stop the other process)`
              : `RTMP listener on ${where}: ${err.message}`,
          ),
        );
      };
      server.once('error', onError);
      server.listen({ host: this.opts.host || undefined, port: this.opts.port }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log.error({ err }, 'RTMP listener error'));
        resolve(server.address() as net.AddressInfo);
      });
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.clientLog.stop();
    for (const socket of this.sockets) socket.destroy();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private publishLimits(): ChunkReaderLimits {
    return mediaLimits(this.opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE);
  }

  private refuseSocket(socket: net.Socket, remoteAddress: string, reason: string): void {
    this.clientLog.log(() => this.log.warn({ remoteAddress, reason }, 'RTMP connection refused'));
    socket.destroy();
  }

  private accept(socket: net.Socket): void {
    const remoteAddress = `${socket.remoteAddress}:${socket.remotePort}`;
    const ip = unmapped(socket.remoteAddress ?? '');
    const perIp = this.opts.maxUnauthenticatedPerIP ?? 0;
    if (perIp > 0 && (this.unauthenticated.get(ip) ?? 0) >= perIp) {
      this.refuseSocket(socket, remoteAddress, `too many connections from ${ip} not yet allowed to publish (rtmpMaxUnauthenticatedPerIP: ${perIp})`);
      return;
    }
    const lease = this.opts.connections?.reserve(remoteAddress);
    if (lease !== undefined && 'refused' in lease) {
      this.refuseSocket(socket, remoteAddress, lease.refused);
      return;
    }
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.opts.readTimeoutMs);
    socket.on('error', () => undefined);

    let authenticated = false;
    this.unauthenticated.set(ip, (this.unauthenticated.get(ip) ?? 0) + 1);
    const authenticate = () => {
      if (authenticated) return;
      authenticated = true;
      clearTimeout(deadline);
      const n = (this.unauthenticated.get(ip) ?? 1) - 1;
      if (n === 0) this.unauthenticated.delete(ip);
      else this.unauthenticated.set(ip, n);
    };

    const id = connectionId();
    let closeReason: string | undefined;
    let publishing: { path: Path; stream: Stream; tap: MediaTap } | null = null;
    const conn: Conn = { id, created: new Date(), remoteAddr: remoteAddress, socket, state: 'idle', path: '', query: '', end: (reason) => end(reason) };
    const end = (reason: string) => {
      closeReason ??= reason;
      rtmp.close();
    };
    this.conns.set(id, conn);
    lease?.identify('rtmpConn', id);

    // The handshake, connect and an authorized publish must all fit in readTimeout.
    const deadline = setTimeout(() => {
      closeReason ??= `no authorized publish within readTimeout (${this.opts.readTimeoutMs} ms)`;
      this.clientLog.log(() => this.log.warn({ id, remoteAddress, reason: closeReason }, 'closing RTMP connection'));
      socket.destroy();
    }, this.opts.readTimeoutMs);
    deadline.unref();

    socket.on('timeout', () => {
      closeReason ??= 'read timeout';
      socket.destroy();
    });

    const rtmp: RtmpConnection = new RtmpConnection(socket, {
      publishLimits: () => this.publishLimits(),
      protocolError: (err) => {
        closeReason ??= `protocol error: ${err.message}`;
        this.clientLog.log(() => this.log.warn({ id, remoteAddress, code: err.code, reason: err.message }, 'RTMP protocol error, closing connection'));
      },
      internalError: (err) => {
        closeReason ??= `internal error: ${err.message}`;
        this.log.error({ id, remoteAddress, err }, 'internal error handling an RTMP connection, closing it');
      },
      handshaken: (kind) => this.log.debug({ id, remoteAddress, kind }, 'RTMP handshake'),
      play: (request) => {
        const path = joinPath(splitQuery(request.app)[0], request.streamName);
        this.clientLog.log(() => this.log.warn({ path, remoteAddress }, 'RTMP read refused: Polycast does not serve RTMP readers'));
        closeReason ??= 'RTMP reader refused';
        rtmp.refuse('NetStream.Play.Failed', `reading over RTMP is not supported; open /${path}/ for the player or /${path}/ws/nal`);
      },
      publish: (request) =>
        this.publish(request, {
          id,
          socket,
          ip,
          remoteAddress,
          conn,
          rtmp,
          authenticate,
          setPublishing: (p) => (publishing = p),
          end,
          because: (reason) => (closeReason ??= reason),
        }),
      media: (type, timestamp, body) => {
        try {
          publishing?.tap.message(type, timestamp, body);
        } catch (err) {
          // The stream core isolates readers; anything else reaching here is our bug, and not the publisher's fault.
          this.log.error({ id, path: conn.path, err }, 'error delivering RTMP media');
        }
      },
      unpublish: () => end('publisher unpublished'),
    });

    socket.on('close', () => {
      clearTimeout(deadline);
      authenticate();
      this.sockets.delete(socket);
      this.conns.delete(id);
      lease?.release();
      if (publishing !== null) {
        const { path, stream } = publishing;
        publishing = null;
        const reason = closeReason ?? 'publisher disconnected';
        path.endPublish(stream, reason);
        this.log.info({ path: path.name, remoteAddress, reason, frames: stream.stats.framesIn }, 'publisher disconnected');
        this.opts.paths.release(path);
      }
    });
  }

  private publish(request: PublishRequest, c: PublishContext): void {
    // ffmpeg puts the query of a single-level URL (rtmp://host/cam?user=...) in the app, of a deeper one in the stream name.
    const [rawApp, appQuery] = splitQuery(request.app);
    const [rawName, nameQuery] = splitQuery(request.streamName);
    const pathName = joinPath(rawApp, rawName);
    const rawQuery = [appQuery, nameQuery].filter((q) => q !== '').join('&');
    const query = Object.fromEntries(new URLSearchParams(rawQuery));
    const { conn, rtmp, remoteAddress } = c;
    conn.path = pathName;
    conn.query = this.opts.redactQuery?.(rawQuery) ?? rawQuery;
    const refuse = (code: string, reason: string) => {
      this.log.warn({ path: pathName, remoteAddress, reason }, 'publish refused');
      c.because(reason);
      rtmp.refuse(code, reason);
    };
    const decide = (denied: string | undefined) => {
      if (c.socket.destroyed) return;
      if (denied !== undefined) return refuse('NetStream.Publish.BadAuth', denied);
      this.startPublish(pathName, c, refuse);
    };
    let verdict: string | undefined | Promise<string | undefined>;
    try {
      verdict = this.opts.authorizePublish?.({ path: pathName, query, rawQuery, remoteAddress, ip: c.ip, id: c.id });
    } catch (err) {
      refuse('NetStream.Publish.Failed', `authorization failed: ${(err as Error).message}`);
      return;
    }
    if (verdict instanceof Promise) {
      verdict.then(decide, (err: Error) => refuse('NetStream.Publish.Failed', `authorization failed: ${err.message}`));
    } else {
      decide(verdict);
    }
  }

  private startPublish(pathName: string, c: PublishContext, refuse: (code: string, reason: string) => void): void {
    const { remoteAddress } = c;
    const acquired = this.opts.paths.acquire(pathName);
    if (!('name' in acquired)) return refuse('NetStream.Publish.BadName', acquired.error);
    const path = acquired;
    let stream: Stream;
    try {
      stream = path.startPublish({ id: c.id, protocol: 'rtmp', remoteAddress, query: c.conn.query, kick: (reason) => c.end(reason) });
    } catch (err) {
      this.opts.paths.release(path);
      const badName = err instanceof PathError && (err.code === 'publisher-exists' || err.code === 'has-source');
      return refuse(badName ? 'NetStream.Publish.BadName' : 'NetStream.Publish.Failed', (err as Error).message);
    }
    const tap = createMediaTap(path, stream, {
      fatal: (reason) => {
        this.log.error({ path: pathName, remoteAddress, reason }, 'closing publisher');
        c.end(reason);
      },
      refuse: (reason) => refuse('NetStream.Publish.Rejected', reason),
      ignored: (reason) => this.log.warn({ path: pathName, remoteAddress, reason }, 'ignoring a track Polycast cannot carry'),
    });
    c.authenticate();
    c.conn.state = 'publish';
    c.setPublishing({ path, stream, tap });
    this.log.info({ path: pathName, remoteAddress, id: c.id }, 'publisher connected');
    c.rtmp.acceptPublish(`${pathName} is now published`);
  }
}

function splitQuery(text: string): [string, string] {
  const at = text.indexOf('?');
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
}

/** `::ffff:1.2.3.4` → `1.2.3.4`: IPv4 clients of a dual-stack listener, as users write them in `ips:`. */
function unmapped(ip: string): string {
  return ip.toLowerCase().startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** RTMP splits a path into app and stream name; Polycast paths join them back (`live` + `cam1` → `live/cam1`). */
function joinPath(app: string, name: string): string {
  const stream = splitQuery(name)[0];
  return stream === '' ? app : `${app}/${stream}`;
}
