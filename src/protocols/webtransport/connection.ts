/**
 * One QUIC connection speaking HTTP/3 with WebTransport sessions on it, driven
 * directly through quiche's native binding (no `QUICConnection` wrapper: it
 * has no datagram or priority API and costs several event dispatches and
 * allocations per packet).
 *
 * Every entry point (`recv`, the timer, application calls that write) ends
 * with `flush`, which drains quiche's outgoing packets to the UDP socket.
 * Any protocol violation closes this connection with the matching HTTP/3
 * error code; an unexpected exception closes it with H3_INTERNAL_ERROR. None
 * escapes to the process.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { quiche, Shutdown } from '@matrixai/quic/native/index.js';
import type { Host } from '@matrixai/quic/native/types.js';
import type { FlushQueue } from './flush-queue.js';
import type { PacketOutput, PacketSource } from '../udp/batch-output.js';
import { QuicTimer } from './quic-timer.js';
import type { QuicConnection } from './quic-connection.js';
import {
  CapsuleReader,
  CapsuleType,
  decodeCloseSessionValue,
  decodeDatagram,
  decodeFieldSection,
  decodeSettingsPayload,
  encodeBidiStreamHeader,
  encodeFieldSection,
  encodeFrame,
  encodeSettingsFrame,
  encodeUniStreamHeader,
  FrameReader,
  FrameType,
  H3ErrorCode,
  Http3Error,
  http3ToWebTransportCode,
  isValidSessionId,
  parseRequestHead,
  SettingId,
  StreamBuffer,
  StreamType,
  type HeaderField,
  type SessionCloseInfo,
} from '../http3/index.js';
import {
  type ReceiveSide,
  WebTransportBidiStream,
  WebTransportReceiveStream,
  WebTransportSendStream,
  WebTransportSession,
  WebTransportStreamError,
  type SessionHost,
  type SessionRequestInfo,
  type StreamPriority,
} from './session.js';

/** How long a close capsule may wait for flow-control credit before the connection is closed instead (ms). */
const CONNECT_BACKLOG_MS = 3000;

/** The decision the application makes for each extended CONNECT. */
export interface WebTransportRequest extends SessionRequestInfo {}

export interface WebTransportResponse {
  /** 2xx accepts the session; anything else is sent back and the request stream is closed. */
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export type RequestHandler = (req: WebTransportRequest) => WebTransportResponse | Promise<WebTransportResponse>;

/** What a connection needs from the server that owns it. */
export interface ConnectionOwner {
  readonly socket: Socket;
  readonly localHost: Host;
  readonly onRequest: RequestHandler;
  readonly maxSessionsPerConnection: number;
  readonly keepAliveMs: number;
  readonly handshakeTimeoutMs: number;
  /** Where flushes put their packets: batched into one sendmmsg where the native helper is built. */
  readonly output: PacketOutput;
  /** Where `scheduleFlush` queues the connection: one microtask for every connection of a turn. */
  readonly flushes: FlushQueue;
  connectionClosed(c: Http3Connection): void;
  /** The connection ids the peer may use for `c` are now `ids` (hex). */
  connectionIds(c: Http3Connection, ids: readonly string[]): void;
  /** The QUIC handshake completed, or (false) was given up on. Called at most once. */
  handshakeDone(c: Http3Connection, completed: boolean): void;
  sessionOpened(s: WebTransportSession): void;
  connectionError(c: Http3Connection, e: Error): void;
}

/** The settings we send: draft-02 needs H3_DATAGRAM and ENABLE_WEBTRANSPORT or Chromium never sends CONNECT. */
export function serverSettings(maxSessions: number): [number, number][] {
  return [
    [SettingId.QPACK_MAX_TABLE_CAPACITY, 0],
    [SettingId.QPACK_BLOCKED_STREAMS, 0],
    [SettingId.ENABLE_CONNECT_PROTOCOL, 1],
    [SettingId.H3_DATAGRAM, 1],
    [SettingId.ENABLE_WEBTRANSPORT_DRAFT02, 1],
    [SettingId.WEBTRANSPORT_MAX_SESSIONS_DRAFT07, maxSessions],
    // Later drafts tie a value above 1 to WebTransport flow control, which we do not implement.
    [SettingId.WT_MAX_SESSIONS, 1],
  ];
}

const MAX_FIELD_SECTION = 16 * 1024;
const CONTROL_FRAMES = new Set<number>([
  FrameType.DATA,
  FrameType.HEADERS,
  FrameType.CANCEL_PUSH,
  FrameType.SETTINGS,
  FrameType.PUSH_PROMISE,
  FrameType.GOAWAY,
  FrameType.MAX_PUSH_ID,
]);
const REQUEST_FRAMES = new Set<number>([
  FrameType.DATA,
  FrameType.HEADERS,
  FrameType.CANCEL_PUSH,
  FrameType.SETTINGS,
  FrameType.PUSH_PROMISE,
  FrameType.GOAWAY,
  FrameType.MAX_PUSH_ID,
]);
const SESSION_CAPSULES = new Set<number>([CapsuleType.CLOSE_WEBTRANSPORT_SESSION, CapsuleType.DRAIN_WEBTRANSPORT_SESSION]);
/** WebTransport streams naming a session whose CONNECT is still being decided are held, up to this many per connection… */
const MAX_PENDING_STREAMS = 32;
/**
 * …with at most this many of their bytes, in all, per connection. Held bytes
 * are read out of quiche (left there, they would count against a 16 MiB
 * connection window that a client could fill before anyone accepted it); a
 * stream that would go past the budget is refused with WT_BUFFERED_STREAM_REJECTED.
 */
const MAX_PENDING_BYTES = 64 * 1024;

interface StreamHandler {
  onData(chunk: Uint8Array): void;
  onFin(): void;
  onReset(h3Code: number): void;
  /** The consumer is full: leave bytes in quiche. */
  readonly paused?: boolean;
}

/** Bytes taken from quiche per stream read. */
const READ_CHUNK = 64 * 1024;
/**
 * A stream's first bytes are held until its type (and session id) varints
 * are complete: at most 16 bytes of them, but they arrive with whatever else
 * the same read returned, so the bound is one read plus that.
 */
const PRELUDE_BUFFER = READ_CHUNK + 16;

/** Stands in for a stream we stopped reading, so late bytes are dropped instead of parsed as a new stream. */
const SINK: StreamHandler = { onData: () => {}, onFin: () => {}, onReset: () => {} };

const isClientBidi = (id: number): boolean => id % 4 === 0;
const isClientUni = (id: number): boolean => id % 4 === 2;

function errorCodeIn(e: unknown, kind: string): number | null {
  const m = e instanceof Error ? new RegExp(`${kind}\\((\\d+)\\)`).exec(e.message) : null;
  return m ? Number(m[1]) : null;
}

function response(status: number, extra: Readonly<Record<string, string>> = {}): Uint8Array {
  const fields: HeaderField[] = [{ name: ':status', value: String(status) }];
  for (const [name, value] of Object.entries(extra)) fields.push({ name: name.toLowerCase(), value });
  return encodeFrame(FrameType.HEADERS, encodeFieldSection(fields));
}

export class Http3Connection implements SessionHost {
  /** Connection ids this connection is reachable by in the server's table. */
  readonly ids: string[] = [];
  private established = false;
  private finalized = false;
  private readonly timer = new QuicTimer(() => this.onTimer());
  private keepAlive: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private flushQueued = false;
  /** Capsule bytes for CONNECT streams waiting for connection-level credit. */
  private readonly connectBacklog: Array<{ id: number; data: Uint8Array; fin: boolean }> = [];
  private connectBacklogTimer: NodeJS.Timeout | undefined;
  private inFlush = false;
  private recvInfo: { from: Host; to: Host } | undefined;

