/**
 * `WebTransportServer`: a UDP socket, a table of QUIC connections by
 * connection id, and for each an `Http3Connection` that turns extended
 * CONNECT requests into `WebTransportSession`s.
 *
 * New connections are accepted without a stateless Retry while few
 * handshakes are in progress: it would cost a round trip per connection, and
 * quiche already caps what an unvalidated address can make us send (three
 * times what it sent, RFC 9000 §8.1). Past `retryAboveHandshakes` a burst is
 * answered with Retry, so TLS work is only spent on clients that own their
 * address; past the hard limits a client is refused with CONNECTION_REFUSED
 * in an Initial it can read, never dropped in silence.
 */
import { FlushQueue } from './flush-queue.js';
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import { quiche, Type, CongestionControlAlgorithm } from '@matrixai/quic/native/index.js';
import type { Config, Host } from '@matrixai/quic/native/types.js';
import { encodeInitialClose, H3ErrorCode, QuicTransportError } from '../http3/index.js';
import {
  Http3Connection,
  newConnectionId,
  type ConnectionOwner,
  type RequestHandler,
  type WebTransportRequest,
  type WebTransportResponse,
} from './connection.js';
import { packetOutput, type PacketOutput } from '../udp/batch-output.js';
import { packetInput, type PacketInput, type Peer } from '../udp/batch-input.js';
import { RetryTokens } from './retry-token.js';
import { Ngtcp2Connection, nativeQuic, type Ngtcp2Context } from './ngtcp2-connection.js';
import type { QuicConnection } from './quic-connection.js';
import { nativeUdpBatch } from '../udp/native-udp-batch.js';
import type { WebTransportSession } from './session.js';

/** First byte, a server-chosen connection id, and at least a packet number and an AEAD tag. */
const SHORT_HEADER_MIN = 1 + quiche.MAX_CONN_ID_LEN + 1 + 16;

export interface WebTransportServerOptions {
  /** Address to bind; default `0.0.0.0`. */
  readonly host?: string;
  /** UDP port; 0 picks a free one (see `address()` after `listen`). */
  readonly port: number;
  /** Certificate chain, PEM. */
  readonly cert: string;
  /** Private key, PEM. */
  readonly key: string;
  /** Decides each extended CONNECT; default accepts everything. */
  readonly onRequest?: RequestHandler;
  /** Live QUIC connections; past this new ones are refused with CONNECTION_REFUSED. Default 1024. */
  readonly maxConnections?: number;
  readonly maxSessionsPerConnection?: number;
  /** Handshakes in progress above which new clients must first answer a stateless Retry; default 256. */
  readonly retryAboveHandshakes?: number;
  /** Handshakes in progress past which new clients are refused (CONNECTION_REFUSED); default 1024. */
  readonly maxHandshakes?: number;
  /** A connection whose QUIC handshake has not completed by then is closed; default 10 s (Chromium gives up at 10 s too). */
  readonly handshakeTimeoutMs?: number;
  /**
   * SO_RCVBUF asked for the UDP socket; default 4 MiB. A burst of handshakes
   * arrives faster than one event loop reads it, and the kernel's default
   * (about 200 KiB) drops Initials, each costing its client a retransmission
   * timeout. Linux caps it at `net.core.rmem_max`: see `receiveBufferSize`.
   */
  readonly receiveBufferSize?: number;
  /** QUIC idle timeout; default 30 s. */
  readonly idleTimeoutMs?: number;
  /** Interval of PINGs on connections with live sessions; 0 disables. Default 10 s. */
  readonly keepAliveMs?: number;
  /** Largest UDP payload we send; default 1350 (safe on any path). */
  readonly maxUdpPayloadSize?: number;
  /** Connection receive window; default 16 MiB. */
  readonly initialMaxData?: number;
  /** Per-stream receive window; default 2 MiB. */
  readonly initialMaxStreamData?: number;
  /** Streams of each direction the client may open; default 100. */
  readonly initialMaxStreams?: number;
  /**
   * The QUIC stack: `ngtcp2` (native/quic-ngtcp2, the default where it is
   * built) writes a connection's packets in one call; `quiche` is the
   * prebuilt binding of `@matrixai/quic`. `POLYCAST_QUIC` in the environment
   * overrides the default.
   */
  readonly quic?: QuicStack;
}

