/**
 * A WebTransport session and its streams, as the application sees them. All
 * I/O goes through the owning HTTP/3 connection (`StreamHost`), which drives
 * quiche; nothing here touches sockets.
 */
import {
  datagramHeaderSize,
  encodeCloseSessionCapsule,
  encodeDatagram,
  encodeDrainSessionCapsule,
  encodeFrame,
  FrameType,
  H3ErrorCode,
  webTransportCodeToHttp3,
  type SessionCloseInfo,
} from '../http3/index.js';

/** What a stream or session needs from the connection that carries it. */
export interface StreamHost {
  /** Hands bytes to quiche; returns how many it took (0 when flow control blocks). Throws `WebTransportStreamError` when the peer stopped the stream. */
  streamSend(id: number, data: Uint8Array, fin: boolean): number;
  /** Registers a stream whose queued bytes should be retried when credit arrives. */
  markBlocked(stream: WebTransportSendStream): void;
  /** RESET_STREAM with an HTTP/3 error code; false when the stream was already complete (nothing to reset). */
  streamReset(id: number, h3Code: number): boolean;
  /** STOP_SENDING with an HTTP/3 error code. */
  streamStopSending(id: number, h3Code: number): void;
  streamPriority(id: number, urgency: number, incremental: boolean): void;
  /** The consumer of a receive stream wants more: read it again. */
  resumeRead(id: number): void;
  scheduleFlush(): void;
}

/** A stream ended abnormally: reset or stopped by the peer, or its session closed. */
export class WebTransportStreamError extends Error {
  constructor(
    message: string,
    /** The peer's WebTransport application code, or `null` when it was not one (session gone, connection lost). */
    readonly code: number | null,
  ) {
    super(message);
    this.name = 'WebTransportStreamError';
  }
}

/**
 * A stream error of our own making (a stale media group reset, a stream we
 * stopped reading). These come by the hundred a second with many viewers,
 * and a stack trace would say no more than the message does.
 */
function localStreamError(message: string, code: number): WebTransportStreamError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new WebTransportStreamError(message, code);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export class WebTransportSessionClosedError extends Error {
  constructor(message = 'WebTransport session is closed') {
    super(message);
    this.name = 'WebTransportSessionClosedError';
  }
}

export interface StreamPriority {
  /** RFC 9218 urgency, 0 (most urgent) to 7. Default 3. */
  readonly urgency?: number;
  /** RFC 9218 incremental: share bandwidth with same-urgency streams instead of going one after another. Default false. */
  readonly incremental?: boolean;
}

interface PendingWrite {
  data: Uint8Array;
  fin: boolean;
  resolve: () => void;
  reject: (e: Error) => void;
}

const noop = (): void => {};

/**
 * The sending half of a stream. Writes are accepted immediately into quiche
 * when flow control allows and queued otherwise; `write` resolves once quiche
 * owns all of the bytes, which is the backpressure signal.
 */
export class WebTransportSendStream {
  private readonly queue: PendingWrite[] = [];
  private queued = 0;
  private ended = false;
  private settled = false;
  private failure: Error | undefined;
  private writableStream: WritableStream<Uint8Array> | undefined;
  private resolveFinished!: () => void;
  private rejectFinished!: (e: Error) => void;
  /** Settles when the FIN has been handed to quiche (resolves) or the stream was reset or stopped (rejects). */
  readonly finished: Promise<void>;

  /** @internal */
  constructor(
    readonly id: number,
    protected readonly host: StreamHost,
    header: Uint8Array | undefined,
    priority: StreamPriority | undefined,
  ) {
    this.finished = new Promise<void>((resolve, reject) => {
      this.resolveFinished = resolve;
      this.rejectFinished = reject;
    });
    const settle = (): void => {
      this.settled = true;
    };
    this.finished.then(settle, settle);
    this.setPriority(priority?.urgency ?? 3, priority?.incremental ?? false);
    if (header !== undefined) this.enqueue(header, false, noop, noop);
  }

  /** Bytes written but not yet accepted by quiche. */
  get bufferedAmount(): number {
    return this.queued;
  }

  /** `end()` was called or the stream failed: no more writes. */
  get closed(): boolean {
    return this.ended || this.failure !== undefined;
  }

  /** The FIN went to quiche, or the stream was reset or stopped. */
  get isFinished(): boolean {
    return this.settled;
  }

  setPriority(urgency: number, incremental: boolean): void {
    if (!Number.isInteger(urgency) || urgency < 0 || urgency > 7) throw new RangeError(`urgency must be 0..7: ${urgency}`);
    if (this.failure === undefined) this.host.streamPriority(this.id, urgency, incremental);
  }