  private readonly handlers = new Map<number, StreamHandler>();
  private readonly blocked = new Set<WebTransportSendStream>();
  private readonly sessions = new Map<number, WebTransportSession>();
  /** CONNECT streams whose decision is pending, with the WebTransport streams that arrived for them meanwhile. */
  private readonly pendingSessions = new Map<number, Array<() => void>>();
  private pendingStreamCount = 0;
  private pendingBytes = 0;
  /** CONNECT streams the client reset while the application was deciding. */
  private readonly cancelledRequests = new Set<number>();
  private readonly creditWaiters: { uni: Array<() => void>; bidi: Array<() => void> } = { uni: [], bidi: [] };
  private nextUni = 3;
  private nextBidi = 1;
  private controlStreamId = -1;
  private peerControl = false;
  private peerEncoder = false;
  private peerDecoder = false;
  private peerSettings: ReadonlyMap<number, number> | undefined;
  private readonly readBuf = Buffer.allocUnsafe(READ_CHUNK);
  /** The connection itself when it writes whole batches (ngtcp2). */
  private readonly batchSource: PacketSource | undefined;

  constructor(
    readonly conn: QuicConnection,
    readonly remote: Host,
    private readonly owner: ConnectionOwner,
  ) {
    const writePackets = conn.writePackets;
    if (writePackets !== undefined) this.batchSource = { writePackets: writePackets.bind(conn) };
    // quiche would keep a half-open handshake for the whole idle timeout; a
    // client that has not finished by now has given up (Chromium does at 10 s).
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = undefined;
      if (this.established || this.finalized) return;
      this.owner.handshakeDone(this, false);
      try {
        this.conn.close(false, 0, Buffer.from('handshake timed out'));
      } catch {
        // Already closing.
      }
      this.flush();
      this.finalize();
    }, owner.handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  get isClosed(): boolean {
    return this.finalized;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Settings the client sent, once its control stream delivered them. */
  get clientSettings(): ReadonlyMap<number, number> | undefined {
    return this.peerSettings;
  }

  // --- driving quiche ---

  recv(packet: Buffer, host: string, port: number): void {
    if (this.finalized) return;
    // The peer's address is the same packet after packet: one RecvInfo object, not one per packet.
    let info = this.recvInfo;
    if (info === undefined || info.from.port !== port || info.from.host !== host) {
      info = this.recvInfo = { from: { host, port }, to: this.owner.localHost };
    }
    try {
      try {
        this.conn.recv(packet, info);
      } catch {
        // quiche has already recorded a local error and started closing, or
        // dropped an undecryptable packet; either way the state below tells.
      }
      this.afterInput();
    } catch (e) {
      this.fatal(e);
    }
    this.flush();
  }

  private afterInput(): void {
    // SETTINGS as 0.5-RTT data, in the server's first flight once the ClientHello told the client's stream limits:
    // a client that waits for them before its first extended CONNECT (Chromium does) sends it with its Finished
    // instead of a round trip later.
    if (this.controlStreamId < 0 && this.conn.sendsHalfRtt === true && !this.conn.isClosed() && this.conn.peerStreamsLeftUni() > 0) this.openControlStream();
    if (!this.established && this.conn.isEstablished()) {
      this.established = true;
      clearTimeout(this.handshakeTimer);
      this.owner.handshakeDone(this, true);
      if (this.controlStreamId < 0) this.openControlStream();
      if (this.owner.keepAliveMs > 0) {
        // Browsers time out idle QUIC connections; a PING now and then keeps a quiet session (no media yet) alive.
        this.keepAlive = setInterval(() => {
          if (this.finalized || this.sessions.size === 0) return;
          try {
            this.conn.sendAckEliciting();
          } catch {
            return;
          }
          this.flush();
        }, this.owner.keepAliveMs);
        this.keepAlive.unref();
      }
    }
    if (!this.established || this.conn.isClosed()) return;
    const ids = this.conn.takeConnectionIds?.();
    if (ids) this.owner.connectionIds(this, ids);
    // Most packets a server reads are ACKs: asking whether anything is readable costs a tenth of building quiche's stream iterator.
    if (this.conn.isReadable()) for (const id of this.conn.readable()) this.readStream(id);
    // Datagrams name a session; before there is one, quiche's bounded queue keeps them.
    if (this.sessions.size > 0) this.readDatagrams();
    this.retryBlocked();
    this.wakeCreditWaiters();
  }

  /** Sends every packet quiche has ready, then rearms the timer. */
  flush(): void {
    if (this.finalized || this.inFlush) return;
    this.inFlush = true;
    try {
      const out = this.owner.output;
      try {
        if (this.batchSource !== undefined) out.fill(this.recvInfo?.from ?? this.remote, this.batchSource);
        else for (;;) {
          const buf = out.next();
          let r;
          try {
            r = this.conn.send!(buf);
          } catch {
            break;
          }
          if (r === null) break;
          out.commit(r[0], r[1].to);
        }
      } finally {
        try {
          out.end();
        } catch {
          // The socket is closing; the connection goes with it.
        }
      }
    } finally {
      this.inFlush = false;
    }
    this.timer.arm(this.conn);
    if (this.conn.isClosed()) this.finalize();
  }

  scheduleFlush(): void {
    if (this.flushQueued || this.finalized) return;
    this.flushQueued = true;
    this.owner.flushes.add(this);
  }

  /** @internal FlushQueue: the flush `scheduleFlush` asked for. */
  runQueuedFlush(): void {
    this.flushQueued = false;
    try {
      this.flush();
    } catch (e) {
      this.fatal(e);
    }
  }

  private onTimer(): void {
    if (this.finalized) return;
    try {
      this.conn.onTimeout();
      this.afterInput();
    } catch (e) {
      this.fatal(e);
    }
    this.flush();
  }

  /** Closes the connection with an HTTP/3 error code (application close). */
  closeWith(code: number, reason: string): void {
    if (this.finalized) return;
    for (const s of [...this.sessions.values()]) s.finish({ code: 0, reason: `connection closed: ${reason}` }, 'connection closed');
    try {
      this.conn.close(true, code, Buffer.from(reason.slice(0, 100)));
    } catch {
      // Already closing.
    }
    this.flush();
  }

  /** Drops all state without waiting for quiche's draining period (the server is going away). */
  terminate(): void {
    this.finalize();
  }

  private fatal(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.owner.connectionError(this, err);
    const code = err instanceof Http3Error ? err.code : H3ErrorCode.INTERNAL_ERROR;
    this.closeWith(code, err.message);
  }

  private finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    this.timer.cancel();
    if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
    clearTimeout(this.handshakeTimer);
    if (this.connectBacklogTimer !== undefined) clearTimeout(this.connectBacklogTimer);
    const peer = this.conn.peerError();
    const why = peer ? `connection closed by peer (code ${peer.errorCode})` : 'connection closed';
    for (const s of [...this.sessions.values()]) s.finish({ code: 0, reason: why }, why);
    const gone = new WebTransportStreamError(why, null);
    for (const s of this.blocked) s.fail(gone);
    this.blocked.clear();
    for (const w of [...this.creditWaiters.uni.splice(0), ...this.creditWaiters.bidi.splice(0)]) w();
    this.owner.connectionClosed(this);
    this.conn.destroy?.();
  }

