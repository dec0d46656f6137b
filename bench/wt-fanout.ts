/**
 * WebTransport fan-out: one Polycast serving WebTransport, live with the
 * bench clip, N lean sessions (`wt-raw`: moq-lite at `/moq`, moq-reader.ts;
 * `wt-fmp4`: `/<path>/wt/fmp4`, wt-reader.ts) in one or more load-client
 * processes, measured as the ws-nal fan-out is (fanout.ts): keyframe latency
 * against the reference sink, server CPU and RSS, failed and stalled
 * sessions, missed keyframes, plus the server's egress per core.
 *
 *   node dist/bench/wt-fanout.js --kind=wt-raw --sessions=50[,200,...] [--clients=2] [--ack-every=10] [--window=15] [--warmup=4]
 *                                [--prof=DIR] [--json=FILE] [--keep-going] [--video-kbps=50000] [--quic=quiche] [--client-quic=quiche]
 *
 * `--kind=ws-nal` runs the existing WebSocket phase with the same timing, for the ratio.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureClip, type ClipOptions } from './clip.js';
import { formatProfile, summarizeProfile } from './cpuprofile.js';
import { runPhase, type FanoutContext, type FanoutResult, type FanoutTiming, type TimelineAlignment } from './fanout.js';
import { ARRIVAL_STRIDE } from './lean-reader.js';
import type { LiveServer } from './live.js';
import type { LoadTarget } from './load-client.js';
import { STREAM_PATH } from './servers.js';
import { clientStack } from './wt-client.js';
import { WtReader } from './wt-reader.js';

export type WtKind = 'wt-raw' | 'wt-fmp4';

export interface WtFanoutResult extends FanoutResult {
  kind: WtKind | 'ws-nal';
  sessions: number;
  /** The server's QUIC stack, when it is not the default (ngtcp2). */
  quic?: 'quiche';
  /** Server CPU cores ÷ sessions × 1000, and the same above the idle server. */
  millicoresPerSession?: number;
  millicoresPerSessionAboveIdle?: number;
  /** Peak RSS above the idle server ÷ sessions (KiB). */
  rssKiBPerSession?: number;
  /** Egress (Mbit/s of UDP or TCP payload received by the sessions) per server core. */
  egressMbpsPerCore?: number;
  /** The same per server core above the live server with no session (ingest and per-stream work left out). */
  egressMbpsPerCoreAboveIdle?: number;
  /** Server CPU above idle per datagram sent (µs), QUIC only. */
  serverUsPerPacket?: number;
}

export interface WtFanoutOptions {
  /** Load-client processes (default: one per 500 sessions). */
  clients?: number;
  /** Packets a lean session reads before it must answer (see WtClientTarget.ackEvery). */
  ackEvery?: number;
  /** The server's QUIC stack (default: ngtcp2 where it is built). */
  quic?: 'ngtcp2' | 'quiche';
  /** The load clients' QUIC stack (default: ngtcp2 where it is built; see bench/wt-client.ts). */
  clientQuic?: 'ngtcp2' | 'quiche';
}

/** The high-rate clip is shorter: at 50 Mbit/s, 40 s would be 250 MB. */
export function singleClip(videoKbps = SINGLE_SESSION_KBPS): ClipOptions {
  return { videoKbps, seconds: 16 };
}

/**
 * Sessions per load-client process in a series: a client on ngtcp2 reads its
 * sockets natively and keeps up with 250 (0.3 cores at 200), one on quiche
 * with about 100.
 */
function defaultSessionsPerClient(): number {
  return clientStack() === 'ngtcp2' ? 250 : 100;
}

/** Sessions one load-client process is given at most by default. */
const SESSIONS_PER_CLIENT = 500;

