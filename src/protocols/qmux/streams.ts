/**
 * The two halves of a QMux stream. Sending halves queue bytes until the
 * session's scheduler frames them within the peer's flow-control credit;
 * receiving halves hold what arrived until the application reads it, and
 * only reading returns credit to the peer, so a client can never make us
 * hold more than the windows we advertised.
 */
import type { BidiStream, ReceiveStream, SendStream } from '../stream-session.js';
import { QmuxError, QmuxStreamError, TransportErrorCode } from './errors.js';
import { encodeResetStream, encodeStopSending, encodeStream } from './frames.js';

/** What a stream needs from its session. */
export interface StreamHost {
  /** The stream has something to send (data, or its FIN). */
  schedule(stream: QmuxSendStream): void;
  /** Sends a small control frame at once, ahead of stream data. */
  sendControl(frame: Uint8Array): void;
  /** `n` bytes left a receive buffer (read, or discarded): connection credit for the peer. */
  consumed(side: QmuxReceiveSide, n: number): void;
  /** One half reached a terminal state; the session retires the stream once both have. */
  halfClosed(id: number): void;
}

interface Chunk {
  data: Uint8Array;
  resolve(): void;
  reject(e: Error): void;
}

function noop(): void {}

export class QmuxSendStream implements SendStream {
  urgency = 3;
  incremental = false;
  /** Peer's MAX_STREAM_DATA: bytes we may have sent in all. */
  maxData: number;
  /** Bytes framed so far (the next frame's offset). */
  offset = 0;
  private chunks: Chunk[] = [];
  private queued = 0;
  private finPending = false;
  private finSent = false;
  private failure: Error | undefined;
  private readonly endWaiters: Chunk[] = [];

  constructor(
    readonly id: number,
    protected readonly host: StreamHost,
    maxData: number,
  ) {
    this.maxData = maxData;
  }

  get bufferedAmount(): number {
    return this.queued;
  }

  /** FIN sent or reset: nothing more will go out. */
  get sendDone(): boolean {
    return this.finSent || this.failure !== undefined;
  }

  setPriority(urgency: number, incremental: boolean): void {
    this.urgency = urgency;
    this.incremental = incremental;
  }

  write(data: Uint8Array): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.finPending) return Promise.reject(new QmuxStreamError(null, 'write after end'));
    if (data.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.chunks.push({ data, resolve, reject });
      this.queued += data.length;
      this.host.schedule(this);
    });
  }

  send(data: Uint8Array): void {
    if (this.failure !== undefined || this.finPending || data.length === 0) return;
    this.chunks.push({ data, resolve: noop, reject: noop });
    this.queued += data.length;
    this.host.schedule(this);
  }

  end(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.finSent) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.endWaiters.push({ data: new Uint8Array(0), resolve, reject });
      this.finPending = true;
      this.host.schedule(this);
    });
  }

  abort(code = 0): boolean {
    if (this.sendDone) return false;
    this.host.sendControl(encodeResetStream(this.id, code, this.offset));
    this.fail(new QmuxStreamError(code, `stream ${this.id} reset`));
    return true;
  }

  /** The peer sent STOP_SENDING: answer with RESET_STREAM carrying its code (RFC 9000 §3.5). */
  stopped(code: number): void {
    if (this.sendDone) return;
    this.host.sendControl(encodeResetStream(this.id, code, this.offset));
    this.fail(new QmuxStreamError(code, `stream ${this.id} stopped by the peer`));
  }

  /** Whether a frame could go out with `connCredit` bytes of connection credit left. */
  sendable(connCredit: number): boolean {
    if (this.sendDone) return false;
    if (this.queued > 0) return connCredit > 0 && this.maxData > this.offset;
    return this.finPending;
  }

  /** Frames the next piece: at most `max` bytes within both credits. */
  nextFrame(connCredit: number, max: number): { frame: Uint8Array; bytes: number } | undefined {
    if (!this.sendable(connCredit)) return undefined;
    const n = Math.min(this.queued, this.maxData - this.offset, connCredit, max);
    const data = this.take(n);
    const fin = this.finPending && this.queued === 0;
    const frame = encodeStream(this.id, this.offset, data, fin);
    this.offset += n;
    if (fin) {
      this.finSent = true;
      for (const w of this.endWaiters.splice(0)) w.resolve();
      this.host.halfClosed(this.id);
    }
    return { frame, bytes: n };
  }

  private take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0]!;
    let out: Uint8Array;
    if (first.data.length >= n) {
      out = first.data.subarray(0, n);
    } else {
      out = new Uint8Array(n);
      let off = 0;
      for (const c of this.chunks) {
        const k = Math.min(c.data.length, n - off);
        out.set(c.data.subarray(0, k), off);
        off += k;
        if (off === n) break;
      }
    }
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.data.length <= left) {
        left -= c.data.length;
        this.chunks.shift();
        c.resolve();
      } else {
        c.data = c.data.subarray(left);
        left = 0;
      }
    }
    this.queued -= n;
    return out;
  }

  fail(e: Error): void {
    if (this.failure !== undefined || this.finSent) return;
    this.failure = e;
    for (const c of this.chunks.splice(0)) c.reject(e);
    for (const w of this.endWaiters.splice(0)) w.reject(e);
    this.queued = 0;
    this.host.halfClosed(this.id);
  }
}