  // --- our streams ---

  private openControlStream(): void {
    this.controlStreamId = this.allocate('uni');
    const bytes = Buffer.concat([Uint8Array.of(StreamType.CONTROL), encodeSettingsFrame(serverSettings(this.owner.maxSessionsPerConnection))]);
    this.conn.streamPriority(this.controlStreamId, 0, false);
    this.rawSend(this.controlStreamId, bytes, false);
  }

  private allocate(kind: 'uni' | 'bidi'): number {
    const id = kind === 'uni' ? this.nextUni : this.nextBidi;
    if (kind === 'uni') this.nextUni += 4;
    else this.nextBidi += 4;
    // A zero-length send creates the stream in quiche, so priority and credit accounting apply at once.
    this.conn.streamSend(id, new Uint8Array(0), false);
    return id;
  }

  /** Writes bytes that must go out whole (control data, responses); they are small and fit the initial windows. */
  private rawSend(id: number, data: Uint8Array, fin: boolean): void {
    let off = 0;
    while (off < data.length || (fin && off === data.length)) {
      const n = this.conn.streamSend(id, data.subarray(off), fin);
      if (n === null) throw new Http3Error(H3ErrorCode.INTERNAL_ERROR, `no flow-control credit for stream ${id}`);
      off += n;
      if (off === data.length) break;
    }
    this.scheduleFlush();
  }

