/**
 * The load-client process of one fan-out phase (started with `fork` by the
 * bench): opens N lean readers against one server, keeps them reading, and
 * hands back each reader's keyframe arrivals. Being a process of its own,
 * its CPU is measured apart from the server's and the bench's.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { wallClock } from './flv-sink.js';
import { ARRIVAL_STRIDE, LeanReader, type ReaderTarget } from './lean-reader.js';
import { MoqReader, type MoqReaderTarget } from './moq-reader.js';
import { WtReader, type WtReaderTarget } from './wt-reader.js';

/** What a load client opens: WebSocket readers (ws-nal, WS-FLV), or lean WebTransport sessions (wt-fmp4, moq-lite). */
export type LoadTarget = ReaderTarget | (WtReaderTarget & { format: 'wt-fmp4' }) | (MoqReaderTarget & { format: 'wt-raw' });

/** The part of a reader this process needs, whatever its protocol. */
interface LoadReader {
  readonly state: LeanReader['state'];
  readonly error: string | undefined;
  readonly arrivals: number[];
  /** Bytes received from the server (TCP payload, or UDP payload for QUIC). */
  readonly bytesIn: number;
  /** UDP datagrams received (QUIC only). */
  readonly packetsIn?: number;
  abort(reason: string): void;
  close(): void;
}

export interface StartMessage {
  type: 'start';
  target: LoadTarget;
  readers: number;
  /** Handshakes in flight at once: a thousand simultaneous upgrades measure the accept queue, not streaming. */
  concurrency: number;
  connectTimeoutMs: number;
  /** The process exits by itself after this, whatever the bench does. */
  lifetimeMs: number;
}

export interface CollectMessage {
  type: 'collect';
  /** Only arrivals at or after this wall-clock time are sent back. */
  from: number;
}

export interface ProgressMessage {
  type: 'progress';
  /** Timestamp (ms) of the window's last keyframe. */
  ms: number;
}

/** Starts the measurement window: the event-loop delay histogram restarts here. */
export interface MarkMessage {
  type: 'mark';
}

/** Ends the measurement window: bytes received are counted from the mark to here. */
export interface WindowEndMessage {
  type: 'window-end';
}

export type ParentMessage = StartMessage | CollectMessage | ProgressMessage | MarkMessage | WindowEndMessage | { type: 'stop' };

export interface ReaderResult {
  state: LeanReader['state'];
  error?: string;
  messages: number;
  discontinuities: number;
  /** Bytes received from the mark to the window's end (or to now, without a window-end). */
  bytesIn: number;
  /** Datagrams received over the same span (QUIC only). */
  packetsIn?: number;
  /** Triples as in LeanReader.arrivals. */
  arrivals: number[];
}

export type ChildMessage =
  | { type: 'hello'; pid: number; clockOffsetMs: number }
  | { type: 'connected'; open: number; failed: number; ms: number; errors: Record<string, number> }
  | { type: 'progress'; open: number; arrived: number }
  | {
      type: 'result';
      readers: ReaderResult[];
      errors: Record<string, number>;
      /** This process's event-loop delay since the mark, ms: a stall here would delay every reader's stamps at once. */
      loopDelay: { p99: number; max: number };
    };

const readers: LoadReader[] = [];
/** Each reader's bytesIn and packetsIn at the mark and at the window's end. */
let bytesAtMark: number[] = [];
let bytesAtEnd: number[] | undefined;
let packetsAtMark: number[] = [];
let packetsAtEnd: number[] | undefined;

function openReader(target: LoadTarget, connectTimeoutMs: number, events: { open(): void; end(): void }): LoadReader {
  if (target.format === 'wt-fmp4') return new WtReader(target, events, connectTimeoutMs);
  if (target.format === 'wt-raw') return new MoqReader(target, events, connectTimeoutMs);
  return new LeanReader(target, events);
}
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function send(message: ChildMessage): void {
  process.send?.(message);
}

function errorCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of readers) if (r.error !== undefined) counts[r.error] = (counts[r.error] ?? 0) + 1;
  return counts;
}

function start(m: StartMessage): void {
  setTimeout(() => process.exit(3), m.lifetimeMs).unref();
  const began = performance.now();
  let launched = 0;
  let settled = 0;
  let reported = false;
  const report = (): void => {
    if (reported) return;
    reported = true;
    clearTimeout(timer);
    for (const r of readers) if (r.state === 'connecting') r.abort('no upgrade within the connect timeout');
    const open = readers.filter((r) => r.state === 'open').length;
    send({ type: 'connected', open, failed: m.readers - open, ms: performance.now() - began, errors: errorCounts() });
  };
  const timer = setTimeout(report, m.connectTimeoutMs);
  const settle = (): void => {
    settled++;
    if (settled === m.readers) report();
    else launch();
  };
  const launch = (): void => {
    while (!reported && launched < m.readers && launched - settled < m.concurrency) {
      launched++;
      let counted = false;
      const once = (): void => {
        if (counted) return;
        counted = true;
        settle();
      };
      readers.push(openReader(m.target, m.connectTimeoutMs, { open: once, end: once }));
    }
  };
  launch();
}

function collect(m: CollectMessage): void {
  const results: ReaderResult[] = readers.map((r, index) => {
    const arrivals: number[] = [];
    for (let i = 0; i < r.arrivals.length; i += ARRIVAL_STRIDE) {
      if (r.arrivals[i + 1]! >= m.from) arrivals.push(...r.arrivals.slice(i, i + ARRIVAL_STRIDE));
    }
    return {
      state: r.state,
      error: r.error,
      messages: r instanceof LeanReader ? r.messages : 0,
      discontinuities: r instanceof LeanReader ? r.discontinuities : 0,
      bytesIn: (bytesAtEnd?.[index] ?? r.bytesIn) - (bytesAtMark[index] ?? 0),
      packetsIn: r.packetsIn === undefined ? undefined : (packetsAtEnd?.[index] ?? r.packetsIn) - (packetsAtMark[index] ?? 0),
      arrivals,
    };
  });
  send({ type: 'result', readers: results, errors: errorCounts(), loopDelay: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 } });
}

/** How many open readers already have the keyframe with timestamp `ms`, so the bench waits for late arrivals only as long as needed. */
function progress(m: ProgressMessage): void {
  let open = 0;
  let arrived = 0;
  for (const r of readers) {
    if (r.state !== 'open') continue;
    open++;
    for (let i = r.arrivals.length - ARRIVAL_STRIDE; i >= 0; i -= ARRIVAL_STRIDE) {
      if (r.arrivals[i]! < m.ms) break;
      if (r.arrivals[i] === m.ms) {
        arrived++;
        break;
      }
    }
  }
  send({ type: 'progress', open, arrived });
}

process.on('message', (m: ParentMessage) => {
  if (m.type === 'start') start(m);
  else if (m.type === 'collect') collect(m);
  else if (m.type === 'progress') progress(m);
  else if (m.type === 'mark') {
    loopDelay.reset();
    bytesAtMark = readers.map((r) => r.bytesIn);
    packetsAtMark = readers.map((r) => r.packetsIn ?? 0);
    bytesAtEnd = undefined;
    packetsAtEnd = undefined;
  } else if (m.type === 'window-end') {
    bytesAtEnd = readers.map((r) => r.bytesIn);
    packetsAtEnd = readers.map((r) => r.packetsIn ?? 0);
  }
  else {
    for (const r of readers) r.close();
    process.exit(0);
  }
});
// An orphaned load client would keep a server busy after the bench is gone.
process.on('disconnect', () => process.exit(0));
send({ type: 'hello', pid: process.pid, clockOffsetMs: wallClock() - Date.now() });