export type QuicStack = 'ngtcp2' | 'quiche';

/** The stack to use, and why not ngtcp2 when it is not. */
export function chooseQuicStack(asked: QuicStack | undefined, env: NodeJS.ProcessEnv = process.env): { stack: QuicStack; why?: string } {
  const wanted = asked ?? (env['POLYCAST_QUIC'] === 'quiche' ? 'quiche' : 'ngtcp2');
  if (wanted === 'quiche') return { stack: 'quiche', why: asked !== undefined ? 'asked for' : 'POLYCAST_QUIC=quiche' };
  const native = nativeQuic();
  if ('error' in native) return { stack: 'quiche', why: native.error };
  const udp = nativeUdpBatch();
  if ('error' in udp) return { stack: 'quiche', why: udp.error };
  return { stack: 'ngtcp2' };
}

/** What the server did with new connections, for tests and metrics. */
export interface HandshakeCounters {
  accepted: number;
  /** Stateless Retry packets sent. */
  retries: number;
  /** Initials refused with CONNECTION_REFUSED (limits) or INVALID_TOKEN. */
  refused: number;
  /** Connections closed because their handshake did not complete in time. */
  handshakeTimeouts: number;
}

export interface WebTransportServerEvents {
  session: [WebTransportSession];
  /** A connection hit a protocol error or an application callback threw; the connection (only) is closed. */
  connectionError: [Error, { address: string; port: number }];
  close: [];
}

export class WebTransportServer extends EventEmitter<WebTransportServerEvents> implements ConnectionOwner {
  readonly onRequest: RequestHandler;
  readonly maxSessionsPerConnection: number;
  readonly keepAliveMs: number;
  readonly handshakeTimeoutMs: number;
  private out: PacketOutput | undefined;
  private input: PacketInput | undefined;
  private inputWhy: string | undefined;
  /** Why packets go through `dgram` one by one, when they do. */
  private outputWhy: string | undefined;
  readonly counters: HandshakeCounters = { accepted: 0, retries: 0, refused: 0, handshakeTimeouts: 0 };
  private config: Config;
  /** ngtcp2's certificate and settings, when ngtcp2 is the stack. */
  private ngtcp2: Ngtcp2Context | undefined;
  readonly quicStack: QuicStack;
  /** Why quiche, when ngtcp2 was not chosen. */
  readonly quicStackWhy: string | undefined;
  private readonly payload: number;
  private readonly connections = new Map<string, Http3Connection>();
  private readonly live = new Set<Http3Connection>();
  private readonly maxConnections: number;
  private readonly retryAboveHandshakes: number;
  private readonly maxHandshakes: number;
  /** Connections accepted whose QUIC handshake has not completed yet. */
  private readonly handshaking = new Set<Http3Connection>();
  private readonly retryTokens = new RetryTokens();
  private recvBufferBytes = 0;
  private sock: Socket | undefined;
  private local: Host = { host: '0.0.0.0', port: 0 };

  constructor(private readonly opts: WebTransportServerOptions) {
    super();
    this.onRequest = opts.onRequest ?? (() => ({ status: 200 }));
    this.maxSessionsPerConnection = opts.maxSessionsPerConnection ?? 16;
    this.keepAliveMs = opts.keepAliveMs ?? 10_000;
    this.maxConnections = opts.maxConnections ?? 1024;
    this.retryAboveHandshakes = opts.retryAboveHandshakes ?? 256;
    this.maxHandshakes = opts.maxHandshakes ?? 1024;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 10_000;
    this.payload = opts.maxUdpPayloadSize ?? 1350;
    this.config = buildConfig(opts, this.payload);
    const chosen = chooseQuicStack(opts.quic);
    this.quicStack = chosen.stack;
    this.quicStackWhy = chosen.why;
    if (this.quicStack === 'ngtcp2') this.ngtcp2 = this.ngtcp2Context(opts.cert, opts.key);
  }