  streamSend(id: number, data: Uint8Array, fin: boolean): number {
    if (this.finalized) throw new WebTransportStreamError('connection closed', null);
    try {
      return this.conn.streamSend(id, data, fin) ?? 0;
    } catch (e) {
      const stopped = errorCodeIn(e, 'StreamStopped');
      if (stopped !== null) {
        try {
          this.conn.streamShutdown(id, Shutdown.Write, stopped);
        } catch {
          // Already shut.
        }
        throw new WebTransportStreamError(`peer stopped stream ${id}`, http3ToWebTransportCode(stopped));
      }
      throw new WebTransportStreamError(`stream ${id}: ${e instanceof Error ? e.message : String(e)}`, null);
    }
  }

  markBlocked(stream: WebTransportSendStream): void {
    this.blocked.add(stream);
  }

  private retryBlocked(): void {
    if (this.connectBacklog.length > 0) this.flushConnectBacklog();
    if (this.blocked.size === 0) return;
    const streams = [...this.blocked];
    this.blocked.clear();
    for (const s of streams) s.pump();
  }

  streamReset(id: number, h3Code: number): boolean {
    if (this.finalized) return false;
    let reset = true;
    try {
      // null: quiche had nothing left to reset.
      reset = this.conn.streamShutdown(id, Shutdown.Write, h3Code) !== null;
    } catch {
      // The stream is already complete (all data acknowledged) and collected, or reset.
      reset = false;
    }
    this.blocked.forEach((s) => s.id === id && this.blocked.delete(s));
    this.scheduleFlush();
    return reset;
  }

  streamStopSending(id: number, h3Code: number): void {
    if (this.finalized) return;
    try {
      this.conn.streamShutdown(id, Shutdown.Read, h3Code);
    } catch {
      // Already finished.
    }
    if (this.handlers.has(id)) this.handlers.set(id, SINK);
    this.scheduleFlush();
  }


  streamPriority(id: number, urgency: number, incremental: boolean): void {
    if (this.finalized) return;
    try {
      this.conn.streamPriority(id, urgency, incremental);
    } catch {
      // The stream is gone; nothing to prioritise.
    }
  }

  resumeRead(id: number): void {
    if (this.finalized) return;
    try {
      this.readStream(id);
    } catch (e) {
      this.fatal(e);
    }
    this.scheduleFlush();
  }

  /**
   * A new stream id once the peer's MAX_STREAMS allows one. Checking and
   * allocating happen in one synchronous step, so concurrent openers cannot
   * both take the last credit.
   */
  private async acquireStream(kind: 'uni' | 'bidi', session: WebTransportSession): Promise<number> {
    for (;;) {
      if (session.isClosed || this.finalized) throw new WebTransportStreamError('session closed', null);
      const left = kind === 'uni' ? this.conn.peerStreamsLeftUni() : this.conn.peerStreamsLeftBidi();
      if (left > 0) return this.allocate(kind);
      await new Promise<void>((resolve) => this.creditWaiters[kind].push(resolve));
    }
  }

  private wakeCreditWaiters(): void {
    // Runs after every packet received (mostly ACKs): asking quiche costs two crossings, so only when someone waits.
    if (this.creditWaiters.uni.length === 0 && this.creditWaiters.bidi.length === 0) return;
    for (const kind of ['uni', 'bidi'] as const) {
      const waiters = this.creditWaiters[kind];
      let left = kind === 'uni' ? this.conn.peerStreamsLeftUni() : this.conn.peerStreamsLeftBidi();
      while (waiters.length > 0 && left-- > 0) waiters.shift()!();
    }
  }

  async openUniStream(session: WebTransportSession, priority?: StreamPriority): Promise<WebTransportSendStream> {
    const id = await this.acquireStream('uni', session);
    const stream = new WebTransportSendStream(id, this, encodeUniStreamHeader(session.id), priority);
    session.addStream(stream);
    const forget = (): void => void session.streams.delete(id);
    stream.finished.then(forget, forget);
    return stream;
  }

