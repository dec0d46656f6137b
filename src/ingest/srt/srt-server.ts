/**
 * SRT ingest: Polycast's own SRT listener (src/protocols/srt) on one UDP
 * socket. Inductions are answered statelessly with a SYN cookie; a
 * conclusion with a good cookie is authorized (stream id, the server's
 * authentication, the path's passphrase) and becomes an SrtConnection whose
 * MPEG-TS feeds the path. Every datagram a client sends is parsed inside a
 * guard: a bad one is dropped and counted by reason, never thrown.
 */
import { randomInt, randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Connections, ConnectionLease } from '../../limits.js';
import { CookieJar } from '../../protocols/srt/cookie.js';
import { HandshakeType, parseHandshake, REJECTION_BASE, RejectReason, type Handshake } from '../../protocols/srt/handshake.js';
import type { StreamKeys } from '../../protocols/srt/key-material.js';
import { ControlType, parsePacket, SrtPacketError, type ControlPacket } from '../../protocols/srt/packet.js';
import { PathError } from '../../stream/path.js';
import type { PathManager } from '../../stream/path-manager.js';
import type { Stream } from '../../stream/stream.js';
import { LogLimiter } from '../rtmp/log-limiter.js';
import { checkConclusion, CONCLUSION_VERSION, conclusionAnswer, INDUCTION_VERSION, inductionAnswer, rejection, streamKeys } from './handshake-answers.js';
import { nowUs, SrtConnection } from './srt-connection.js';
import type { StreamIdRequest } from './stream-id.js';
import { createTsTap } from './ts-tap.js';

export interface SrtIngestOptions {
  host: string;
  port: number;
  /** A publisher that sends nothing (not even a keepalive) for this long is closed (ms). */
  readTimeoutMs: number;
  paths: PathManager;
  log: Logger;
  /** Decides whether a publish may proceed; returns a refusal reason or undefined. */
  authorizePublish?: (request: { path: string; rawQuery: string; remoteAddress: string; ip: string; id: string }) => string | undefined | Promise<string | undefined>;
  /** The path's `srtPublishPassphrase` ('' for none). */
  passphrase(path: string): string;
  /** The global connection limit and runOnConnect. */
  connections?: Connections;
  /** Publishers' query strings as hooks see them (credentials removed). */
  redactQuery?: (query: string) => string;
}

/** One SRT publisher, as the log and the API see it. */
export interface SrtConnInfo {
  readonly id: string;
  readonly created: Date;
  readonly remoteAddr: string;
  readonly state: 'publish';
  readonly path: string;
  readonly inboundBytes: number;
  readonly packetsLost: number;
  readonly packetsRecovered: number;
  readonly packetsDropped: number;
  readonly rttMs: number;
}

/** The latency floor, as libsrt's default: the caller may ask for more. */
const MIN_LATENCY_MS = 120;
/** Packets a publisher may have in flight to us; at 1316 bytes about 10 MB, some 8 s of a 10 Mb/s stream. */
const WINDOW_PACKETS = 8192;
/** Conclusions being authorized, per IP and in all: what callers that never finish can hold. */
const MAX_PENDING_PER_IP = 16;
const MAX_PENDING = 1024;
/** How long an answer is kept to repeat it when the caller repeats its conclusion. */
const ANSWER_KEPT_MS = 5000;
const CLIENT_LOG_LINES_PER_SECOND = 10;
const SHUTDOWN_GRACE_MS = 200;
const RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

interface Publisher {
  readonly info: { id: string; created: Date; remoteAddr: string; path: string };
  readonly conn: SrtConnection;
  readonly address: string;
  readonly port: number;
}

type HandshakeState = { state: 'pending' } | { state: 'answered'; response: Uint8Array; expiresAt: number };

interface Caller {
  readonly address: string;
  readonly port: number;
  readonly remoteAddress: string;
}