  private ngtcp2Context(cert: string, key: string): Ngtcp2Context {
    const native = nativeQuic();
    if ('error' in native) throw new Error(native.error);
    return native.binding.createContext(cert, key, {
      maxUdpPayloadSize: this.payload,
      idleTimeoutMs: this.opts.idleTimeoutMs ?? 30_000,
      initialMaxData: this.opts.initialMaxData ?? 16 * 1024 * 1024,
      initialMaxStreamData: this.opts.initialMaxStreamData ?? 2 * 1024 * 1024,
      initialMaxStreams: this.opts.initialMaxStreams ?? 100,
      keepAliveMs: this.keepAliveMs,
    });
  }

  /**
   * Replaces the certificate for connections accepted from now on; live
   * connections keep the one they were set up with, so rotation drops no session.
   */
  setCertificate(cert: string, key: string): void {
    this.config = buildConfig({ ...this.opts, cert, key }, this.payload);
    if (this.quicStack === 'ngtcp2') this.ngtcp2 = this.ngtcp2Context(cert, key);
  }

  get socket(): Socket {
    if (this.sock === undefined) throw new Error('WebTransportServer is not listening');
    return this.sock;
  }

  readonly flushes = new FlushQueue();

  get output(): PacketOutput {
    if (this.out === undefined) throw new Error('WebTransportServer is not listening');
    return this.out;
  }

  /** How packets leave (`sendmmsg+gso`, `sendmmsg`, `dgram`), and why not batched when they are not. */
  get outputMode(): { mode: string; why?: string } {
    return { mode: this.out?.mode ?? 'none', ...(this.outputWhy !== undefined && { why: this.outputWhy }) };
  }

  /** How datagrams are read (`recvmmsg` in batches, or `dgram` events), and why not batched when they are not. */
  get inputMode(): { mode: string; why?: string } {
    return { mode: this.input?.mode ?? 'none', ...(this.inputWhy !== undefined && { why: this.inputWhy }) };
  }

  get localHost(): Host {
    return this.local;
  }

  /** Live QUIC connections. */
  get connectionCount(): number {
    return this.live.size;
  }

  /** Connections still in their QUIC handshake. */
  get handshakeCount(): number {
    return this.handshaking.size;
  }

  /** The socket's receive buffer as the kernel granted it (Linux reports twice the bytes asked, for its bookkeeping). */
  get receiveBufferSize(): number {
    return this.recvBufferBytes;
  }

  /** The receive buffer asked for. */
  get requestedReceiveBufferSize(): number {
    return this.opts.receiveBufferSize ?? 4 * 1024 * 1024;
  }

  async listen(): Promise<{ host: string; port: number }> {
    if (this.sock !== undefined) throw new Error('already listening');
    const host = this.opts.host ?? '0.0.0.0';
    const sock = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.opts.port, host, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    try {
      sock.setRecvBufferSize(this.requestedReceiveBufferSize);
    } catch {
      // Refused outright (not merely capped): keep the default; `receiveBufferSize` shows it.
    }
    this.recvBufferBytes = sock.getRecvBufferSize();
    // Send errors (e.g. an unreachable peer) concern one connection, whose timers handle loss.
    sock.on('error', () => {});
    const input = packetInput(sock, (msg, from) => this.onPacket(msg, from));
    this.input = input.input;
    this.inputWhy = input.why;
    this.sock = sock;
    const chosen = packetOutput(sock, this.payload);
    this.out = chosen.output;
    this.outputWhy = chosen.why;
    const a = sock.address();
    this.local = { host: a.address, port: a.port };
    return { host: a.address, port: a.port };
  }

  address(): { host: string; port: number } {
    return { ...this.local };
  }