  async openBidiStream(session: WebTransportSession, priority?: StreamPriority): Promise<WebTransportBidiStream> {
    const id = await this.acquireStream('bidi', session);
    const stream = new WebTransportBidiStream(id, this, encodeBidiStreamHeader(session.id), priority);
    session.addStream(stream);
    this.forgetBidiWhenDone(session, stream);
    this.handlers.set(id, this.receiveHandler(stream.side, session, id));
    return stream;
  }

  maxDatagramSize(): number {
    if (this.finalized) return 0;
    return this.conn.dgramMaxWritableLen() ?? 0;
  }

  sendDatagram(datagram: Uint8Array): boolean {
    if (this.finalized) return false;
    const max = this.conn.dgramMaxWritableLen();
    if (max === null || datagram.length > max || this.conn.isDgramSendQueueFull()) return false;
    try {
      this.conn.dgramSend(datagram);
    } catch {
      return false;
    }
    this.scheduleFlush();
    return true;
  }

  sendOnConnectStream(sessionId: number, bytes: Uint8Array, fin: boolean): void {
    if (this.finalized) return;
    this.connectBacklog.push({ id: sessionId, data: bytes, fin });
    this.flushConnectBacklog();
    if (this.connectBacklog.length > 0 && this.connectBacklogTimer === undefined) {
      // Media filled the connection's flow-control window and the peer is not
      // reading: a close capsule that cannot get through in time ends the
      // connection instead, once no other session needs it.
      this.connectBacklogTimer = setTimeout(() => {
        this.connectBacklogTimer = undefined;
        if (this.connectBacklog.length > 0 && this.sessions.size === 0) this.closeWith(H3ErrorCode.NO_ERROR, 'session closed');
      }, CONNECT_BACKLOG_MS);
      this.connectBacklogTimer.unref();
    }
  }

  /**
   * Capsules (and FINs) for CONNECT streams go out in order as connection
   * credit allows; a capsule must never be dropped just because media used up
   * the window at that moment.
   */
  private flushConnectBacklog(): void {
    while (this.connectBacklog.length > 0) {
      const head = this.connectBacklog[0]!;
      let n: number | null;
      try {
        n = this.conn.streamSend(head.id, head.data, head.fin);
      } catch {
        // The peer reset the CONNECT stream: the session is gone anyway.
        this.connectBacklog.shift();
        continue;
      }
      if (n === null) break;
      if (n < head.data.length) {
        head.data = head.data.subarray(n);
        break;
      }
      this.connectBacklog.shift();
    }
    this.scheduleFlush();
  }

  sessionEnded(session: WebTransportSession): void {
    this.sessions.delete(session.id);
    // Openers waiting for stream credit on this session must learn it is gone; the others wait again.
    for (const w of [...this.creditWaiters.uni.splice(0), ...this.creditWaiters.bidi.splice(0)]) w();
  }

  // --- peer streams ---

  private readStream(id: number): void {
    let handler = this.handlers.get(id);
    if (handler === undefined) {
      if (isClientUni(id)) handler = this.uniPrelude(id);
      else if (isClientBidi(id)) handler = this.bidiPrelude(id);
      else {
        // One of our own streams that the peer reset or that has no reader: drain quietly.
        this.drainUnowned(id);
        return;
      }
      this.handlers.set(id, handler);
    }
    for (;;) {
      if (handler.paused) return;
      let r: [number, boolean] | null;
      try {
        r = this.conn.streamRecv(id, this.readBuf);
      } catch (e) {
        const reset = errorCodeIn(e, 'StreamReset');
        this.handlers.delete(id);
        if (reset !== null) handler.onReset(reset);
        return;
      }
      if (r === null) return;
      const [n, fin] = r;
      if (n > 0) handler.onData(Uint8Array.prototype.slice.call(this.readBuf, 0, n));
      if (fin) {
        this.handlers.delete(id);
        handler.onFin();
        return;
      }
      // A handler can replace itself (a prelude that found its stream type).
      handler = this.handlers.get(id);
      if (handler === undefined) {
        this.drainUnowned(id);
        return;
      }
    }
  }

  private drainUnowned(id: number): void {
    try {
      while (this.conn.streamRecv(id, this.readBuf) !== null);
    } catch {
      // Reset or finished: nothing to do.
    }
  }

  private uniPrelude(id: number): StreamHandler {
    // Sized for one whole read: the chunk that completes the stream type may carry the stream's first data too.
    const buf = new StreamBuffer(PRELUDE_BUFFER);
    const prelude: StreamHandler = {
      onData: (chunk) => {
        buf.push(chunk);
        const type = buf.peekVarint();
        if (type === null) return;
        if (type.value === StreamType.WEBTRANSPORT_UNI) {
          const sid = buf.peekVarint(type.length);
          if (sid === null) return;
          buf.discard(type.length + sid.length);
          this.attachWebTransportStream(id, sid.value, 'uni', buf.takeUpTo(buf.available));
          return;
        }
        buf.discard(type.length);
        const rest = buf.takeUpTo(buf.available);
        const next = this.criticalUniHandler(id, type.value);
        if (next === null) return;
        this.handlers.set(id, next);
        if (rest.length > 0) next.onData(rest);
      },
      onFin: () => {
        // A uni stream that ends before its type: nothing to do (RFC 9114 §6.2).
      },
      onReset: () => {},
    };
    return prelude;
  }