export async function runWtFanoutPhase(kind: WtKind | 'ws-nal', sessions: number, ctx: FanoutContext, o: WtFanoutOptions = {}): Promise<WtFanoutResult> {
  const clients = o.clients ?? Math.ceil(sessions / SESSIONS_PER_CLIENT);
  const r = await runPhase(
    kind === 'ws-nal'
      ? { server: 'polycast', readers: sessions, clients }
      : {
          server: 'polycast',
          readers: sessions,
          webTransport: true,
          quic: o.quic,
          clients,
          // QUIC handshakes cost the server more than WebSocket upgrades: fewer at once keep the accept path from timing out.
          concurrency: 50,
          target: (server): LoadTarget =>
            kind === 'wt-raw'
              ? { format: 'wt-raw', host: '127.0.0.1', port: server.httpPort, path: '/moq', broadcast: STREAM_PATH, ackEvery: o.ackEvery, quic: o.clientQuic }
              : { format: 'wt-fmp4', host: '127.0.0.1', port: server.httpPort, path: `/${STREAM_PATH}/wt/fmp4`, ackEvery: o.ackEvery, quic: o.clientQuic },
          alignment: kind === 'wt-fmp4' ? (live) => fmp4Alignment(live) : undefined,
        },
    ctx,
  );
  const out: WtFanoutResult = { ...r, kind, sessions, ...(o.quic === 'quiche' && { quic: 'quiche' as const }) };
  if (r.cores !== undefined) {
    out.millicoresPerSession = (r.cores / sessions) * 1000;
    if (r.idleCores !== undefined) out.millicoresPerSessionAboveIdle = ((r.cores - r.idleCores) / sessions) * 1000;
    if (r.egressMbps !== undefined && r.cores > 0) out.egressMbpsPerCore = r.egressMbps / r.cores;
    if (r.egressMbps !== undefined && r.idleCores !== undefined && r.cores > r.idleCores) out.egressMbpsPerCoreAboveIdle = r.egressMbps / (r.cores - r.idleCores);
    if (r.egressPacketsPerSecond !== undefined && r.egressPacketsPerSecond > 0) out.serverUsPerPacket = ((r.cores - (r.idleCores ?? 0)) / r.egressPacketsPerSecond) * 1e6;
  }
  if (r.rssMiB !== undefined && r.idleRssMiB !== undefined) out.rssKiBPerSession = ((r.rssMiB - r.idleRssMiB) * 1024) / sessions;
  return out;
}

/**
 * wt-fmp4 decode times start at the first frame the shared fMP4 writer
 * muxed, which the wire does not say. One probe session in this process
 * reads from the start of the phase to its end (so the writer never sees a
 * gap that would move its origin) and pairs each keyframe it gets with the
 * sink's latest stamp at or before its arrival: the difference of the two
 * timestamps is the origin, constant for the run. That pairing assumes a
 * keyframe reaches the probe less than one GOP (1 s) after the sink stamped
 * it; the most frequent difference wins, and how many agreed is noted.
 */
function fmp4Alignment(live: LiveServer): TimelineAlignment {
  const probe = new WtReader({ host: '127.0.0.1', port: live.server.httpPort, path: `/${STREAM_PATH}/wt/fmp4` }, {}, 15_000);
  return {
    offsetMs: () => {
      const order = live.sink.order;
      const votes = new Map<number, number>();
      let pairs = 0;
      for (let i = 0; i < probe.arrivals.length; i += ARRIVAL_STRIDE) {
        const ms = probe.arrivals[i]!;
        const at = probe.arrivals[i + 1]!;
        let j = order.length - 1;
        // Both stamps come from the same wall clock in different processes: allow a millisecond of rounding.
        while (j >= 0 && order[j]!.at > at + 1) j--;
        if (j < 0) continue;
        const offset = order[j]!.ms - ms;
        votes.set(offset, (votes.get(offset) ?? 0) + 1);
        pairs++;
      }
      const best = [...votes.entries()].sort((a, b) => b[1] - a[1])[0];
      if (best === undefined) return undefined;
      return {
        ms: best[0],
        note: `wt-fmp4 timeline origin ${best[0]} ms (FLV), agreed by ${best[1]} of ${pairs} probe keyframes (probe ${probe.state}${probe.error ? `: ${probe.error}` : ''})`,
      };
    },
    close: () => probe.close(),
  };
}