  /**
   * Queues `data`. quiche copies what it accepts at once; bytes it cannot take
   * yet stay referenced here, so the caller must not modify `data` until the
   * promise resolves.
   */
  write(data: Uint8Array): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.reject(new WebTransportStreamError('write after end', null));
    if (data.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.enqueue(data, false, resolve, reject));
  }

  /** See `SendStream.send`. What quiche or ngtcp2 takes at once never touches the queue. */
  send(data: Uint8Array): void {
    if (this.failure !== undefined || this.ended || data.length === 0) return;
    if (this.queue.length > 0) {
      this.enqueue(data, false, noop, noop);
      return;
    }
    const sent = this.handOver(data, false);
    if (sent === undefined) return;
    if (sent > 0) this.host.scheduleFlush();
    if (sent === data.length) return;
    this.queue.push({ data: data.subarray(sent), fin: false, resolve: noop, reject: noop });
    this.queued += data.length - sent;
    this.host.markBlocked(this);
  }

  /** Sends FIN after everything written so far. */
  end(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return this.finished;
    this.ended = true;
    return new Promise<void>((resolve, reject) => this.enqueue(new Uint8Array(0), true, resolve, reject));
  }

  /**
   * Resets the stream (RESET_STREAM) with a WebTransport application code:
   * queued and unacknowledged bytes are dropped, e.g. a media group that went
   * stale. Returns false when there was nothing left to drop (all of it had
   * been delivered and acknowledged).
   */
  abort(code = 0): boolean {
    if (this.failure !== undefined) return false;
    const reset = this.host.streamReset(this.id, webTransportCodeToHttp3(code));
    this.fail(localStreamError(`stream aborted locally with code ${code}`, code));
    return reset;
  }

  /** A WHATWG writable view of this stream (one per stream). */
  get writable(): WritableStream<Uint8Array> {
    this.writableStream ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.end(),
      abort: (reason: unknown) => {
        this.abort(typeof reason === 'number' ? reason : 0);
      },
    });
    return this.writableStream;
  }

  private enqueue(data: Uint8Array, fin: boolean, resolve: () => void, reject: (e: Error) => void): void {
    this.queue.push({ data, fin, resolve, reject });
    this.queued += data.length;
    if (this.queue.length === 1) this.pump();
  }

  /** @internal Moves queued bytes into quiche; called again by the connection when credit arrives. */
  pump(): void {
    let progressed = false;
    while (this.queue.length > 0 && this.failure === undefined) {
      const head = this.queue[0]!;
      // An empty write with FIN is always accepted by quiche (it needs no credit).
      const sent = this.handOver(head.data, head.fin);
      if (sent === undefined) return;
      if (sent > 0 || head.fin) progressed = true;
      this.queued -= sent;
      if (sent < head.data.length) {
        head.data = head.data.subarray(sent);
        this.host.markBlocked(this);
        break;
      }
      this.queue.shift();
      head.resolve();
      if (head.fin) this.resolveFinished();
    }
    if (progressed) this.host.scheduleFlush();
  }

  /** Bytes the QUIC stack took of `data`; undefined when it refused the stream, which has failed then. */
  private handOver(data: Uint8Array, fin: boolean): number | undefined {
    try {
      return this.host.streamSend(this.id, data, fin);
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
      return undefined;
    }
  }

  /** @internal The stream can no longer send: reset, stopped by the peer, or its session/connection ended. */
  fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    for (const w of this.queue.splice(0)) w.reject(error);
    this.queued = 0;
    this.rejectFinished(error);
  }
}

/** Buffers incoming bytes for a WHATWG ReadableStream, pausing quiche reads when the consumer falls behind. */
export class ReceiveSide {
  readonly readable: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private done = false;
  /** True while the consumer's queue is full: the connection leaves the bytes in quiche, whose flow control then pushes back on the peer. */
  paused = false;

  constructor(
    private readonly id: number,
    private readonly host: StreamHost,
    highWaterMark: number,
  ) {
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => {
          if (this.paused) {
            this.paused = false;
            this.host.resumeRead(this.id);
          }
        },
        cancel: () => {
          this.stopSending(0);
        },
      },
      { highWaterMark, size: (chunk) => chunk.byteLength },
    );
  }

  /** The peer's FIN or reset arrived, or we stopped reading. */
  get isDone(): boolean {
    return this.done;
  }

  push(chunk: Uint8Array): void {
    if (this.done) return;
    this.controller.enqueue(chunk);
    if ((this.controller.desiredSize ?? 1) <= 0) this.paused = true;
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.controller.close();
  }

  error(e: Error): void {
    if (this.done) return;
    this.done = true;
    this.controller.error(e);
  }

  stopSending(code: number): void {
    if (this.done) return;
    this.host.streamStopSending(this.id, webTransportCodeToHttp3(code));
    this.error(localStreamError(`stream stopped locally with code ${code}`, code));
  }
}

