/**
 * The load-client process of one fan-out phase (started with `fork` by the
 * bench): opens N lean readers against one server, keeps them reading, and
 * hands back each reader's keyframe arrivals. Being a process of its own,
 * its CPU is measured apart from the server's and the bench's.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { wallClock } from './flv-sink.js';
import { ARRIVAL_STRIDE, LeanReader, type ReaderTarget } from './lean-reader.js';

export interface StartMessage {
  type: 'start';
  target: ReaderTarget;
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

export type ParentMessage = StartMessage | CollectMessage | ProgressMessage | MarkMessage | { type: 'stop' };

export interface ReaderResult {
  state: LeanReader['state'];
  error?: string;
  messages: number;
  discontinuities: number;
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

const readers: LeanReader[] = [];
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
      readers.push(new LeanReader(m.target, { open: once, end: once }));
    }
  };
  launch();
}

function collect(m: CollectMessage): void {
  const results: ReaderResult[] = readers.map((r) => {
    const arrivals: number[] = [];
    for (let i = 0; i < r.arrivals.length; i += ARRIVAL_STRIDE) {
      if (r.arrivals[i + 1]! >= m.from) arrivals.push(...r.arrivals.slice(i, i + ARRIVAL_STRIDE));
    }
    return {
      state: r.state,
      error: r.error,
      messages: r.messages,
      discontinuities: r.discontinuities,
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
  else if (m.type === 'mark') loopDelay.reset();
  else {
    for (const r of readers) r.close();
    process.exit(0);
  }
});
// An orphaned load client would keep a server busy after the bench is gone.
process.on('disconnect', () => process.exit(0));
send({ type: 'hello', pid: process.pid, clockOffsetMs: wallClock() - Date.now() });