  /** Closes every session (code 0), then every connection, then the socket. */
  async close(): Promise<void> {
    const sock = this.sock;
    if (sock === undefined) return;
    for (const c of [...this.live]) c.closeWith(H3ErrorCode.NO_ERROR, 'server shutting down');
    // Let the CONNECTION_CLOSE packets leave before the socket goes; skip quiche's draining period.
    await new Promise((r) => setTimeout(r, 20));
    for (const c of [...this.live]) c.terminate();
    this.sock = undefined;
    this.input?.stop();
    this.input = undefined;
    this.connections.clear();
    this.live.clear();
    this.handshaking.clear();
    await new Promise<void>((resolve) => sock.close(() => resolve()));
    this.emit('close');
  }

  private onPacket(msg: Buffer, rinfo: Peer): void {
    // Short header (RFC 9000 §17.3): the destination id follows the first byte, at the length we gave it.
    // Almost every packet after the handshake is one, so it is routed without quiche's header parse.
    if (msg.length > SHORT_HEADER_MIN && (msg[0]! & 0x80) === 0) {
      const c = this.connections.get(msg.toString('hex', 1, 1 + quiche.MAX_CONN_ID_LEN));
      if (c !== undefined) {
        c.recv(msg, rinfo.address, rinfo.port);
        return;
      }
    }
    let header;
    try {
      header = quiche.Header.fromSlice(msg, quiche.MAX_CONN_ID_LEN);
    } catch {
      return; // Not QUIC.
    }
    const from: Host = { host: rinfo.address, port: rinfo.port };
    const key = Buffer.from(header.dcid).toString('hex');
    const existing = this.connections.get(key);
    if (existing !== undefined) {
      existing.recv(msg, rinfo.address, rinfo.port);
      return;
    }
    if (header.ty !== Type.Initial) return;
    if (!quiche.versionIsSupported(header.version)) {
      const out = Buffer.allocUnsafe(quiche.MAX_DATAGRAM_SIZE);
      try {
        const n = quiche.negotiateVersion(header.scid, header.dcid, out);
        this.socket.send(out, 0, n, rinfo.port, rinfo.address);
      } catch {
        // Malformed: ignore.
      }
      return;
    }
    // RFC 9000 §14.1: a client Initial is padded to 1200 bytes; smaller ones are dropped unanswered.
    if (msg.length < 1200) return;
    let odcid: Buffer | null = null;
    if (header.token !== undefined && header.token.length > 0) {
      odcid = this.retryTokens.verify(header.token, rinfo.address, rinfo.port);
      // We never send NEW_TOKEN, so any token is from a Retry: a bad one means a forged or stale Retry answer.
      if (odcid === null) return this.refuse(header, rinfo, QuicTransportError.INVALID_TOKEN, 'invalid or expired retry token');
    }
    if (this.live.size >= this.maxConnections) return this.refuse(header, rinfo, QuicTransportError.CONNECTION_REFUSED, 'server full, retry later');
    if (this.handshaking.size >= this.maxHandshakes) return this.refuse(header, rinfo, QuicTransportError.CONNECTION_REFUSED, 'too many handshakes, retry later');
    if (odcid === null && this.handshaking.size >= this.retryAboveHandshakes) return this.sendRetry(header, rinfo);
    // After a Retry the client already uses the connection id we chose there.
    const scid = odcid === null ? newConnectionId() : Buffer.from(header.dcid);
    let conn: QuicConnection;
    try {
      conn = this.accept(msg, scid, odcid, from);
    } catch {
      return;
    }
    this.counters.accepted++;
    const c = new Http3Connection(conn, from, this);
    // The client keeps using its original DCID until it hears from us (a
    // large ClientHello spans several Initials), then switches to ours.
    for (const id of new Set([key, scid.toString('hex')])) {
      this.connections.set(id, c);
      c.ids.push(id);
    }
    this.live.add(c);
    this.handshaking.add(c);
    c.recv(msg, rinfo.address, rinfo.port);
  }

  private accept(initial: Buffer, scid: Buffer, odcid: Buffer | null, from: Host): QuicConnection {
    if (this.ngtcp2 === undefined) return quiche.Connection.accept(scid, odcid, this.local, from, this.config);
    const native = nativeQuic();
    if ('error' in native) throw new Error(native.error);
    return new Ngtcp2Connection(native.binding, this.ngtcp2, initial, scid, odcid, { from, to: this.local });
  }

