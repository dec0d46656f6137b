/**
 * What an application protocol needs from a session of multiplexed streams,
 * whatever carries it: WebTransport over HTTP/3 (QUIC) or QMux over a
 * WebSocket. moq-lite is written against these shapes only, so both
 * bindings share one implementation.
 */
import type { SessionRequestInfo, StreamPriority } from './webtransport/session.js';

export type { SessionRequestInfo, StreamPriority };

/** The sending half of a stream. */
export interface SendStream {
  /** Bytes written but not yet handed to the transport (flow control or congestion holds them). */
  readonly bufferedAmount: number;
  /** Resolves once the transport holds the bytes: the backpressure signal. */
  write(data: Uint8Array): Promise<void>;
  /**
   * `write` without the promise, for a caller that watches `bufferedAmount`
   * itself and learns of failure from `end`: a media frame fanned out to
   * every session costs no promise, closure or microtask per session. Ignored
   * once the stream failed or ended.
   */
  send(data: Uint8Array): void;
  /** FIN after what was written. */
  end(): Promise<void>;
  /** Resets the stream; true when something was still undelivered (queued, or no FIN sent yet). */
  abort(code?: number): boolean;
  /** RFC 9218 urgency 0–7 (lower first). */
  setPriority(urgency: number, incremental: boolean): void;
}

/** The receiving half of a stream. */
export interface ReceiveStream {
  readonly readable: ReadableStream<Uint8Array>;
  /** Asks the peer to stop sending (STOP_SENDING). */
  stopSending(code?: number): void;
}

export interface BidiStream extends SendStream, ReceiveStream {}

export interface SessionCloseInfo {
  readonly code: number;
  readonly reason: string;
}

/** Where peer-opened streams go. */
export interface StreamHandlers {
  bidi(stream: BidiStream): void;
  uni(stream: ReceiveStream): void;
}

export interface StreamSession {
  /** The request that opened the session (CONNECT or WebSocket upgrade). */
  readonly request: SessionRequestInfo;
  /** Installs the handlers; streams that arrived before were held (within a bound) and are delivered now. */
  acceptStreams(handlers: StreamHandlers): void;
  /** Settles once, when either side ended the session. */
  readonly closed: Promise<SessionCloseInfo>;
  createUniStream(priority?: StreamPriority): Promise<SendStream>;
  close(code?: number, reason?: string): void;
}