  /** Handler for control and QPACK streams; `null` after rejecting an unknown or forbidden type. */
  private criticalUniHandler(id: number, type: number): StreamHandler | null {
    const critical = (what: string): StreamHandler['onFin'] => () => {
      throw new Http3Error(H3ErrorCode.CLOSED_CRITICAL_STREAM, `client closed its ${what} stream`);
    };
    switch (type) {
      case StreamType.CONTROL: {
        if (this.peerControl) throw new Http3Error(H3ErrorCode.STREAM_CREATION_ERROR, 'second control stream');
        this.peerControl = true;
        const reader = new FrameReader({ wanted: CONTROL_FRAMES, maxPayload: 16 * 1024 });
        return {
          onData: (chunk) => {
            reader.push(chunk);
            for (;;) {
              if (this.peerSettings === undefined) {
                const t = reader.peekType();
                if (t === null) return;
                if (t !== FrameType.SETTINGS) throw new Http3Error(H3ErrorCode.MISSING_SETTINGS, `control stream began with frame 0x${t.toString(16)}`);
              }
              const f = reader.next();
              if (f === null) return;
              this.onControlFrame(f.type, f.payload);
            }
          },
          onFin: critical('control'),
          onReset: critical('control'),
        };
      }
      case StreamType.QPACK_ENCODER:
      case StreamType.QPACK_DECODER: {
        const encoder = type === StreamType.QPACK_ENCODER;
        if (encoder ? this.peerEncoder : this.peerDecoder) {
          throw new Http3Error(H3ErrorCode.STREAM_CREATION_ERROR, `second QPACK ${encoder ? 'encoder' : 'decoder'} stream`);
        }
        if (encoder) this.peerEncoder = true;
        else this.peerDecoder = true;
        return {
          // With a table capacity of 0 the encoder stream may only set the
          // capacity to 0; the decoder stream only acknowledges. Neither changes state here.
          onData: (chunk) => {
            if (encoder) this.checkEncoderInstructions(chunk);
          },
          onFin: critical(encoder ? 'QPACK encoder' : 'QPACK decoder'),
          onReset: critical(encoder ? 'QPACK encoder' : 'QPACK decoder'),
        };
      }
      case StreamType.PUSH:
        throw new Http3Error(H3ErrorCode.STREAM_CREATION_ERROR, 'clients may not open push streams');
      default:
        // Unknown or GREASE stream type: refuse to read it (RFC 9114 §6.2).
        this.conn.streamShutdown(id, Shutdown.Read, H3ErrorCode.STREAM_CREATION_ERROR);
        this.handlers.set(id, SINK);
        return null;
    }
  }

  /** The only encoder instruction allowed with capacity 0 is Set Dynamic Table Capacity 0 (001xxxxx with value 0). */
  private checkEncoderInstructions(chunk: Uint8Array): void {
    for (const b of chunk) {
      if (b !== 0x20) throw new Http3Error(H3ErrorCode.QPACK_ENCODER_STREAM_ERROR, 'QPACK encoder instruction needs a dynamic table');
    }
  }

  private onControlFrame(type: number, payload: Uint8Array): void {
    switch (type) {
      case FrameType.SETTINGS:
        if (this.peerSettings !== undefined) throw new Http3Error(H3ErrorCode.FRAME_UNEXPECTED, 'second SETTINGS frame');
        this.peerSettings = decodeSettingsPayload(payload);
        return;
      case FrameType.GOAWAY:
      case FrameType.MAX_PUSH_ID:
      case FrameType.CANCEL_PUSH:
        // We never push, and a client GOAWAY only limits pushes.
        return;
      default:
        throw new Http3Error(H3ErrorCode.FRAME_UNEXPECTED, `frame 0x${type.toString(16)} on the control stream`);
    }
  }

  private bidiPrelude(id: number): StreamHandler {
    const buf = new StreamBuffer(PRELUDE_BUFFER);
    return {
      onData: (chunk) => {
        buf.push(chunk);
        const first = buf.peekVarint();
        if (first === null) return;
        if (first.value === FrameType.WEBTRANSPORT_STREAM) {
          const sid = buf.peekVarint(first.length);
          if (sid === null) return;
          buf.discard(first.length + sid.length);
          this.attachWebTransportStream(id, sid.value, 'bidi', buf.takeUpTo(buf.available));
          return;
        }
        const handler = this.requestHandler(id);
        this.handlers.set(id, handler);
        handler.onData(buf.takeUpTo(buf.available));
      },
      onFin: () => {
        this.streamReset(id, H3ErrorCode.REQUEST_INCOMPLETE);
      },
      onReset: () => {},
    };
  }

