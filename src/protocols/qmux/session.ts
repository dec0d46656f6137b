/**
 * The server side of one QMux session over an accepted WebSocket: QUIC
 * stream semantics (ids, FIN, resets, flow control, stream limits) with
 * WebSocket messages as records. It offers the same `StreamSession` shape
 * as a WebTransport session, so application protocols run unchanged on
 * either.
 */
import type { WebSocket } from 'ws';
import type { SessionCloseInfo, SessionRequestInfo, StreamHandlers, StreamPriority, StreamSession } from '../stream-session.js';
import { QmuxError, QmuxStreamError, TransportErrorCode } from './errors.js';
import {
  DEFAULT_PARAMETERS,
  decodeMessage,
  encodeClose,
  encodeMaxData,
  encodeMaxStreamData,
  encodeMaxStreams,
  encodePingResponse,
  encodeTransportParameters,
  MAX_FRAME_SIZE_00,
  MAX_RECORD_SIZE,
  usesRecords,
  type Frame,
  type QmuxVersion,
  type TransportParameters,
} from './frames.js';
import { QmuxBidiStream, QmuxReceiveSide, QmuxSendStream, QmuxUniStream, type StreamHost } from './streams.js';

export interface QmuxLimits {
  /** Connection receive window (initial_max_data), bytes. */
  readonly maxData: number;
  /** Receive window of each peer-opened stream, bytes. */
  readonly maxStreamData: number;
  /** Peer-opened streams open at once. */
  readonly maxStreamsBidi: number;
  readonly maxStreamsUni: number;
}

/** Small: the application protocols we serve send a few requests per stream and otherwise listen. */
export const DEFAULT_LIMITS: QmuxLimits = { maxData: 256 * 1024, maxStreamData: 64 * 1024, maxStreamsBidi: 100, maxStreamsUni: 16 };

export interface QmuxSessionOptions {
  readonly ws: WebSocket;
  readonly version: QmuxVersion;
  readonly request: SessionRequestInfo;
  readonly limits?: QmuxLimits;
  /** Nothing from the client (not even a pong) for this long closes the session. */
  readonly readTimeoutMs?: number;
  /** Queued output that has not shrunk for this long closes the session. */
  readonly writeTimeoutMs?: number;
  /** The client's transport parameters must come within this. */
  readonly handshakeTimeoutMs?: number;
}

/** Largest STREAM payload we put in one message: inside every draft's record or frame limit, with room for the header. */
const MAX_STREAM_PAYLOAD = 16000;
/** Stream data waits while the socket holds this much: what is already queued cannot be reordered by priority. */
const HIGH_WATER = 64 * 1024;
/** Beyond this a peer that does not read is closed: only control frames can get there, and they should not. */
const HARD_CAP = 8 * 1024 * 1024;
/** Our uni streams waiting for the peer's MAX_STREAMS. */
const MAX_PENDING_OPENS = 256;

type Kind = 'bidi' | 'uni';

interface PeerStreams {
  /** Index of the next stream not yet seen (lower ones are open, closed or holes). */
  next: number;
  /** Lower indices implicitly opened but not seen yet. */
  readonly holes: Set<number>;
  /** MAX_STREAMS we advertised. */
  max: number;
  closed: number;
}

