import { RTWebSocketConnection, type ConnectionOptions, type RTWebSocketTransport } from '../../src/protocols/rtwebsocket/connection.js';
import { decodeMessage, type Message } from '../../src/protocols/rtwebsocket/messages.js';
import type { Timing } from '../../src/protocols/rtwebsocket/timing.js';

/** Lets every queued microtask (and the microtasks they queue) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/** A clock that only moves when told to, firing due timers in order. */
export class ManualTiming implements Timing {
  #now = 0;
  #nextId = 1;
  #timers: Timer[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), callback };
    this.#timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, settling microtasks after every timer. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((x, y) => x.at - y.at || x.id - y.id)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.callback();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** A transport that records what the connection sends, for tests playing the peer by hand. */
export class RecordingTransport implements RTWebSocketTransport {
  sent: Uint8Array[] = [];
  buffered = 0;
  closedWith: { code: number; reason: string } | undefined;

  send(bytes: Uint8Array): void {
    this.sent.push(bytes);
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
  }

  /** Everything sent since the last call, decoded. */
  take(): Message[] {
    const out = this.sent.map(decodeMessage);
    this.sent = [];
    return out;
  }

  takeRaw(): Uint8Array[] {
    const out = this.sent;
    this.sent = [];
    return out;
  }
}

export function rawPeer(options: ConnectionOptions = {}): { conn: RTWebSocketConnection; wire: RecordingTransport; timing: ManualTiming } {
  const timing = new ManualTiming();
  const wire = new RecordingTransport();
  const conn = new RTWebSocketConnection(wire, { timing, ...options });
  return { conn, wire, timing };
}

export interface WireEntry {
  readonly from: 'a' | 'b';
  readonly message: Message;
  readonly length: number;
}

/**
 * Two connections joined in memory. With `delayMs` each message takes that
 * long (on the shared manual clock) to arrive; otherwise it arrives in a
 * microtask. Every message is logged decoded.
 */
export function connectedPair(options: { delayMs?: number; a?: ConnectionOptions; b?: ConnectionOptions } = {}) {
  const timing = new ManualTiming();
  const log: WireEntry[] = [];
  const delay = options.delayMs ?? 0;
  let a!: RTWebSocketConnection;
  let b!: RTWebSocketConnection;
  const side = (from: 'a' | 'b'): RTWebSocketTransport => ({
    send: (bytes) => {
      log.push({ from, message: decodeMessage(bytes), length: bytes.length });
      const deliver = () => (from === 'a' ? b : a).onMessage(bytes);
      if (delay > 0) timing.setTimeout(deliver, delay);
      else queueMicrotask(deliver);
    },
    bufferedAmount: () => 0,
    close: () => {
      queueMicrotask(() => {
        a.transportClosed();
        b.transportClosed();
      });
    },
  });
  a = new RTWebSocketConnection(side('a'), { timing, ...options.a });
  b = new RTWebSocketConnection(side('b'), { timing, ...options.b });
  return { a, b, timing, log };
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
export const fromHex = (s: string): Uint8Array => new Uint8Array(s.split(/\s+/).filter(Boolean).map((h) => parseInt(h, 16)));