  private attachWebTransportStream(id: number, sessionId: number, kind: 'uni' | 'bidi', initial: Uint8Array): void {
    /** `held`: what the stream did while its session was pending (more bytes, its FIN or reset). */
    const attach = (held?: { chunks: Uint8Array[]; end?: 'fin' | number }): void => {
      const session = this.sessions.get(sessionId);
      if (session === undefined || session.isClosed) {
        if (held?.end === undefined) this.refuseStream(id, kind);
        return;
      }
      let side: ReceiveSide;
      if (kind === 'uni') {
        const stream = new WebTransportReceiveStream(id, this);
        side = stream.side;
        this.handlers.set(id, this.receiveHandler(side, session, id));
        if (initial.length > 0) side.push(initial);
        for (const c of held?.chunks ?? []) side.push(c);
        session.deliverUni(stream);
      } else {
        const stream = new WebTransportBidiStream(id, this, undefined, undefined);
        side = stream.side;
        this.handlers.set(id, this.receiveHandler(side, session, id));
        if (initial.length > 0) side.push(initial);
        for (const c of held?.chunks ?? []) side.push(c);
        session.deliverBidi(stream);
        this.forgetBidiWhenDone(session, stream);
      }
      if (held?.end !== undefined) {
        const handler = this.handlers.get(id)!;
        this.handlers.delete(id);
        if (held.end === 'fin') handler.onFin();
        else handler.onReset(held.end);
      }
    };
    const pending = this.pendingSessions.get(sessionId);
    if (pending !== undefined && this.pendingStreamCount < MAX_PENDING_STREAMS && this.pendingBytes + initial.length <= MAX_PENDING_BYTES) {
      this.pendingStreamCount++;
      this.pendingBytes += initial.length;
      const held: { chunks: Uint8Array[]; end?: 'fin' | number; refused?: boolean } = { chunks: [] };
      let heldBytes = initial.length;
      const release = (): void => {
        this.pendingStreamCount--;
        this.pendingBytes -= heldBytes;
        heldBytes = 0;
      };
      this.handlers.set(id, {
        onData: (chunk) => {
          if (held.refused) return;
          if (this.pendingBytes + chunk.length > MAX_PENDING_BYTES) {
            held.refused = true;
            held.chunks = [];
            release();
            this.refuseStream(id, kind);
            return;
          }
          this.pendingBytes += chunk.length;
          heldBytes += chunk.length;
          held.chunks.push(chunk);
        },
        onFin: () => void (held.end = 'fin'),
        onReset: (code) => void (held.end = code),
      });
      pending.push(() => {
        if (held.refused) return;
        release();
        if (held.end === undefined) this.handlers.delete(id);
        attach(held);
        if (held.end === undefined && this.handlers.has(id)) this.readStream(id);
      });
      return;
    }
    if (!isValidSessionId(sessionId) || !this.sessions.has(sessionId)) {
      this.refuseStream(id, kind);
      return;
    }
    attach();
  }

  private refuseStream(id: number, kind: 'uni' | 'bidi'): void {
    this.handlers.set(id, SINK);
    try {
      this.conn.streamShutdown(id, Shutdown.Read, H3ErrorCode.WT_BUFFERED_STREAM_REJECTED);
      if (kind === 'bidi') this.conn.streamShutdown(id, Shutdown.Write, H3ErrorCode.WT_BUFFERED_STREAM_REJECTED);
    } catch {
      // Already gone.
    }
  }

  /** A session keeps a bidi stream until both halves are over (its FIN or reset, and the peer's). */
  private forgetBidiWhenDone(session: WebTransportSession, stream: WebTransportBidiStream): void {
    const forget = (): void => {
      if (stream.side.isDone) session.streams.delete(stream.id);
    };
    stream.finished.then(forget, forget);
  }

  private receiveHandler(
    side: ReceiveSide,
    session: WebTransportSession,
    id: number,
  ): StreamHandler {
    return {
      onData: (chunk) => side.push(chunk),
      onFin: () => {
        side.end();
        this.forgetIfSendDone(session, id);
      },
      onReset: (code) => {
        side.error(new WebTransportStreamError(`peer reset stream ${id}`, http3ToWebTransportCode(code)));
        this.forgetIfSendDone(session, id);
      },
      get paused() {
        return side.paused;
      },
    };
  }

  private forgetIfSendDone(session: WebTransportSession, id: number): void {
    const s = session.streams.get(id);
    if (!(s instanceof WebTransportSendStream) || s.isFinished) session.streams.delete(id);
  }

