/**
 * What a fuzz target is, what it is given, and how findings are recorded.
 */
import { caseRng, type Rng } from './harness.js';
import type { Ports } from './server-process.js';

export type FindingKind =
  /** The server process exited. */
  | 'crash'
  /** A parser or the server did not answer within a generous bound. */
  | 'hang'
  /** An in-process parser threw something other than its typed error. */
  | 'untyped-exception'
  /** An HTTP status ≥ 500 for a client's bytes. */
  | '5xx'
  /** The server closed a client with "internal error" (WebSocket 1011, HTTP/3 internal error). */
  | 'internal-error'
  /** The watching reader was closed, or the publisher was disconnected. */
  | 'collateral'
  /** Reader frame rate under 25 fps or RSS that did not come back. */
  | 'degradation'
  /** Anything else the target checks (e.g. a config error without a position). */
  | 'contract';

export interface Finding {
  target: string;
  kind: FindingKind;
  detail: string;
  seed: number;
  caseIndex?: number;
  /** The bytes of the case (the last message sent when a case sends several). */
  bytes?: Uint8Array;
}

export interface CaseContext {
  readonly seed: number;
  /** Messages to send in all (the run stops starting cases once reached). */
  readonly count: number;
  readonly ports: Ports;
  /** At most this many cases run at once, each with at most one or two connections. */
  readonly concurrency: number;
  /** Runs only this case (reproduction). */
  readonly onlyCase?: number;
  readonly progress: Progress;
  alive(): boolean;
  /** Counts messages sent to the server. */
  sent(n?: number): void;
  finding(f: Omit<Finding, 'target' | 'seed'>): void;
}

export interface InProcessContext {
  readonly seed: number;
  readonly count: number;
  finding(f: Omit<Finding, 'target' | 'seed'>): void;
}

export interface FuzzTarget {
  readonly name: string;
  /** One line for docs/robustness.md: what reaches which parser. */
  readonly summary: string;
  /** Called once per run before cases (captures, handshakes); may be omitted. */
  prepare?(ctx: CaseContext): Promise<void>;
  /** Over the wire against the child server. */
  wire(ctx: CaseContext): Promise<void>;
  /** The pure parser in this process, where one exists; returns cases run. */
  inProcess?(ctx: InProcessContext): number;
  /**
   * How long the server gets after the cases before memory is read, when the
   * server itself holds a client's state for a while by design (default 3 s).
   */
  readonly settleMs?: number;
  /**
   * Warm up with as many messages as the measured run, not the default 2 000:
   * for a parser whose first burst grows the process once for good (allocator
   * arenas), so that "after" is compared with a process that has seen it.
   */
  readonly fullWarmup?: boolean;
}

/** Shared counters of a running target. */
export class Progress {
  messages = 0;
  cases = 0;
}

/**
 * Runs cases `0, 1, 2, …` with bounded concurrency until `ctx.count`
 * messages went out or the server died. `run` gets the case's own RNG.
 */
export async function runCases(ctx: CaseContext, target: string, run: (index: number, rng: Rng) => Promise<void>, concurrency = ctx.concurrency): Promise<void> {
  if (ctx.onlyCase !== undefined) {
    await run(ctx.onlyCase, caseRng(ctx.seed, target, ctx.onlyCase));
    return;
  }
  const progress = ctx.progress;
  let next = 0;
  const inFlight = new Set<number>();
  let blamed = false;
  const worker = async () => {
    while (progress.messages < ctx.count && ctx.alive()) {
      const index = next++;
      progress.cases++;
      inFlight.add(index);
      await run(index, caseRng(ctx.seed, target, index));
      if (!ctx.alive() && !blamed) {
        // One of the cases in flight when the server died did it; each can be replayed alone with --case.
        blamed = true;
        const suspects = [...inFlight].sort((a, b) => a - b);
        ctx.finding({ kind: 'crash', detail: `server died while cases ${suspects.join(', ')} were in flight`, caseIndex: suspects[0] });
      }
      inFlight.delete(index);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Resolves after `ms`, or earlier when `until` resolves. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