export class QmuxSession implements StreamSession, StreamHost {
  readonly request: SessionRequestInfo;
  readonly version: QmuxVersion;
  readonly closed: Promise<SessionCloseInfo>;
  /** Counters for tests and stats. */
  bytesReceived = 0;
  bytesSent = 0;
  private resolveClosed!: (info: SessionCloseInfo) => void;
  private isClosed = false;
  private readonly ws: WebSocket;
  private readonly limits: QmuxLimits;
  private peer: TransportParameters | undefined;
  private handlers: StreamHandlers | undefined;
  private readonly inbox: Array<{ kind: Kind; stream: QmuxBidiStream | QmuxUniStream }> = [];
  private readonly streams = new Map<number, QmuxSendStream | QmuxUniStream>();
  private readonly peerStreams: Record<Kind, PeerStreams>;
  /** Our unidirectional streams: opened so far, and the peer's limit. */
  private localUniOpened = 0;
  private localUniMax = 0;
  private readonly pendingOpens: Array<{ priority: StreamPriority | undefined; resolve(s: QmuxSendStream): void; reject(e: Error): void }> = [];
  /** Connection flow control, sending: the peer's MAX_DATA and what we framed. */
  private sendMax = 0;
  private sent = 0;
  /** Receiving: our MAX_DATA, what arrived, what the application consumed. */
  private recvMax: number;
  private recvTotal = 0;
  private recvConsumed = 0;
  private readonly sending = new Set<QmuxSendStream>();
  private pumping = false;
  private lastPingRequest: bigint | undefined;
  private lastInbound = performance.now();
  private lastFlush = performance.now();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(o: QmuxSessionOptions) {
    this.ws = o.ws;
    this.version = o.version;
    this.request = o.request;
    this.limits = o.limits ?? DEFAULT_LIMITS;
    this.recvMax = this.limits.maxData;
    const peer = (max: number): PeerStreams => ({ next: 0, holes: new Set(), max, closed: 0 });
    this.peerStreams = { bidi: peer(this.limits.maxStreamsBidi), uni: peer(this.limits.maxStreamsUni) };
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.ws.on('pong', () => {
      this.lastInbound = performance.now();
    });
    this.ws.on('close', (code, reason) => this.finish({ code: 0, reason: `websocket closed (${code}${reason.length ? ` ${reason.toString()}` : ''})` }));
    this.ws.on('error', () => this.ws.terminate());
    this.sendControl(
      encodeTransportParameters({
        ...DEFAULT_PARAMETERS,
        initialMaxData: this.limits.maxData,
        initialMaxStreamDataBidiRemote: this.limits.maxStreamData,
        initialMaxStreamDataUni: this.limits.maxStreamData,
        initialMaxStreamsBidi: this.limits.maxStreamsBidi,
        initialMaxStreamsUni: this.limits.maxStreamsUni,
        // Advertised only where the draft allows it; we accept it as a plain reset.
        resetStreamAt: o.version === 'qmux-02',
      }),
    );
    const handshake = setTimeout(() => {
      if (this.peer === undefined) this.fail(new QmuxError(TransportErrorCode.ProtocolViolation, 'no transport parameters in time'));
    }, o.handshakeTimeoutMs ?? 10_000);
    const readTimeout = o.readTimeoutMs ?? 10_000;
    const writeTimeout = o.writeTimeoutMs ?? 10_000;
    // Browsers answer WebSocket pings by themselves, so a ping every half read timeout keeps a healthy client alive.
    const keepAlive = setInterval(
      () => {
        const now = performance.now();
        if (now - this.lastInbound > readTimeout) return this.closeTransport(TransportErrorCode.NoError, 'read timeout');
        if (this.ws.bufferedAmount === 0) this.lastFlush = now;
        else if (now - this.lastFlush > writeTimeout) return this.closeTransport(TransportErrorCode.NoError, 'write timeout');
        this.ws.ping();
      },
      Math.max(250, Math.min(readTimeout, writeTimeout) / 2),
    );
    handshake.unref();
    keepAlive.unref();
    this.timers.push(handshake, keepAlive);
  }

  get isEstablished(): boolean {
    return this.peer !== undefined;
  }

  acceptStreams(handlers: StreamHandlers): void {
    this.handlers = handlers;
    for (const { kind, stream } of this.inbox.splice(0)) this.deliver(kind, stream);
  }

  createUniStream(priority?: StreamPriority): Promise<QmuxSendStream> {
    if (this.isClosed) return Promise.reject(new QmuxStreamError(null, 'session closed'));
    if (this.localUniOpened < this.localUniMax) return Promise.resolve(this.openUni(priority));
    if (this.pendingOpens.length >= MAX_PENDING_OPENS) return Promise.reject(new QmuxStreamError(null, 'too many streams waiting for the peer'));
    return new Promise((resolve, reject) => this.pendingOpens.push({ priority, resolve, reject }));
  }