  private sendRetry(header: { scid: Uint8Array; dcid: Uint8Array; version: number }, rinfo: Peer): void {
    const scid = newConnectionId();
    const token = this.retryTokens.issue(header.dcid, rinfo.address, rinfo.port);
    const out = Buffer.allocUnsafe(quiche.MAX_DATAGRAM_SIZE);
    let n;
    try {
      n = quiche.retry(header.scid, header.dcid, scid, token, header.version, out);
    } catch {
      return; // Malformed connection ids: nothing to answer.
    }
    this.counters.retries++;
    this.socket.send(out, 0, n, rinfo.port, rinfo.address);
  }

  private refuse(header: { scid: Uint8Array; dcid: Uint8Array }, rinfo: Peer, code: number, reason: string): void {
    let packet;
    try {
      packet = encodeInitialClose({ clientDcid: header.dcid, clientScid: header.scid, serverScid: newConnectionId(), errorCode: code, reason });
    } catch {
      return;
    }
    this.counters.refused++;
    this.socket.send(packet, rinfo.port, rinfo.address);
  }

  connectionClosed(c: Http3Connection): void {
    for (const id of c.ids) if (this.connections.get(id) === c) this.connections.delete(id);
    this.live.delete(c);
    this.handshaking.delete(c);
  }

  connectionIds(c: Http3Connection, ids: readonly string[]): void {
    // The client's first DCID (ids[0]) stays routable until the connection ends: Initials may still carry it.
    const keep = new Set([c.ids[0]!, ...ids]);
    for (const id of c.ids) if (!keep.has(id) && this.connections.get(id) === c) this.connections.delete(id);
    c.ids.length = 0;
    for (const id of keep) {
      c.ids.push(id);
      this.connections.set(id, c);
    }
  }

  handshakeDone(c: Http3Connection, completed: boolean): void {
    this.handshaking.delete(c);
    if (!completed) this.counters.handshakeTimeouts++;
  }

  sessionOpened(s: WebTransportSession): void {
    try {
      this.emit('session', s);
    } catch (e) {
      this.emit('connectionError', e instanceof Error ? e : new Error(String(e)), { address: s.request.remoteAddress, port: s.request.remotePort });
    }
  }

  connectionError(c: Http3Connection, e: Error): void {
    if (this.listenerCount('connectionError') > 0) this.emit('connectionError', e, { address: c.remote.host, port: c.remote.port });
  }
}

/** quiche's configuration for this server's connections (exported for bench/quiche-floor.ts, which measures the binding with it). */
export function buildConfig(opts: WebTransportServerOptions, payload: number): Config {
  const enc = new TextEncoder();
  const config = quiche.Config.withBoringSslCtx(false, false, null, [enc.encode(opts.key)], [enc.encode(opts.cert)], null);
  config.setApplicationProtos(['h3']);
  config.setMaxIdleTimeout(opts.idleTimeoutMs ?? 30_000);
  config.setMaxRecvUdpPayloadSize(quiche.MAX_UDP_PACKET_SIZE);
  config.setMaxSendUdpPayloadSize(payload);
  config.setInitialMaxData(opts.initialMaxData ?? 16 * 1024 * 1024);
  const streamWindow = opts.initialMaxStreamData ?? 2 * 1024 * 1024;
  config.setInitialMaxStreamDataBidiLocal(streamWindow);
  config.setInitialMaxStreamDataBidiRemote(streamWindow);
  config.setInitialMaxStreamDataUni(streamWindow);
  const streams = opts.initialMaxStreams ?? 100;
  config.setInitialMaxStreamsBidi(streams);
  config.setInitialMaxStreamsUni(streams);
  config.setDisableActiveMigration(true);
  config.setCcAlgorithm(CongestionControlAlgorithm.CUBIC);
  config.enableDgram(true, 1024, 1024);
  config.grease(true);
  return config;
}

export type { WebTransportRequest, WebTransportResponse, RequestHandler };