export interface WtSeriesOptions {
  /** Session counts, smallest first; a kind stops at its first count that does not hold. */
  counts: number[];
  kinds: Array<WtKind | 'ws-nal'>;
  /** Sessions per load-client process (default: 100 for ws-nal, `defaultSessionsPerClient()` for WebTransport). */
  sessionsPerClient?: number;
  /** Runs before each phase (waiting for a quiet machine); its note is added to the phase. */
  settle?: () => Promise<string | undefined>;
  /** Counts at which wt-raw runs once more on quiche, the other QUIC stack, for the comparison. */
  quicheAt?: number[];
}

/**
 * The bench's WebTransport section: each kind at each count until one does
 * not hold; `ws-nal` is measured at the counts WebTransport reached, in the
 * same run, for the ratio.
 */
export async function runWtSeries(ctx: FanoutContext, o: WtSeriesOptions): Promise<WtFanoutResult[]> {
  const results: WtFanoutResult[] = [];
  const reached = new Set<number>();
  for (const kind of o.kinds) {
    const counts = kind === 'ws-nal' && reached.size > 0 ? o.counts.filter((n) => reached.has(n)) : o.counts;
    for (const n of counts) {
      ctx.log(`WebTransport fan-out: ${kind} × ${n}`);
      const busy = await o.settle?.();
      const clients = Math.max(1, Math.ceil(n / (o.sessionsPerClient ?? (kind === 'ws-nal' ? 100 : defaultSessionsPerClient()))));
      const r = await runWtFanoutPhase(kind, n, ctx, { clients });
      if (busy) r.notes.push(busy);
      results.push(r);
      ctx.log(formatWtResult(r).replace(/^/gm, '  '));
      if (kind !== 'ws-nal') reached.add(n);
      if (r.status !== 'ok') break;
    }
  }
  for (const n of o.quicheAt ?? []) {
    ctx.log(`WebTransport fan-out: wt-raw on quiche × ${n}`);
    const busy = await o.settle?.();
    const r = await runWtFanoutPhase('wt-raw', n, ctx, { clients: Math.max(1, Math.ceil(n / (o.sessionsPerClient ?? defaultSessionsPerClient()))), quic: 'quiche' });
    if (busy) r.notes.push(busy);
    results.push(r);
    ctx.log(formatWtResult(r).replace(/^/gm, '  '));
  }
  return results;
}

/** The single-session phase's stream: a 4K-class rate, so the transport's cost per bit shows rather than the per-session overhead. */
export const SINGLE_SESSION_KBPS = 50_000;

/**
 * One session of a high-rate stream per transport, each in its own phase
 * (the same measurement as the fan-out, with N = 1 and `clip` at
 * SINGLE_SESSION_KBPS): how many Mbit/s a server core sends to one viewer.
 */
export async function runWtSingle(ctx: FanoutContext, o: { settle?: () => Promise<string | undefined> }): Promise<WtFanoutResult[]> {
  const results: WtFanoutResult[] = [];
  for (const kind of ['wt-raw', 'wt-fmp4', 'ws-nal'] as const) {
    ctx.log(`one session of a ${SINGLE_SESSION_KBPS / 1000} Mbit/s stream: ${kind}`);
    const busy = await o.settle?.();
    const r = await runWtFanoutPhase(kind, 1, ctx);
    if (busy) r.notes.push(busy);
    results.push(r);
    ctx.log(formatWtResult(r).replace(/^/gm, '  '));
  }
  return results;
}

const f = (v: number | undefined, digits = 1): string => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));