  /** Ends the session with APPLICATION_CLOSE. */
  close(code = 0, reason = ''): void {
    if (this.isClosed) return;
    this.sendControl(encodeClose(true, code, reason.slice(0, 1024)));
    this.ws.close(1000, truncateReason(reason));
    this.finish({ code, reason });
  }

  // --- StreamHost ---

  schedule(stream: QmuxSendStream): void {
    this.sending.add(stream);
    this.pump();
  }

  sendControl(frame: Uint8Array): void {
    if (this.isClosed || this.ws.readyState !== this.ws.OPEN) return;
    this.bytesSent += frame.length;
    this.ws.send(frame, { binary: true }, () => this.flushed());
    if (this.ws.bufferedAmount > HARD_CAP) this.closeTransport(TransportErrorCode.NoError, 'peer does not read');
  }

  consumed(side: QmuxReceiveSide, n: number): void {
    this.recvConsumed += n;
    // Credit goes back in steps of half a window, not per read: fewer frames, same throughput.
    if (this.recvMax - this.recvConsumed < this.limits.maxData / 2) {
      this.recvMax = this.recvConsumed + this.limits.maxData;
      this.sendControl(encodeMaxData(this.recvMax));
    }
    if (!side.done && side.maxData - side.consumed < side.window / 2) {
      side.maxData = side.consumed + side.window;
      this.sendControl(encodeMaxStreamData(side.id, side.maxData));
    }
  }

  halfClosed(id: number): void {
    const s = this.streams.get(id);
    if (s === undefined) return;
    const sendDone = s instanceof QmuxSendStream ? s.sendDone : true;
    const recvDone = s instanceof QmuxBidiStream || s instanceof QmuxUniStream ? s.recv.done : true;
    if (!sendDone || !recvDone) return;
    this.streams.delete(id);
    if (s instanceof QmuxSendStream) this.sending.delete(s);
    if ((id & 1) === 1) return; // ours: the peer's limit governs it
    const kind: Kind = (id & 2) === 0 ? 'bidi' : 'uni';
    const p = this.peerStreams[kind];
    p.closed++;
    p.max = p.closed + (kind === 'bidi' ? this.limits.maxStreamsBidi : this.limits.maxStreamsUni);
    this.sendControl(encodeMaxStreams(kind === 'bidi', p.max));
  }

