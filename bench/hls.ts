/**
 * LL-HLS from the outside: glass-to-reader latency and what a CDN tier
 * saves the origin. Lean LL-HLS readers (blocking playlist reload and the
 * preload hint, as hls.js does, without decoding) follow the stream either
 * straight from Polycast or through 1 or 2 stock nginx caches running the
 * shipped configuration.
 *
 * Latency: a part that starts with a keyframe is stamped when its last byte
 * is in; its keyframe is matched to the reference sink's stamp by the
 * part's program date (the server's receive time of that frame, from the
 * playlist), within 100 ms; the latency is the reader's stamp minus the
 * sink's. Origin requests: nginx logs the upstream of every request, `-`
 * when it answered from its cache.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followParts } from '../test/hls/ll-client.js';
import { startNginx, type Nginx } from '../test/helpers/nginx.js';
import { freePort } from '../test/helpers/ports.js';
import { startLive, type LiveServer } from './live.js';
import { STREAM_PATH } from './servers.js';
import { percentile, sortedCopy } from './stats.js';

export interface HlsTiming {
  /** Parts each reader follows after joining. */
  parts: number;
  phases: ReadonlyArray<{ edges: number; viewers: number }>;
}

export interface HlsResult {
  edges: number;
  viewers: number;
  status: 'ok' | 'error';
  notes: string[];
  p50?: number;
  p99?: number;
  /** Keyframe parts matched to a sink stamp. */
  samples: number;
  /** Readers that did not get every part in order. */
  failed: number;
  /** Origin requests per distinct part: the largest count over parts and edges, and the mean per edge. */
  maxOriginPerPart?: number;
  meanOriginPerPart?: number;
  /** Distinct parts the readers fetched. */
  parts?: number;
}

export interface HlsContext {
  root: string;
  clip: string;
  timing: HlsTiming;
  log(line: string): void;
}

const MATCH_WITHIN_MS = 100;

export async function runHls(ctx: HlsContext): Promise<HlsResult[]> {
  let live: LiveServer;
  try {
    live = await startLive('polycast', ctx.clip, { root: ctx.root });
  } catch (err) {
    return ctx.timing.phases.map(({ edges, viewers }) => ({ edges, viewers, status: 'error', notes: [(err as Error).message], samples: 0, failed: 0 }));
  }
  const out: HlsResult[] = [];
  try {
    for (const phase of ctx.timing.phases) {
      ctx.log(`  ${phase.viewers} readers, ${phase.edges === 0 ? 'straight from Polycast' : `through ${phase.edges} nginx edge${phase.edges > 1 ? 's' : ''}`}`);
      try {
        out.push(await runPhase(live, phase.edges, phase.viewers, ctx.timing.parts));
      } catch (err) {
        out.push({ ...phase, status: 'error', notes: [(err as Error).message.split('\n')[0]!], samples: 0, failed: 0 });
      }
    }
  } finally {
    await live.stop();
  }
  return out;
}

async function runPhase(live: LiveServer, edgeCount: number, viewers: number, parts: number): Promise<HlsResult> {
  const origin = `127.0.0.1:${live.server.httpPort}`;
  const dir = mkdtempSync(join(tmpdir(), 'polycast-bench-hls-'));
  const edges: Nginx[] = [];
  const logs: string[] = [];
  try {
    for (let i = 0; i < edgeCount; i++) {
      const log = join(dir, `edge${i}.log`);
      logs.push(log);
      edges.push(await startNginx({ listen: `127.0.0.1:${await freePort()}`, origin, accessLog: log }));
    }
    const bases = edgeCount === 0 ? [`http://${origin}`] : edges.map((e) => e.url);
    const latencies: number[] = [];
    const notes: string[] = [];
    let failed = 0;
    const stamps = live.sink.order;
    const onPart = (part: { independent: boolean; dateMs: number | undefined }, arrivedAt: number): void => {
      if (!part.independent || part.dateMs === undefined) return;
      let best: { at: number; gap: number } | undefined;
      for (let i = stamps.length - 1; i >= 0 && stamps[i]!.at > part.dateMs - 5000; i--) {
        const gap = Math.abs(stamps[i]!.at - part.dateMs);
        if (gap <= MATCH_WITHIN_MS && (best === undefined || gap < best.gap)) best = { at: stamps[i]!.at, gap };
      }
      if (best !== undefined) latencies.push(arrivedAt - best.at);
    };
    const deadline = Date.now() + 30_000 + parts * 400;
    const results = await Promise.allSettled(
      Array.from({ length: viewers }, (_, i) => followParts(`${bases[i % bases.length]}/${STREAM_PATH}`, parts, { deadline, useHint: true, onPart })),
    );
    const distinct = new Set<number>();
    for (const r of results) {
      if (r.status === 'rejected') {
        failed++;
        if (notes.length < 3) notes.push(String((r.reason as Error).message ?? r.reason).slice(0, 160));
        continue;
      }
      const { received } = r.value;
      received.forEach((n) => distinct.add(n));
      if (received.length < parts || received.some((n, i) => n !== received[0]! + i)) failed++;
    }
    const result: HlsResult = { edges: edgeCount, viewers, status: failed === 0 ? 'ok' : 'error', notes, samples: latencies.length, failed, parts: distinct.size };
    const sorted = sortedCopy(latencies);
    if (sorted.length > 0) {
      result.p50 = percentile(sorted, 50);
      result.p99 = percentile(sorted, 99);
    } else notes.push('no keyframe part matched a sink stamp');
    if (edgeCount > 0) {
      await Promise.all(edges.map((e) => e.stop()));
      edges.length = 0;
      const perEdge = logs.map(originPartRequests);
      const counts = perEdge.flatMap((m) => [...m.values()]);
      result.maxOriginPerPart = Math.max(0, ...counts);
      result.meanOriginPerPart = perEdge.reduce((sum, m) => sum + [...m.values()].reduce((a, b) => a + b, 0) / Math.max(1, m.size), 0) / perEdge.length;
    }
    return result;
  } finally {
    await Promise.all(edges.map((e) => e.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Requests nginx passed to the origin, per part URI. */
function originPartRequests(log: string): Map<string, number> {
  const counts = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    const [upstream, uri] = line.split(' ');
    if (!upstream || upstream === '-' || !uri || !/-p\d+\.m4s$/.test(uri)) continue;
    counts.set(uri, (counts.get(uri) ?? 0) + 1);
  }
  return counts;
}