export class SrtIngest {
  private socket: dgram.Socket | null = null;
  private readonly cookies = new CookieJar();
  private readonly publishers = new Map<number, Publisher>();
  private readonly handshakes = new Map<string, HandshakeState>();
  private readonly pendingPerIp = new Map<string, number>();
  /** Dropped datagrams by reason, for tests and the operator (`drops()`). */
  private readonly dropCounts = new Map<string, number>();
  private readonly log: Logger;
  private readonly clientLog: LogLimiter;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SrtIngestOptions) {
    this.log = opts.log.child({ module: 'srt' });
    this.clientLog = new LogLimiter(CLIENT_LOG_LINES_PER_SECOND, (count) =>
      this.log.warn({ suppressed: count }, `suppressed ${count} similar lines (SRT client errors)`),
    );
  }

  connections(): SrtConnInfo[] {
    return [...this.publishers.values()].map((p) => ({
      ...p.info,
      state: 'publish' as const,
      inboundBytes: p.conn.bytesIn,
      packetsLost: p.conn.stats.lost,
      packetsRecovered: p.conn.stats.recovered,
      packetsDropped: p.conn.stats.dropped,
      rttMs: p.conn.rtt / 1000,
    }));
  }

  /** Handshake answers kept to repeat them (a few seconds each); inductions are never among them. */
  get handshakesKept(): number {
    return this.handshakes.size;
  }

  /** Datagrams dropped so far, by reason. */
  drops(): ReadonlyMap<string, number> {
    return this.dropCounts;
  }

  /** Listens; rejects with a message naming the address when it cannot. */
  async start(): Promise<net.AddressInfo> {
    const host = this.opts.host;
    let socket: dgram.Socket;
    if (host !== '') socket = await this.bind(net.isIPv4(host) ? 'udp4' : 'udp6', host);
    else {
      // All interfaces: one dual-stack socket where the machine has IPv6, else IPv4 only.
      socket = await this.bind('udp6', '::').catch((err: NodeJS.ErrnoException) =>
        err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL' ? this.bind('udp4', '0.0.0.0') : Promise.reject(err),
      );
    }
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.datagram(msg, rinfo));
    socket.on('error', (err) => this.log.error({ err }, 'SRT listener error'));
    // A keyframe arrives as a burst of datagrams; the kernel's default buffer (about 200 KB) would lose
    // some of them to overflow, which retransmission then repairs at the cost of latency. The kernel caps this at net.core.rmem_max.
    socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
    return socket.address();
  }

  private bind(type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket> {
    const socket = dgram.createSocket({ type, ipv6Only: false });
    return new Promise((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => {
        try {
          socket.close();
        } catch {
          // Never bound: nothing to close.
        }
        const where = `${this.opts.host || '*'}:${this.opts.port}`;
        const message =
          err.code === 'EADDRINUSE'
            ? `SRT listener: UDP address ${where} is already in use (set srtAddress in the config, or stop the other process)`
            : `SRT listener on ${where}: ${err.message}`;
        reject(Object.assign(new Error(message), { code: err.code }));
      });
      socket.bind({ address, port: this.opts.port }, () => {
        socket.removeAllListeners('error');
        resolve(socket);
      });
    });
  }

  /** Moves the listener (a reload changed srtAddress): publishers on the old socket are closed, as a UDP flow cannot follow. */
  async relisten(host: string, port: number): Promise<net.AddressInfo> {
    await this.stop('srtAddress changed');
    this.opts.host = host;
    this.opts.port = port;
    return this.start();
  }

  /** Shutdown: every publisher hears SHUTDOWN, its path is released, the socket closes. */
  async stop(reason = 'server shutting down'): Promise<void> {
    for (const p of [...this.publishers.values()]) p.conn.close(reason);
    clearInterval(this.sweeper);
    this.clientLog.stop();
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      // Let the SHUTDOWN datagrams leave before the socket goes.
      await new Promise((r) => setTimeout(r, this.publishers.size > 0 ? SHUTDOWN_GRACE_MS : 0));
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  }

  kick(id: string, reason: string): boolean {
    const p = [...this.publishers.values()].find((x) => x.info.id === id);
    if (p === undefined) return false;
    p.conn.close(reason);
    return true;
  }

  private send(datagram: Uint8Array, address: string, port: number): void {
    this.socket?.send(datagram, port, address);
  }

  private drop(reason: string, remoteAddress: string): void {
    this.dropCounts.set(reason, (this.dropCounts.get(reason) ?? 0) + 1);
    this.clientLog.log(() => this.log.debug({ remoteAddress, reason }, 'SRT datagram dropped'));
  }

  private datagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const remoteAddress = `${rinfo.address}:${rinfo.port}`;
    try {
      const packet = parsePacket(msg);
      if (packet.destination === 0) {
        if (!packet.control || packet.type !== ControlType.handshake) return this.drop('packet for socket 0 that is not a handshake', remoteAddress);
        return this.handshake(packet, { address: rinfo.address, port: rinfo.port, remoteAddress });
      }
      const p = this.publishers.get(packet.destination);
      if (p === undefined) return this.drop('packet for an unknown socket id', remoteAddress);
      if (p.address !== rinfo.address || p.port !== rinfo.port) return this.drop('packet for a socket id from another address', remoteAddress);
      p.conn.handle(packet, msg.length);
    } catch (err) {
      if (err instanceof SrtPacketError) return this.drop(err.reason, remoteAddress);
      // Our bug: it must cost this datagram only.
      this.log.error({ remoteAddress, err }, 'internal error handling an SRT datagram');
    }
  }

  private handshake(packet: ControlPacket, caller: Caller): void {
    const hs = parseHandshake(packet.cif);
    if (hs.type === HandshakeType.induction) return this.induction(hs, caller);
    if (hs.type !== HandshakeType.conclusion) return this.drop(`handshake type 0x${(hs.type >>> 0).toString(16)} from a caller`, caller.remoteAddress);
    if (!this.cookies.check(hs.cookie, caller.address, caller.port)) return this.drop('conclusion with a wrong SYN cookie', caller.remoteAddress);
    const key = `${caller.remoteAddress}/${hs.socketId}`;
    const known = this.handshakes.get(key);
    if (known !== undefined) {
      // A repeated conclusion: answer as before, or wait for the decision under way.
      if (known.state === 'answered') this.send(known.response, caller.address, caller.port);
      return;
    }
    this.conclusion(hs, packet.timestamp, caller, key);
  }

  private induction(hs: Handshake, caller: Caller): void {
    if (hs.version !== INDUCTION_VERSION && hs.version !== CONCLUSION_VERSION) {
      return this.drop(`induction of handshake version ${hs.version}`, caller.remoteAddress);
    }
    this.send(inductionAnswer(hs, this.cookies.issue(caller.address, caller.port)), caller.address, caller.port);
  }

  private conclusion(hs: Handshake, timestamp: number, caller: Caller, key: string): void {
    const arrivedUs = nowUs();
    const reject = (reason: number, text: string) => this.reject(hs, caller, key, reason, text);
    const checked = checkConclusion(hs);
    if ('reason' in checked) return reject(checked.reason, checked.text);
    const { hsreq, request, kmreq } = checked;

    const pending = this.pendingPerIp.get(caller.address) ?? 0;
    if (pending >= MAX_PENDING_PER_IP || this.handshakes.size >= MAX_PENDING) {
      return reject(RejectReason.resource, `too many SRT handshakes under way${pending >= MAX_PENDING_PER_IP ? ` from ${caller.address}` : ''}`);
    }
    const lease = this.opts.connections?.reserve(caller.remoteAddress);
    if (lease !== undefined && 'refused' in lease) return reject(RejectReason.resource, lease.refused);
    this.handshakes.set(key, { state: 'pending' });
    this.pendingPerIp.set(caller.address, pending + 1);
    const id = randomUUID();
    lease?.identify('srtConn', id);

    const proceed = (denied: string | undefined) => {
      if (denied !== undefined) {
        lease?.release();
        return reject(denied.startsWith('authentication required') ? RejectReason.unauthorized : RejectReason.forbidden, denied);
      }
      const keys = streamKeys(request.path, this.opts.passphrase(request.path), kmreq);
      if (keys !== undefined && 'reason' in keys) {
        lease?.release();
        return reject(keys.reason, keys.text);
      }
      const latencyMs = Math.max(MIN_LATENCY_MS, hsreq.senderDelay);
      const answer = (socketId: number) => conclusionAnswer(hs, { socketId, hsreq, latencyMs, windowPackets: WINDOW_PACKETS, kmreq, encrypted: keys !== undefined });
      this.startPublish({ hs, caller, key, request, id, lease, keys, latencyMs, timeBaseUs: arrivedUs - timestamp, response: answer, reject });
    };
    // Runs after an asynchronous authorization too, outside the datagram's guard: it keeps its own.
    const decided = (denied: string | undefined) => {
      this.settle(caller.address);
      if (this.socket === null) return lease?.release();
      try {
        proceed(denied);
      } catch (err) {
        lease?.release();
        if (err instanceof SrtPacketError) return reject(RejectReason.rogue, err.reason);
        this.log.error({ remoteAddress: caller.remoteAddress, err }, 'internal error concluding an SRT handshake');
        reject(RejectReason.resource, 'internal error');
      }
    };
    const rawQuery = credentialsQuery(request);
    let verdict: string | undefined | Promise<string | undefined>;
    try {
      verdict = this.opts.authorizePublish?.({ path: request.path, rawQuery, remoteAddress: caller.remoteAddress, ip: caller.address, id });
    } catch (err) {
      verdict = `authorization failed: ${(err as Error).message}`;
    }
    if (verdict instanceof Promise) verdict.then(decided, (err: Error) => decided(`authorization failed: ${err.message}`));
    else decided(verdict);
  }

  private startPublish(a: {
    hs: Handshake;
    caller: Caller;
    key: string;
    request: StreamIdRequest;
    id: string;
    lease: ConnectionLease | undefined;
    keys: StreamKeys | undefined;
    latencyMs: number;
    timeBaseUs: number;
    response: (socketId: number) => Uint8Array;
    reject: (reason: number, text: string) => void;
  }): void {
    const { caller, request } = a;
    const refuse = (reason: number, text: string) => {
      a.lease?.release();
      a.reject(reason, text);
    };
    const acquired = this.opts.paths.acquire(request.path);
    if (!('name' in acquired)) return refuse(RejectReason.notFound, acquired.error);
    const path = acquired;
    const socketId = this.newSocketId();
    let conn: SrtConnection | undefined;
    const query = this.opts.redactQuery?.(request.query) ?? request.query;
    let stream: Stream;
    try {
      stream = path.startPublish({ id: a.id, protocol: 'srt', remoteAddress: caller.remoteAddress, query, kick: (reason) => conn?.close(reason) });
    } catch (err) {
      this.opts.paths.release(path);
      const conflict = err instanceof PathError && (err.code === 'publisher-exists' || err.code === 'has-source');
      return refuse(conflict ? RejectReason.conflict : RejectReason.resource, (err as Error).message);
    }
    const log = this.log.child({ path: path.name, remoteAddress: caller.remoteAddress, id: a.id });
    const tap = createTsTap(path, stream, {
      refuse: (reason) => {
        log.warn({ reason }, 'closing SRT publisher');
        conn?.close(reason);
      },
      ignored: (reason) => log.warn({ reason }, 'ignoring a stream Polycast cannot carry'),
      problem: (reason) => this.drop(`MPEG-TS: ${reason}`, caller.remoteAddress),
    });
    const response = a.response(socketId);
    conn = new SrtConnection({
      socketId,
      peerSocketId: a.hs.socketId,
      initialSeq: a.hs.initialSeq,
      latencyUs: a.latencyMs * 1000,
      windowPackets: WINDOW_PACKETS,
      timeBaseUs: a.timeBaseUs,
      keys: a.keys,
      passphrase: a.keys === undefined ? undefined : this.opts.passphrase(request.path),
      handshakeResponse: response,
      peerIdleTimeoutMs: this.opts.readTimeoutMs,
      send: (d) => this.send(d, caller.address, caller.port),
      deliver: (payload) => {
        try {
          tap.push(payload);
        } catch (err) {
          // The stream core isolates readers; anything reaching here is our bug, not the publisher's fault.
          log.error({ err }, 'error delivering SRT media');
        }
      },
      dropped: (reason) => this.drop(reason, caller.remoteAddress),
      closed: (reason) => {
        this.publishers.delete(socketId);
        a.lease?.release();
        path.endPublish(stream, reason);
        const s = conn!.stats;
        log.info({ reason, frames: tap.frames, lost: s.lost, recovered: s.recovered, dropped: s.dropped }, 'SRT publisher disconnected');
        this.opts.paths.release(path);
      },
    });
    this.publishers.set(socketId, {
      info: { id: a.id, created: conn.created, remoteAddr: caller.remoteAddress, path: path.name },
      conn,
      address: caller.address,
      port: caller.port,
    });
    this.answer(a.key, response, caller);
    log.info({ latencyMs: a.latencyMs, encrypted: a.keys !== undefined }, 'SRT publisher connected');
  }

  private reject(hs: Handshake, caller: Caller, key: string, reason: number, text: string): void {
    this.clientLog.log(() => this.log.warn({ remoteAddress: caller.remoteAddress, reason: text, code: REJECTION_BASE + reason }, 'SRT publish refused'));
    const response = rejection(hs, reason);
    this.answer(key, response, caller);
  }

  private answer(key: string, response: Uint8Array, caller: Caller): void {
    // Under a flood of conclusions the answers are sent but not all kept: the map stays bounded.
    if (this.handshakes.size < 2 * MAX_PENDING || this.handshakes.has(key)) {
      this.handshakes.set(key, { state: 'answered', response, expiresAt: Date.now() + ANSWER_KEPT_MS });
    }
    this.send(response, caller.address, caller.port);
  }

  private settle(ip: string): void {
    const n = (this.pendingPerIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.pendingPerIp.delete(ip);
    else this.pendingPerIp.set(ip, n);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, h] of this.handshakes) if (h.state === 'answered' && h.expiresAt < now) this.handshakes.delete(key);
  }

  private newSocketId(): number {
    for (;;) {
      const id = randomInt(1, 0x7fff_ffff);
      if (!this.publishers.has(id)) return id;
    }
  }
}

/** The stream id's credentials and extra parameters as the query string the authentication reads. */
function credentialsQuery(r: StreamIdRequest): string {
  const params = new URLSearchParams(r.query);
  if (r.user !== '') params.set('user', r.user);
  if (r.pass !== '') params.set('pass', r.pass);
  return params.toString();
}