export class QmuxReceiveSide {
  readonly readable: ReadableStream<Uint8Array>;
  /** Next expected offset: everything below arrived. */
  received = 0;
  /** Our MAX_STREAM_DATA for it: the peer may not send past this. */
  maxData: number;
  /** Bytes handed to the application (or discarded). */
  consumed = 0;
  private chunks: Uint8Array[] = [];
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private wanted = false;
  private finalSize: number | undefined;
  /** Terminal: FIN delivered, reset, stopped, or the session ended. */
  done = false;
  /** The application no longer reads: data is counted and dropped. */
  private discarding = false;

  constructor(
    readonly id: number,
    private readonly host: StreamHost,
    readonly window: number,
  ) {
    this.maxData = window;
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => {
          this.wanted = true;
          this.flush();
        },
        cancel: () => this.stopSending(0),
      },
      // Nothing is queued inside the stream itself: a chunk moves only when a read asks, so reading is what frees credit.
      { highWaterMark: 0 },
    );
  }

  /** A STREAM frame's payload; returns the bytes new to the connection's flow control. */
  push(offset: number, data: Uint8Array, fin: boolean): number {
    if (offset !== this.received) throw new QmuxError(TransportErrorCode.ProtocolViolation, `stream ${this.id}: data at offset ${offset}, expected ${this.received}`);
    const end = offset + data.length;
    if (end > this.maxData) throw new QmuxError(TransportErrorCode.FlowControl, `stream ${this.id}: data beyond the stream's flow-control limit`);
    if (this.finalSize !== undefined && (end > this.finalSize || (fin && end !== this.finalSize))) {
      throw new QmuxError(TransportErrorCode.FinalSize, `stream ${this.id}: data past its final size`);
    }
    this.received = end;
    if (fin) this.finalSize = end;
    if (this.discarding || this.done) {
      this.release(data.length);
      return data.length;
    }
    if (data.length > 0) this.chunks.push(data);
    this.flush();
    return data.length;
  }

  /** RESET_STREAM from the peer; returns the bytes new to the connection's flow control. */
  reset(code: number, finalSize: number): number {
    if (finalSize < this.received || (this.finalSize !== undefined && finalSize !== this.finalSize)) {
      throw new QmuxError(TransportErrorCode.FinalSize, `stream ${this.id}: reset with a wrong final size`);
    }
    if (finalSize > this.maxData) throw new QmuxError(TransportErrorCode.FlowControl, `stream ${this.id}: final size beyond its limit`);
    const extra = finalSize - this.received;
    this.received = finalSize;
    this.finalSize = finalSize;
    // Bytes never sent and bytes never read both count as consumed: the peer must not lose credit to a reset.
    this.release(extra);
    this.terminate(new QmuxStreamError(code, `stream ${this.id} reset by the peer (${code})`));
    return extra;
  }

  stopSending(code = 0): void {
    if (this.done) return;
    this.discarding = true;
    if (this.finalSize === undefined) this.host.sendControl(encodeStopSending(this.id, code));
    this.terminate(new QmuxStreamError(code, `stream ${this.id} stopped`));
  }

  /** The session ended. */
  abandon(e: Error): void {
    this.terminate(e);
  }

  private terminate(e: Error): void {
    if (this.done) return;
    this.done = true;
    let dropped = 0;
    for (const c of this.chunks.splice(0)) dropped += c.length;
    this.release(dropped);
    try {
      this.controller.error(e);
    } catch {
      // Already closed.
    }
    this.host.halfClosed(this.id);
  }

  private flush(): void {
    if (this.done || !this.wanted) return;
    const chunk = this.chunks.shift();
    if (chunk !== undefined) {
      this.wanted = false;
      this.controller.enqueue(chunk);
      this.release(chunk.length);
      return;
    }
    if (this.finalSize !== undefined && this.received === this.finalSize) {
      this.done = true;
      this.controller.close();
      this.host.halfClosed(this.id);
    }
  }

  private release(n: number): void {
    if (n <= 0) return;
    this.consumed += n;
    this.host.consumed(this, n);
  }
}

/** A peer-opened bidirectional stream: our sending half plus a receiving half. */
export class QmuxBidiStream extends QmuxSendStream implements BidiStream {
  readonly recv: QmuxReceiveSide;

  constructor(id: number, host: StreamHost, sendMax: number, recvWindow: number) {
    super(id, host, sendMax);
    this.recv = new QmuxReceiveSide(id, host, recvWindow);
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.recv.readable;
  }

  stopSending(code = 0): void {
    this.recv.stopSending(code);
  }
}

/** A peer-opened unidirectional stream. */
export class QmuxUniStream implements ReceiveStream {
  readonly recv: QmuxReceiveSide;

  constructor(id: number, host: StreamHost, window: number) {
    this.recv = new QmuxReceiveSide(id, host, window);
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.recv.readable;
  }

  stopSending(code = 0): void {
    this.recv.stopSending(code);
  }
}