  private requestHandler(id: number): StreamHandler {
    const reader = new FrameReader({ wanted: REQUEST_FRAMES, maxPayload: MAX_FIELD_SECTION });
    const capsules = new CapsuleReader(SESSION_CAPSULES);
    let state: 'headers' | 'deciding' | 'session' | 'done' = 'headers';
    let peerClose: SessionCloseInfo | undefined;

    const onFrame = (type: number, payload: Uint8Array): void => {
      if (type !== FrameType.DATA && type !== FrameType.HEADERS) {
        throw new Http3Error(H3ErrorCode.FRAME_UNEXPECTED, `frame 0x${type.toString(16)} on a request stream`);
      }
      if (state === 'headers') {
        if (type !== FrameType.HEADERS) throw new Http3Error(H3ErrorCode.FRAME_UNEXPECTED, 'DATA before HEADERS');
        state = 'deciding';
        this.onRequestHeaders(id, payload, (accepted) => {
          state = accepted ? 'session' : 'done';
        });
        return;
      }
      if (state !== 'session') return;
      if (type === FrameType.HEADERS) return; // Trailers on a CONNECT stream carry nothing for us.
      capsules.push(payload);
      for (let c = capsules.next(); c !== null; c = capsules.next()) {
        const session = this.sessions.get(id);
        if (c.type === CapsuleType.CLOSE_WEBTRANSPORT_SESSION) {
          peerClose = decodeCloseSessionValue(c.value);
          this.sendOnConnectStream(id, new Uint8Array(0), true);
          session?.finish(peerClose, `session closed by peer with code ${peerClose.code}`);
        } else if (c.type === CapsuleType.DRAIN_WEBTRANSPORT_SESSION) {
          session?.peerDrain();
        }
      }
    };

    return {
      onData: (chunk) => {
        if (state === 'done') return;
        reader.push(chunk);
        for (let f = reader.next(); f !== null; f = reader.next()) onFrame(f.type, f.payload);
      },
      onFin: () => {
        const session = this.sessions.get(id);
        if (session !== undefined) {
          this.sendOnConnectStream(id, new Uint8Array(0), true);
          session.finish(peerClose ?? { code: 0, reason: '' }, 'session ended by peer');
        } else if (state === 'headers') {
          this.streamReset(id, H3ErrorCode.REQUEST_INCOMPLETE);
        }
      },
      onReset: (code) => {
        if (state === 'deciding') this.cancelledRequests.add(id);
        this.sessions.get(id)?.finish({ code: 0, reason: `CONNECT stream reset (0x${code.toString(16)})` }, 'session reset by peer');
      },
    };
  }

  private onRequestHeaders(id: number, block: Uint8Array, decided: (accepted: boolean) => void): void {
    // QPACK failures are connection errors; a malformed request only fails this stream.
    const fields = decodeFieldSection(block, { maxFieldSectionSize: MAX_FIELD_SECTION });
    let head;
    try {
      head = parseRequestHead(fields);
    } catch (e) {
      if (!(e instanceof Http3Error)) throw e;
      this.reject(id, 400);
      decided(false);
      return;
    }
    if (head.method !== 'CONNECT' || head.protocol !== 'webtransport') {
      this.reject(id, head.method === 'CONNECT' ? 501 : 404);
      decided(false);
      return;
    }
    if (this.sessions.size + this.pendingSessions.size >= this.owner.maxSessionsPerConnection) {
      this.reject(id, 429);
      decided(false);
      return;
    }
    const request: WebTransportRequest = {
      path: head.path ?? '/',
      authority: head.authority ?? '',
      origin: head.headers['origin'],
      headers: head.headers,
      remoteAddress: this.remote.host,
      remotePort: this.remote.port,
    };
    const waiting: Array<() => void> = [];
    this.pendingSessions.set(id, waiting);
    const finish = (res: WebTransportResponse): void => {
      this.pendingSessions.delete(id);
      if (this.finalized) return;
      const cancelled = this.cancelledRequests.delete(id);
      const ok = res.status >= 200 && res.status < 300 && !cancelled;
      if (ok) {
        this.rawSendSafe(id, response(200, { 'sec-webtransport-http3-draft': 'draft02', ...res.headers }), false);
        const session = new WebTransportSession(id, request, this);
        this.sessions.set(id, session);
        decided(true);
        this.owner.sessionOpened(session);
      } else {
        this.reject(id, res.status, res.headers);
        decided(false);
      }
      for (const w of waiting) w();
      this.flush();
    };
    let result: WebTransportResponse | Promise<WebTransportResponse>;
    try {
      result = this.owner.onRequest(request);
    } catch (e) {
      this.owner.connectionError(this, e instanceof Error ? e : new Error(String(e)));
      result = { status: 500 };
    }
    if (result instanceof Promise) {
      result.then(finish, (e: unknown) => {
        this.owner.connectionError(this, e instanceof Error ? e : new Error(String(e)));
        finish({ status: 500 });
      });
    } else {
      finish(result);
    }
  }

  private rawSendSafe(id: number, data: Uint8Array, fin: boolean): void {
    try {
      this.rawSend(id, data, fin);
    } catch {
      // The client gave up on the request meanwhile.
    }
  }

  /** Answers a request with a non-2xx status and stops reading it. */
  private reject(id: number, status: number, headers?: Readonly<Record<string, string>>): void {
    const code = status >= 100 && status <= 999 ? status : 500;
    this.rawSendSafe(id, response(code, headers), true);
    try {
      this.conn.streamShutdown(id, Shutdown.Read, H3ErrorCode.NO_ERROR);
    } catch {
      // Already finished.
    }
    this.handlers.set(id, SINK);
  }

  // --- datagrams ---

  private readDatagrams(): void {
    for (;;) {
      const d = this.conn.dgramRecvVec();
      if (d === null) return;
      let decoded;
      try {
        decoded = decodeDatagram(d);
      } catch {
        continue; // A malformed datagram is dropped, like any lost one.
      }
      this.sessions.get(decoded.sessionId)?.deliverDatagram(decoded.payload);
    }
  }
}

export { PacketSlab } from '../udp/packet-slab.js';

/** A fresh random connection id of quiche's maximum length. */
export function newConnectionId(): Buffer {
  return randomBytes(quiche.MAX_CONN_ID_LEN);
}