  // --- receiving ---

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.isClosed) return;
    this.lastInbound = performance.now();
    this.bytesReceived += data.length;
    try {
      if (!isBinary) throw new QmuxError(TransportErrorCode.ProtocolViolation, 'text message');
      const limit = usesRecords(this.version) ? MAX_RECORD_SIZE : MAX_FRAME_SIZE_00;
      if (data.length > limit) throw new QmuxError(TransportErrorCode.FrameEncoding, `message of ${data.length} bytes (limit ${limit})`);
      for (const frame of decodeMessage(data, this.version)) {
        this.onFrame(frame);
        if (this.isClosed) return;
      }
    } catch (err) {
      if (err instanceof QmuxError) this.fail(err);
      else this.fail(new QmuxError(TransportErrorCode.Internal, (err as Error).message));
    }
  }

  private onFrame(f: Frame): void {
    if (this.peer === undefined && f.type !== 'transport_parameters') {
      throw new QmuxError(TransportErrorCode.ProtocolViolation, 'the first frame must be QX_TRANSPORT_PARAMETERS');
    }
    switch (f.type) {
      case 'transport_parameters':
        if (this.peer !== undefined) throw new QmuxError(TransportErrorCode.ProtocolViolation, 'a second QX_TRANSPORT_PARAMETERS');
        this.peer = f.params;
        this.sendMax = f.params.initialMaxData;
        this.raiseUniLimit(f.params.initialMaxStreamsUni);
        return;
      case 'stream': {
        const s = this.peerStream(f.id, 'STREAM');
        if (s === undefined) return;
        this.received(s.recv.push(f.offset, f.data, f.fin));
        return;
      }
      case 'reset_stream': {
        const s = this.peerStream(f.id, 'RESET_STREAM');
        if (s !== undefined) this.received(s.recv.reset(f.code, f.finalSize));
        return;
      }
      case 'stop_sending': {
        if ((f.id & 3) === 2) throw new QmuxError(TransportErrorCode.StreamState, 'STOP_SENDING for a receive-only stream');
        const s = (f.id & 1) === 1 ? this.ownStream(f.id) : this.peerStream(f.id, 'STOP_SENDING');
        if (s instanceof QmuxSendStream) s.stopped(f.code);
        return;
      }
      case 'max_data':
        if (f.max > this.sendMax) {
          this.sendMax = f.max;
          this.pump();
        }
        return;
      case 'max_stream_data': {
        if ((f.id & 3) === 2) throw new QmuxError(TransportErrorCode.StreamState, 'MAX_STREAM_DATA for a receive-only stream');
        const s = (f.id & 1) === 1 ? this.ownStream(f.id) : this.peerStream(f.id, 'MAX_STREAM_DATA');
        if (s instanceof QmuxSendStream && f.max > s.maxData) {
          s.maxData = f.max;
          this.pump();
        }
        return;
      }
      case 'max_streams':
        if (f.max > 2 ** 60) throw new QmuxError(TransportErrorCode.FrameEncoding, 'MAX_STREAMS beyond 2^60');
        if (!f.bidi) this.raiseUniLimit(f.max);
        return;
      case 'close':
        this.ws.close(1000);
        this.finish({ code: f.code, reason: f.reason });
        return;
      case 'ping_request':
        if (this.version === 'qmux-02' && this.lastPingRequest !== undefined && f.sequence <= this.lastPingRequest) {
          throw new QmuxError(TransportErrorCode.ProtocolViolation, 'QX_PING sequence did not increase');
        }
        this.lastPingRequest = f.sequence;
        this.sendControl(encodePingResponse(f.sequence));
        return;
      case 'ping_response':
      case 'ping':
      case 'blocked':
      case 'datagram':
        return;
    }
  }

  /** Connection-level receive accounting for bytes new to a stream. */
  private received(n: number): void {
    this.recvTotal += n;
    if (this.recvTotal > this.recvMax) throw new QmuxError(TransportErrorCode.FlowControl, 'data beyond the connection flow-control limit');
  }

  /** One of our unidirectional streams; undefined once retired. Naming one we never opened is an error. */
  private ownStream(id: number): QmuxSendStream | undefined {
    if ((id & 2) === 0) throw new QmuxError(TransportErrorCode.StreamState, `stream ${id}: we open no bidirectional streams`);
    if (Math.floor(id / 4) >= this.localUniOpened) throw new QmuxError(TransportErrorCode.StreamState, `stream ${id} was never opened`);
    const s = this.streams.get(id);
    return s instanceof QmuxSendStream ? s : undefined;
  }

  /**
   * The peer-initiated stream `id`, opened on first sight (with every lower
   * one of its kind, as QUIC has it); undefined when it is already retired.
   */
  private peerStream(id: number, what: string): QmuxBidiStream | QmuxUniStream | undefined {
    if ((id & 1) === 1) {
      if ((id & 2) === 0) throw new QmuxError(TransportErrorCode.StreamState, `${what} on stream ${id}: we open no bidirectional streams`);
      throw new QmuxError(TransportErrorCode.StreamState, `${what} on our send-only stream ${id}`);
    }
    const existing = this.streams.get(id);
    if (existing !== undefined) return existing as QmuxBidiStream | QmuxUniStream;
    const kind: Kind = (id & 2) === 0 ? 'bidi' : 'uni';
    const p = this.peerStreams[kind];
    const index = Math.floor(id / 4);
    if (index >= p.max) throw new QmuxError(TransportErrorCode.StreamLimit, `${kind} stream ${id} beyond the limit of ${p.max}`);
    if (index < p.next) {
      if (!p.holes.delete(index)) return undefined;
    } else {
      for (let i = p.next; i < index; i++) p.holes.add(i);
      p.next = index + 1;
    }
    const peer = this.peer!;
    const stream =
      kind === 'bidi'
        ? new QmuxBidiStream(id, this, peer.initialMaxStreamDataBidiLocal, this.limits.maxStreamData)
        : new QmuxUniStream(id, this, this.limits.maxStreamData);
    this.streams.set(id, stream);
    this.deliver(kind, stream);
    return stream;
  }

  private deliver(kind: Kind, stream: QmuxBidiStream | QmuxUniStream): void {
    const h = this.handlers;
    if (h === undefined) {
      // Bounded by the stream limits we advertised.
      this.inbox.push({ kind, stream });
      return;
    }
    if (stream instanceof QmuxBidiStream) h.bidi(stream);
    else h.uni(stream);
  }

  // --- sending ---

  private raiseUniLimit(max: number): void {
    if (max <= this.localUniMax) return;
    this.localUniMax = max;
    while (this.pendingOpens.length > 0 && this.localUniOpened < this.localUniMax) {
      const p = this.pendingOpens.shift()!;
      p.resolve(this.openUni(p.priority));
    }
  }

  private openUni(priority: StreamPriority | undefined): QmuxSendStream {
    const id = this.localUniOpened++ * 4 + 3;
    const s = new QmuxSendStream(id, this, this.peer?.initialMaxStreamDataUni ?? 0);
    s.setPriority(priority?.urgency ?? 3, priority?.incremental ?? false);
    this.streams.set(id, s);
    return s;
  }

  private flushed(): void {
    this.lastFlush = performance.now();
    this.pump();
  }

  /** Frames stream data, most urgent stream first, while the socket has room. */
  private pump(): void {
    if (this.pumping || this.isClosed) return;
    this.pumping = true;
    try {
      while (this.ws.readyState === this.ws.OPEN && this.ws.bufferedAmount < HIGH_WATER) {
        const credit = this.sendMax - this.sent;
        let best: QmuxSendStream | undefined;
        for (const s of this.sending) {
          if (s.sendDone) {
            this.sending.delete(s);
            continue;
          }
          if (s.sendable(credit) && (best === undefined || s.urgency < best.urgency)) best = s;
        }
        if (best === undefined) break;
        const out = best.nextFrame(credit, MAX_STREAM_PAYLOAD);
        if (out === undefined) break;
        this.sent += out.bytes;
        this.bytesSent += out.frame.length;
        // An incremental stream yields to its peers of the same urgency after each frame.
        if (best.incremental) {
          this.sending.delete(best);
          this.sending.add(best);
        }
        this.ws.send(out.frame, { binary: true }, () => this.flushed());
      }
    } finally {
      this.pumping = false;
    }
  }

  // --- ending ---

  private fail(err: QmuxError): void {
    this.closeTransport(err.code, err.message);
  }

  /** CONNECTION_CLOSE: the transport's own reasons (violations, timeouts). */
  private closeTransport(code: number, reason: string): void {
    if (this.isClosed) return;
    this.sendControl(encodeClose(false, code, reason.slice(0, 1024)));
    this.ws.close(code === TransportErrorCode.NoError ? 1000 : 1002, truncateReason(reason));
    this.finish({ code, reason });
  }

  private finish(info: SessionCloseInfo): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const t of this.timers) clearTimeout(t);
    const gone = new QmuxStreamError(null, `session closed: ${info.reason}`);
    for (const s of [...this.streams.values()]) {
      if (s instanceof QmuxSendStream) s.fail(gone);
      if (s instanceof QmuxBidiStream || s instanceof QmuxUniStream) s.recv.abandon(gone);
    }
    this.streams.clear();
    this.sending.clear();
    for (const p of this.pendingOpens.splice(0)) p.reject(gone);
    this.inbox.length = 0;
    this.resolveClosed(info);
  }
}

/** WebSocket close reasons are at most 123 bytes of UTF-8. */
function truncateReason(reason: string): string {
  let out = reason.slice(0, 123);
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}
