/**
 * A WebSocket as a carrier of whole messages, over `WebSocketStream` where
 * the browser has it and the classic `WebSocket` otherwise.
 *
 * WebSocketStream is preferred because reading is pulled: a reader that stops
 * pulling stops the browser reading the TCP socket, so a player that cannot
 * keep up slows the server down instead of piling messages up in memory. It
 * fits RTWebSocket's transport interface too: its messages are whole
 * WebSocket messages, and what `bufferedAmount` means (bytes handed over but
 * not yet on the wire) is what writes still pending on the stream hold.
 */
import { webSocketStreamApi, type WebSocketStreamLike } from '../browser-apis.js';

export interface MessageSocketHandlers {
  open(): void;
  message(data: ArrayBuffer | string): void;
  /** Called once, however the socket ended (including a failed handshake: 1006). */
  close(code: number, reason: string): void;
}

export interface MessageSocket {
  readonly api: 'WebSocketStream' | 'WebSocket';
  readonly bufferedAmount: number;
  send(data: Uint8Array | string): void;
  /** Stop or resume taking messages off the network; only WebSocketStream can (classic sockets always deliver). */
  setReading(reading: boolean): void;
  close(code: number, reason: string): void;
}

/** Browsers accept only 1000 and 3000–4999 from scripts; the reason must fit in 123 bytes. */
function closeArgs(code: number, reason: string): [number, string] {
  return [code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason.slice(0, 120)];
}

function byteLength(data: Uint8Array | string): number {
  return typeof data === 'string' ? data.length : data.byteLength;
}

class StreamSocket implements MessageSocket {
  readonly api = 'WebSocketStream';
  private readonly stream: WebSocketStreamLike;
  private writer: WritableStreamDefaultWriter<ArrayBufferView | string> | null = null;
  private pending = 0;
  private reading = true;
  private resumeReading: (() => void) | null = null;
  private ended = false;

  constructor(
    url: string,
    ctor: new (url: string) => WebSocketStreamLike,
    private readonly handlers: MessageSocketHandlers,
  ) {
    this.stream = new ctor(url);
    this.stream.opened.then(
      ({ readable, writable }) => {
        if (this.ended) return;
        this.writer = writable.getWriter();
        handlers.open();
        void this.readLoop(readable.getReader());
      },
      (err: unknown) => this.end(1006, `connection failed: ${(err as Error)?.message ?? err}`),
    );
    this.stream.closed.then(
      ({ closeCode, reason }) => this.end(closeCode ?? 1005, reason ?? ''),
      (err: unknown) => this.end(1006, `connection lost: ${(err as Error)?.message ?? err}`),
    );
  }

  get bufferedAmount(): number {
    return this.pending;
  }

  send(data: Uint8Array | string): void {
    if (!this.writer || this.ended) return;
    const size = byteLength(data);
    this.pending += size;
    this.writer.write(data).then(
      () => (this.pending -= size),
      () => (this.pending -= size),
    );
  }

  setReading(reading: boolean): void {
    this.reading = reading;
    if (reading && this.resumeReading) {
      this.resumeReading();
      this.resumeReading = null;
    }
  }

  close(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    const [closeCode, text] = closeArgs(code, reason);
    try {
      this.stream.close({ closeCode, reason: text });
    } catch {
      // Already closing.
    }
  }

  private async readLoop(reader: ReadableStreamDefaultReader<ArrayBuffer | string>): Promise<void> {
    try {
      for (;;) {
        if (!this.reading) await new Promise<void>((resolve) => (this.resumeReading = resolve));
        const { value, done } = await reader.read();
        if (done || this.ended) return;
        try {
          this.handlers.message(value);
        } catch (err) {
          // As with a classic socket's onmessage: the error surfaces, the socket keeps going.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    } catch {
      // `closed` reports why.
    }
  }

  private end(code: number, reason: string): void {
    const report = !this.ended;
    this.ended = true;
    this.writer = null;
    this.resumeReading?.();
    if (report) this.handlers.close(code, reason);
  }
}

class ClassicSocket implements MessageSocket {
  readonly api = 'WebSocket';
  private readonly socket: WebSocket;
  private ended = false;

  constructor(url: string, handlers: MessageSocketHandlers) {
    this.socket = new WebSocket(url);
    this.socket.binaryType = 'arraybuffer';
    this.socket.onopen = () => handlers.open();
    this.socket.onmessage = (event: MessageEvent<ArrayBuffer | string>) => handlers.message(event.data);
    this.socket.onclose = (event) => {
      if (this.ended) return;
      this.ended = true;
      handlers.close(event.code, event.reason);
    };
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  send(data: Uint8Array | string): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(data);
  }

  setReading(): void {
    // A classic WebSocket delivers every message as it arrives; there is no way to push back.
  }

  close(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.onopen = this.socket.onmessage = this.socket.onclose = null;
    if (this.socket.readyState === WebSocket.CONNECTING || this.socket.readyState === WebSocket.OPEN) {
      this.socket.close(...closeArgs(code, reason));
    }
  }
}

/** Handlers are never called after `close()`: the caller asked for it and knows. */
export function openMessageSocket(url: string, handlers: MessageSocketHandlers, options: { preferStream?: boolean } = {}): MessageSocket {
  const stream = options.preferStream === false ? null : webSocketStreamApi();
  return stream ? new StreamSocket(url, stream, handlers) : new ClassicSocket(url, handlers);
}