export function formatWtResult(r: WtFanoutResult): string {
  return [
    `${r.kind}${r.quic ? ` on ${r.quic}` : ''} × ${r.sessions}: ${r.status}`,
    `  keyframe latency p50 ${f(r.p50)} ms, p99 ${f(r.p99)} ms, max ${f(r.max)} ms (${r.latencySamples} samples); spread ${f(r.spreadMs)} ms, trend ${f(r.trendMs)} ms`,
    `  server ${f(r.cores, 3)} cores (idle ${f(r.idleCores, 3)}) = ${f(r.millicoresPerSession, 2)} millicores/session (${f(r.millicoresPerSessionAboveIdle, 2)} above idle)`,
    `  RSS ${f(r.rssMiB, 0)} MiB (idle ${f(r.idleRssMiB, 0)}) = ${f(r.rssKiBPerSession, 1)} KiB/session`,
    `  egress ${f(r.egressMbps, 1)} Mbit/s = ${f(r.egressMbpsPerCore, 0)} Mbit/s per server core (${f(r.egressMbpsPerCoreAboveIdle, 0)} above idle)` +
      (r.egressPacketsPerSecond === undefined ? '' : `; ${f(r.egressPacketsPerSecond, 0)} packets/s (${f((r.egressMbps! * 1e6) / 8 / r.egressPacketsPerSecond, 0)} B each), ${f(r.serverUsPerPacket, 1)} µs of server CPU per packet`) +
      `; UDP receive-buffer drops in the window (machine-wide) ${r.udpDrops ?? '–'}`,
    `  failed ${r.failed}, stalled ${r.stalled}, keyframes missed ${r.missedKeyframes} of ${r.expectedKeyframes}`,
    `  load clients ${r.loadClients ?? 1}: ${f(r.clientCores, 2)} cores, longest stall ${f(r.clientStallMs, 0)} ms; harness ${f(r.harnessCores, 2)}; machine ${f(r.machineCores, 2)} of 2 (irq ${f(r.irqCores, 2)}, other ${f(r.otherCores, 2)}); connect ${f((r.connectMs ?? NaN) / 1000, 1)} s`,
    ...r.notes.map((n) => `  note: ${n}`),
  ].join('\n');
}

function arg(name: string): string | undefined {
  const hit = process.argv.slice(2).find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  return hit === undefined ? undefined : hit.includes('=') ? hit.slice(hit.indexOf('=') + 1) : '';
}

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
  const kind = (arg('kind') ?? 'wt-raw') as WtKind | 'ws-nal';
  if (kind !== 'wt-raw' && kind !== 'wt-fmp4' && kind !== 'ws-nal') throw new Error(`--kind must be wt-raw, wt-fmp4 or ws-nal, not ${kind}`);
  const counts = (arg('sessions') ?? '50').split(',').map(Number);
  const clients = arg('clients') === undefined ? undefined : Number(arg('clients'));
  const ackEvery = arg('ack-every') === undefined ? undefined : Number(arg('ack-every'));
  const windowS = Number(arg('window') ?? 15);
  const timing: FanoutTiming = { idleMs: 2000, warmupMs: Number(arg('warmup') ?? 4) * 1000, windowMs: windowS * 1000, graceMs: 5000, connectTimeoutMs: 60_000 };
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const videoKbps = arg('video-kbps') === undefined ? undefined : Number(arg('video-kbps'));
  const clip = ensureClip(join(root, 'bench/.cache'), log, videoKbps === undefined ? {} : singleClip(videoKbps));
  const profRoot = arg('prof');
  const quicArg = arg('quic');
  if (quicArg !== undefined && quicArg !== 'ngtcp2' && quicArg !== 'quiche') throw new Error(`--quic must be ngtcp2 or quiche, not ${quicArg}`);
  const clientQuic = arg('client-quic');
  if (clientQuic !== undefined && clientQuic !== 'ngtcp2' && clientQuic !== 'quiche') throw new Error(`--client-quic must be ngtcp2 or quiche, not ${clientQuic}`);
  const results: WtFanoutResult[] = [];
  for (const n of counts) {
    const cpuProfDir = profRoot ? join(profRoot, `${kind}-${n}`) : undefined;
    if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
    log(`${kind} × ${n} ...`);
    const r = await runWtFanoutPhase(kind, n, { root, clip, timing, cpuProfDir, log }, { clients, ackEvery, quic: quicArg, clientQuic });
    results.push(r);
    log(formatWtResult(r));
    if (cpuProfDir) {
      const files = readdirSync(cpuProfDir).filter((x) => x.endsWith('.cpuprofile')).sort();
      if (files.length > 0) {
        const summary = formatProfile(summarizeProfile(join(cpuProfDir, files.at(-1)!), 25));
        writeFileSync(join(cpuProfDir, 'summary.txt'), `${summary}\n`);
        log(summary);
      }
    }
    if (r.status !== 'ok' && arg('keep-going') === undefined) {
      log(`stopping ${kind} at ${n}: ${r.status}`);
      break;
    }
  }
  const json = arg('json');
  if (json) writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
