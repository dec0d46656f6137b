import net from 'node:net';
import type { Logger } from 'pino';
import type { Connections } from '../../limits.js';
import { PathError, type Path } from '../../stream/path.js';
import type { PathManager } from '../../stream/path-manager.js';
import type { Stream } from '../../stream/stream.js';
import { createFlvTap } from './flv-tap.js';
import { BroadcastServer, nmsContext, RtmpSession, routeNmsLogs, type NmsPacket, type NmsRtmpSession, type NmsSession } from './nms.js';

export interface RtmpIngestOptions {
  host: string;
  port: number;
  /** A connection that sends nothing for this long is closed (ms). */
  readTimeoutMs: number;
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

/**
 * RTMP ingest: node-media-server's session does the RTMP protocol; Polycast
 * owns the listening socket, decides who may publish where, and taps each
 * publisher into the stream core.
 */
export class RtmpIngest {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly conns = new Map<string, Conn>();
  private readonly log: Logger;

  constructor(private readonly opts: RtmpIngestOptions) {
    this.log = opts.log.child({ module: 'rtmp' });
    const libLog = this.log.child({ module: 'node-media-server' });
    routeNmsLogs((level, message) => libLog[level](message));
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
    for (const socket of this.sockets) socket.destroy();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const remoteAddress = `${socket.remoteAddress}:${socket.remotePort}`;
    const lease = this.opts.connections?.reserve(remoteAddress);
    if (lease !== undefined && 'refused' in lease) {
      this.log.warn({ remoteAddress, reason: lease.refused }, 'RTMP connection refused');
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.opts.readTimeoutMs);

    const session = new RtmpSession(socket);
    let closeReason: string | undefined;
    let publishing: { path: Path; stream: Stream; tap: NmsSession } | null = null;

    const end = (reason: string) => {
      closeReason ??= reason;
      socket.end();
      // A peer that does not read our FIN must not keep the socket forever.
      setTimeout(() => socket.destroy(), 2000).unref();
    };
    const conn: Conn = { id: session.id, created: new Date(), remoteAddr: remoteAddress, socket, state: 'idle', path: '', query: '', end };
    this.conns.set(conn.id, conn);
    lease?.identify('rtmpConn', conn.id);

    socket.on('timeout', () => {
      closeReason ??= 'read timeout';
      socket.destroy();
    });

    // The library's RTMP parser throws on some malformed input (a bad tcUrl,
    // truncated AMF); inside a 'data' handler that would kill the process.
    const parse = session.onData;
    session.onData = (data: Buffer) => {
      try {
        parse(data);
      } catch (err) {
        this.log.warn({ remoteAddress, err: (err as Error).message }, 'RTMP protocol error, closing connection');
        closeReason ??= `protocol error: ${(err as Error).message}`;
        socket.destroy();
      }
    };

    const rtmp = session.rtmp;
    const refuse = (code: string, reason: string) => {
      rtmp.streamId = rtmp.parserPacket.header.stream_id;
      rtmp.sendStatusMessage(rtmp.streamId, 'error', code, reason);
      end(reason);
    };

    rtmp.onPlay = (invoke) => {
      const path = joinPath(String(rtmp.streamApp ?? '').split('?')[0] ?? '', invoke.streamName);
      this.log.warn({ path, remoteAddress }, 'RTMP read refused: Polycast does not serve RTMP readers');
      refuse('NetStream.Play.Failed', `reading over RTMP is not supported; open /${path}/ for the player or /${path}/ws/nal`);
    };

    const publish = rtmp.onPublish.bind(rtmp);
    rtmp.onPublish = (invoke) => {
      // ffmpeg puts the query of a single-level URL (rtmp://host/cam?user=...) in the app, of a deeper one in the stream name.
      const [rawApp = '', appQuery = ''] = String(rtmp.streamApp ?? '').split('?');
      const [rawName = '', nameQuery = ''] = String(invoke.streamName ?? '').split('?');
      const pathName = joinPath(rawApp, rawName);
      const rawQuery = [appQuery, nameQuery].filter((q) => q !== '').join('&');
      const query = Object.fromEntries(new URLSearchParams(rawQuery));
      conn.path = pathName;
      conn.query = this.opts.redactQuery?.(rawQuery) ?? rawQuery;
      const decide = (denied: string | undefined) => {
        if (socket.destroyed) return;
        if (denied !== undefined) {
          this.log.warn({ path: pathName, remoteAddress, reason: denied }, 'publish refused');
          refuse('NetStream.Publish.BadAuth', denied);
          return;
        }
        this.startPublish(session, pathName, remoteAddress, conn.query, publish, invoke, refuse, end, (p) => {
          publishing = p;
          conn.state = 'publish';
        });
      };
      let verdict: string | undefined | Promise<string | undefined>;
      try {
        verdict = this.opts.authorizePublish?.({ path: pathName, query, rawQuery, remoteAddress, ip: unmapped(socket.remoteAddress ?? ''), id: session.id });
      } catch (err) {
        refuse('NetStream.Publish.Failed', `authorization failed: ${(err as Error).message}`);
        return;
      }
      if (!(verdict instanceof Promise)) {
        decide(verdict);
        return;
      }
      // An asynchronous decision: the parser goes on with the rest of the
      // socket's bytes meanwhile, so hold the media packets (copied: the
      // library reuses their buffer) and replay them once decided.
      const deliver = rtmp.onPacketCallback;
      const held: NmsPacket[] = [];
      rtmp.onPacketCallback = (packet) => {
        if (held.length < 4096) held.push({ ...packet, data: Buffer.from(packet.data.subarray(0, packet.size)) });
      };
      verdict
        .then(decide, (err: Error) => refuse('NetStream.Publish.Failed', `authorization failed: ${err.message}`))
        .finally(() => {
          rtmp.onPacketCallback = deliver;
          if (publishing !== null) for (const packet of held) deliver(packet);
        });
    };

    session.run();
    nmsContext.sessions.set(session.id, session);
    // The library only accepts `app/name` paths of [A-Za-z0-9_-]; Polycast's
    // path rules (single-level `demo`, dots, deeper paths) were already
    // checked by the path manager, so bind the session to its broadcast here.
    rtmp.onConnectCallback = (request) => {
      const pathName = joinPath(String(request.app ?? '').split('?')[0] ?? '', request.name);
      session.streamApp = request.app;
      session.streamName = request.name;
      session.streamHost = request.host;
      session.streamQuery = request.query;
      session.streamPath = '/' + pathName;
      let broadcast = nmsContext.broadcasts.get(session.streamPath);
      if (broadcast === undefined) {
        broadcast = new BroadcastServer(session.streamPath);
        nmsContext.broadcasts.set(session.streamPath, broadcast);
      }
      session.broadcast = broadcast;
    };

    socket.on('error', (err) => {
      closeReason ??= err.message;
    });
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.conns.delete(conn.id);
      lease?.release();
      nmsContext.sessions.delete(session.id);
      if (publishing !== null) {
        const { path, stream, tap } = publishing;
        publishing = null;
        const reason = closeReason ?? 'publisher disconnected';
        // The library delays its own "publish done" by a grace period; readers
        // must not stare at a frozen picture that long, so the path ends now.
        path.endPublish(stream, reason);
        session.broadcast.donePlay(tap);
        this.log.info({ path: path.name, remoteAddress, reason, frames: stream.stats.framesIn }, 'publisher disconnected');
        this.opts.paths.release(path);
      }
    });
  }

  private startPublish(
    session: NmsRtmpSession,
    pathName: string,
    remoteAddress: string,
    query: string,
    publish: (invoke: { streamName: string }) => void,
    invoke: { streamName: string },
    refuse: (code: string, reason: string) => void,
    end: (reason: string) => void,
    setPublishing: (p: { path: Path; stream: Stream; tap: NmsSession }) => void,
  ): void {
    const acquired = this.opts.paths.acquire(pathName);
    if (!('name' in acquired)) {
      this.log.warn({ path: pathName, remoteAddress, reason: acquired.error }, 'publish refused');
      refuse('NetStream.Publish.BadName', acquired.error);
      return;
    }
    const path = acquired;
    let stream: Stream;
    try {
      stream = path.startPublish({ id: session.id, protocol: 'rtmp', remoteAddress, query, kick: (reason) => end(reason) });
    } catch (err) {
      const reason = (err as Error).message;
      this.log.warn({ path: pathName, remoteAddress, reason }, 'publish refused');
      refuse(err instanceof PathError && err.code === 'publisher-exists' ? 'NetStream.Publish.BadName' : 'NetStream.Publish.Failed', reason);
      this.opts.paths.release(path);
      return;
    }

    // The library answers Publish.Start and registers the publisher with its broadcast.
    publish(invoke);
    if (!session.isPublisher || session.broadcast.publisher !== session) {
      path.endPublish(stream, 'refused by the RTMP library');
      this.log.warn({ path: pathName, remoteAddress }, 'publish refused by node-media-server');
      end('refused');
      this.opts.paths.release(path);
      return;
    }
    session.broadcast.publishGraceMs = 0;
    const tap = createFlvTap(path, stream, {
      fatal: (reason) => {
        this.log.error({ path: pathName, remoteAddress, reason }, 'closing publisher');
        end(reason);
      },
      ignored: (reason) => this.log.warn({ path: pathName, remoteAddress, reason }, 'ignoring a track Polycast cannot carry'),
    });
    session.broadcast.postPlay(tap);
    setPublishing({ path, stream, tap });
    this.log.info({ path: pathName, remoteAddress, id: session.id }, 'publisher connected');
  }
}

/** `::ffff:1.2.3.4` → `1.2.3.4`: IPv4 clients of a dual-stack listener, as users write them in `ips:`. */
function unmapped(ip: string): string {
  return ip.toLowerCase().startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** RTMP splits a path into app and stream name; Polycast paths join them back (`live` + `cam1` → `live/cam1`). */
function joinPath(app: string, name: string): string {
  const stream = String(name ?? '').split('?')[0] ?? '';
  return stream === '' ? app : `${app}/${stream}`;
}