const RECEIVE_HIGH_WATER_MARK = 256 * 1024;

/** A unidirectional stream the peer opened. */
export class WebTransportReceiveStream {
  /** @internal */
  readonly side: ReceiveSide;

  /** @internal */
  constructor(
    readonly id: number,
    host: StreamHost,
  ) {
    this.side = new ReceiveSide(id, host, RECEIVE_HIGH_WATER_MARK);
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.side.readable;
  }

  /** Asks the peer to stop sending (STOP_SENDING with a WebTransport application code). */
  stopSending(code = 0): void {
    this.side.stopSending(code);
  }
}

/** A bidirectional stream: the send half plus a readable. */
export class WebTransportBidiStream extends WebTransportSendStream {
  /** @internal */
  readonly side: ReceiveSide;

  /** @internal */
  constructor(id: number, host: StreamHost, header: Uint8Array | undefined, priority: StreamPriority | undefined) {
    super(id, host, header, priority);
    this.side = new ReceiveSide(id, host, RECEIVE_HIGH_WATER_MARK);
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.side.readable;
  }

  stopSending(code = 0): void {
    this.side.stopSending(code);
  }
}

export interface SessionRequestInfo {
  readonly path: string;
  readonly authority: string;
  readonly origin: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** What a session needs from its connection beyond stream I/O. */
export interface SessionHost extends StreamHost {
  openUniStream(session: WebTransportSession, priority?: StreamPriority): Promise<WebTransportSendStream>;
  openBidiStream(session: WebTransportSession, priority?: StreamPriority): Promise<WebTransportBidiStream>;
  /** Queues a QUIC DATAGRAM; false when it does not fit or the queue is full. */
  sendDatagram(datagram: Uint8Array): boolean;
  maxDatagramSize(): number;
  /** Sends capsules (already framed as DATA) on the CONNECT stream, optionally with FIN. */
  sendOnConnectStream(sessionId: number, bytes: Uint8Array, fin: boolean): void;
  sessionEnded(session: WebTransportSession): void;
}

type Handler<T> = ((value: T) => void) | undefined;

/** Items that arrived before the application installed a handler are held, up to a bound. */
class Inbox<T> {
  private items: T[] = [];
  private handler: Handler<T>;

  constructor(
    private readonly max: number,
    private readonly onOverflow: (item: T) => void,
  ) {}

  get current(): Handler<T> {
    return this.handler;
  }

  set current(h: Handler<T>) {
    this.handler = h;
    if (h === undefined) return;
    for (const item of this.items.splice(0)) h(item);
  }

  deliver(item: T): void {
    if (this.handler !== undefined) this.handler(item);
    else if (this.items.length < this.max) this.items.push(item);
    else this.onOverflow(item);
  }

  clear(): void {
    this.items = [];
  }
}

export class WebTransportSession {
  private readonly uniInbox = new Inbox<WebTransportReceiveStream>(64, (s) => s.stopSending(0));
  private readonly bidiInbox = new Inbox<WebTransportBidiStream>(64, (s) => {
    s.stopSending(0);
    s.abort(0);
  });
  private readonly datagramInbox = new Inbox<Uint8Array>(0, noop);
  /** @internal Streams of this session, so closing it can end them. */
  readonly streams = new Map<number, WebTransportSendStream | WebTransportReceiveStream>();
  private state: 'open' | 'draining' | 'closed' = 'open';
  private resolveClosed!: (info: SessionCloseInfo) => void;
  /** Settles once the session is over, with the code and reason whichever side closed it gave. */
  readonly closed: Promise<SessionCloseInfo>;
  /** Called when the peer asks to wind the session down (DRAIN_WEBTRANSPORT_SESSION). */
  onDrain: (() => void) | undefined;

