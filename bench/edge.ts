/**
 * What an edge adds to latency: a Polycast origin live with the clip, a
 * second Polycast pulling the bench path from it over ws-nal, and ws-nal
 * readers on both. Each keyframe's latency is reader stamp − reference sink
 * stamp, as in the fan-out phases; the edge's own share is, per keyframe,
 * an edge reader's arrival minus the median arrival at the origin's readers.
 */
import { wallClock } from './flv-sink.js';
import { ARRIVAL_STRIDE, LeanReader } from './lean-reader.js';
import { startLive, type LiveServer } from './live.js';
import { sleep, startServer, STREAM_PATH, type ServerProcess } from './servers.js';
import { latencySummary, median, percentile, sortedCopy, type KeyframeReadersSide } from './stats.js';

export interface EdgeTiming {
  /** After every reader has its first keyframe, before the window. */
  warmupMs: number;
  windowMs: number;
  /** How long keyframes stamped in the window may take to reach every reader. */
  graceMs: number;
}

export interface EdgeSide extends KeyframeReadersSide {
  where: 'origin' | 'edge';
}

export interface EdgeLatencyResult {
  status: 'ok' | 'error';
  notes: string[];
  timing: EdgeTiming;
  /** Keyframes the sink stamped in the window. */
  keyframes: number;
  sides: EdgeSide[];
  /** Edge reader's arrival − median origin reader's arrival, per keyframe: the edge hop alone. */
  addedP50?: number;
  addedP99?: number;
}

export interface EdgeContext {
  root: string;
  clip: string;
  timing: EdgeTiming;
  /** ws-nal readers on each server. */
  readers?: number;
  log(line: string): void;
}

const DEFAULT_READERS = 4;
const CONNECT_TIMEOUT_MS = 15_000;

export async function runEdgeLatency(ctx: EdgeContext): Promise<EdgeLatencyResult> {
  const t = ctx.timing;
  const count = ctx.readers ?? DEFAULT_READERS;
  const result: EdgeLatencyResult = { status: 'ok', notes: [], timing: t, keyframes: 0, sides: [] };
  let live: LiveServer | undefined;
  let edge: ServerProcess | undefined;
  const readers: Record<'origin' | 'edge', LeanReader[]> = { origin: [], edge: [] };
  try {
    live = await startLive('polycast', ctx.clip, { root: ctx.root });
    const origin = live.server;
    edge = await startServer('polycast', { root: ctx.root, source: `ws://127.0.0.1:${origin.httpPort}/${STREAM_PATH}/ws/nal` });
    for (let i = 0; i < count; i++) {
      readers.origin.push(new LeanReader(origin.reader));
      readers.edge.push(new LeanReader(edge.reader));
    }
    const all = [...readers.origin, ...readers.edge];
    const deadline = performance.now() + CONNECT_TIMEOUT_MS;
    while (!all.every((r) => r.state === 'open' && r.arrivals.length > 0)) {
      const broken = all.find((r) => r.state === 'failed' || r.state === 'closed');
      if (broken) throw new Error(`a reader ended before its first keyframe: ${broken.error}`);
      if (performance.now() > deadline) throw new Error(`readers had no keyframe after ${CONNECT_TIMEOUT_MS} ms`);
      await sleep(100);
    }
    ctx.log(`  ${count} ws-nal readers on the origin and ${count} on the edge have keyframes`);
    await sleep(t.warmupMs);
    const t0 = wallClock();
    await sleep(t.windowMs);
    const window = live.sink.between(t0, wallClock());
    const last = window.at(-1)?.ms;
    const graceEnd = performance.now() + t.graceMs;
    while (last !== undefined && performance.now() < graceEnd && !all.every((r) => r.state !== 'open' || arrivedAt(r, last) !== undefined)) await sleep(50);
    score(result, window, readers);
    if (!edge.alive()) result.notes.push(`the edge exited: ${edge.stderr().trim().slice(-200)}`);
  } catch (err) {
    result.status = 'error';
    result.notes.push((err as Error).message);
  } finally {
    for (const r of [...readers.origin, ...readers.edge]) r.close();
    await edge?.stop();
    await live?.stop();
  }
  return result;
}

/** This reader's arrival time (wall clock ms) of the keyframe with timestamp `ms`. */
function arrivedAt(reader: LeanReader, ms: number): number | undefined {
  const a = reader.arrivals;
  for (let i = a.length - ARRIVAL_STRIDE; i >= 0; i -= ARRIVAL_STRIDE) if (a[i] === ms) return a[i + 1];
  return undefined;
}

function score(result: EdgeLatencyResult, window: Array<{ ms: number; at: number }>, readers: Record<'origin' | 'edge', LeanReader[]>): void {
  result.keyframes = window.length;
  const added: number[] = [];
  for (const where of ['origin', 'edge'] as const) {
    const latencies: number[] = [];
    let missed = 0;
    for (const { ms, at } of window) {
      for (const reader of readers[where]) {
        const arrival = arrivedAt(reader, ms);
        if (arrival === undefined) missed++;
        else latencies.push(arrival - at);
      }
      if (where === 'edge') {
        const atOrigin = readers.origin.map((r) => arrivedAt(r, ms)).filter((v): v is number => v !== undefined);
        if (atOrigin.length === 0) continue;
        const reference = median(atOrigin);
        for (const reader of readers.edge) {
          const arrival = arrivedAt(reader, ms);
          if (arrival !== undefined) added.push(arrival - reference);
        }
      }
    }
    result.sides.push({ where, readers: readers[where].length, missed, ...latencySummary(latencies) });
  }
  if (added.length > 0) {
    const sorted = sortedCopy(added);
    result.addedP50 = percentile(sorted, 50);
    result.addedP99 = percentile(sorted, 99);
  }
  if (window.length === 0) {
    result.status = 'error';
    result.notes.push('the sink stamped no keyframe in the window');
  }
}