  /** @internal */
  constructor(
    /** Stream id of the CONNECT request; also the session id on the wire. */
    readonly id: number,
    readonly request: SessionRequestInfo,
    private readonly host: SessionHost,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  get path(): string {
    return this.request.path;
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  get onUniStream(): Handler<WebTransportReceiveStream> {
    return this.uniInbox.current;
  }
  set onUniStream(h: Handler<WebTransportReceiveStream>) {
    this.uniInbox.current = h;
  }

  get onBidiStream(): Handler<WebTransportBidiStream> {
    return this.bidiInbox.current;
  }
  set onBidiStream(h: Handler<WebTransportBidiStream>) {
    this.bidiInbox.current = h;
  }

  /** Datagrams that arrive while no handler is set are dropped, as datagrams may be. */
  get onDatagram(): Handler<Uint8Array> {
    return this.datagramInbox.current;
  }
  set onDatagram(h: Handler<Uint8Array>) {
    this.datagramInbox.current = h;
  }

  /** Opens a unidirectional stream, waiting for stream credit from the peer if needed. */
  createUniStream(priority?: StreamPriority): Promise<WebTransportSendStream> {
    if (this.state === 'closed') return Promise.reject(new WebTransportSessionClosedError());
    return this.host.openUniStream(this, priority);
  }

  createBidiStream(priority?: StreamPriority): Promise<WebTransportBidiStream> {
    if (this.state === 'closed') return Promise.reject(new WebTransportSessionClosedError());
    return this.host.openBidiStream(this, priority);
  }

  /** Largest payload `sendDatagram` can carry right now (0 when datagrams are unavailable). */
  get maxDatagramSize(): number {
    return Math.max(0, this.host.maxDatagramSize() - datagramHeaderSize(this.id));
  }

  /** Sends an unreliable datagram; false if it was too large or the send queue is full. */
  sendDatagram(payload: Uint8Array): boolean {
    if (this.state === 'closed') return false;
    return this.host.sendDatagram(encodeDatagram(this.id, payload));
  }

  /**
   * Ends the session: sends CLOSE_WEBTRANSPORT_SESSION with `code` (u32) and
   * `reason` (at most 1024 UTF-8 bytes), then FIN on the CONNECT stream.
   * Streams that already sent their FIN still deliver; open ones are reset.
   */
  close(code = 0, reason = ''): void {
    if (this.state === 'closed') return;
    this.host.sendOnConnectStream(this.id, closeCapsuleFrame(code, reason), true);
    this.finish({ code, reason }, 'session closed locally');
  }

  /** Asks the peer to wind the session down (DRAIN_WEBTRANSPORT_SESSION) without closing it. */
  drain(): void {
    if (this.state !== 'open') return;
    this.state = 'draining';
    this.host.sendOnConnectStream(this.id, drainCapsuleFrame(), false);
  }

  /** @internal */
  addStream(stream: WebTransportSendStream | WebTransportReceiveStream): void {
    this.streams.set(stream.id, stream);
  }

  /** @internal */
  deliverUni(stream: WebTransportReceiveStream): void {
    this.addStream(stream);
    this.uniInbox.deliver(stream);
  }

  /** @internal */
  deliverBidi(stream: WebTransportBidiStream): void {
    this.addStream(stream);
    this.bidiInbox.deliver(stream);
  }

  /** @internal */
  deliverDatagram(payload: Uint8Array): void {
    if (this.state !== 'closed') this.datagramInbox.deliver(payload);
  }

  /** @internal */
  peerDrain(): void {
    if (this.state === 'open') this.state = 'draining';
    this.onDrain?.();
  }

  /**
   * @internal Marks the session over and ends its streams. Streams whose
   * FIN already went out are left to deliver; the rest are reset with
   * WT_SESSION_GONE by the connection.
   */
  finish(info: SessionCloseInfo, why: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const error = new WebTransportStreamError(why, null);
    for (const s of this.streams.values()) {
      if (s instanceof WebTransportSendStream) {
        if (s instanceof WebTransportBidiStream) s.side.error(error);
        if (!s.closed) {
          this.host.streamReset(s.id, H3ErrorCode.WT_SESSION_GONE);
          s.fail(error);
        }
      } else {
        // The peer must stop sending on streams of a dead session too.
        this.host.streamStopSending(s.id, H3ErrorCode.WT_SESSION_GONE);
        s.side.error(error);
      }
    }
    this.streams.clear();
    this.uniInbox.clear();
    this.bidiInbox.clear();
    this.host.sessionEnded(this);
    this.resolveClosed(info);
  }
}

// Capsules ride in DATA frames on the CONNECT stream.
function closeCapsuleFrame(code: number, reason: string): Uint8Array {
  return encodeFrame(FrameType.DATA, encodeCloseSessionCapsule(code, reason));
}

function drainCapsuleFrame(): Uint8Array {
  return encodeFrame(FrameType.DATA, encodeDrainSessionCapsule());
}
