/**
 * One fan-out phase: one server, live with the clip, N readers in a separate
 * load-client process; latency of every keyframe to every reader against the
 * reference sink, and the server's CPU and memory over the same window.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { wallClock } from './flv-sink.js';
import { ARRIVAL_STRIDE } from './lean-reader.js';
import { startLive, type LiveServer } from './live.js';
import type { ChildMessage, LoadTarget, ParentMessage, ReaderResult } from './load-client.js';
import { machineCoresBusy, machineTicks, ProcWatcher, udpReceiveBufferErrors } from './proc.js';
import { sleep, type ServerKind, type ServerProcess } from './servers.js';
import { percentile, sortedCopy } from './stats.js';

export interface FanoutTiming {
  idleMs: number;
  warmupMs: number;
  windowMs: number;
  /**
   * Keyframes stamped inside the window may arrive this long after it and
   * still count; the bench stops waiting earlier once every open reader has
   * the window's last keyframe.
   */
  graceMs: number;
  connectTimeoutMs: number;
}

export interface FanoutResult {
  server: ServerKind;
  readers: number;
  /** ok, or why the numbers are partial or missing. */
  status: 'ok' | 'collapsed' | 'crashed' | 'error';
  notes: string[];
  p50?: number;
  p99?: number;
  max?: number;
  latencySamples: number;
  /** Median latency of the window's last third minus its first third: a growing backlog shows here. */
  trendMs?: number;
  /**
   * Median latency of the last tenth of readers (in connection order, which
   * is the order a server iterates its readers in) minus that of the first
   * tenth: the time one frame's fan-out loop takes to reach the last reader.
   */
  spreadMs?: number;
  /** Sink → server receipt (ws-nal says when the server received each frame): ingest, before any fan-out. */
  ingestP50?: number;
  ingestP99?: number;
  cores?: number;
  idleCores?: number;
  rssMiB?: number;
  idleRssMiB?: number;
  failed: number;
  stalled: number;
  expectedKeyframes: number;
  missedKeyframes: number;
  discontinuities: number;
  connectMs?: number;
  clientCores?: number;
  /** The load client's longest event-loop stall in the window (ms): how much of the tail the measuring side could have added. */
  clientStallMs?: number;
  /** The ffmpeg publisher and this bench process (sink, sampling). */
  harnessCores?: number;
  /** Whole machine busy, all processes and the kernel. */
  machineCores?: number;
  /** Interrupt and softirq time in the window (loopback TCP delivery, charged to no process). */
  irqCores?: number;
  /** Busy time nobody in this phase accounts for, interrupts aside: other work on the machine. */
  otherCores?: number;
  clockOffsetMs?: number;
  /** Load-client processes the readers were spread over. */
  loadClients?: number;
  /** What the readers received in the window, all together (Mbit/s of TCP or UDP payload): the server's egress. */
  egressMbps?: number;
  /** UDP datagrams the kernel dropped for a full receive buffer in the window, machine-wide. */
  udpDrops?: number;
  /** Datagrams per second the readers received (QUIC only): the server's egress in packets. */
  egressPacketsPerSecond?: number;
}

export interface FanoutContext {
  root: string;
  clip: string;
  timing: FanoutTiming;
  cpuProfDir?: string;
  log(line: string): void;
}

/** Above this share of readers failed or stalled, or keyframes missed, a phase counts as collapsed. */
const COLLAPSE_SHARE = 0.05;
/** A median beyond this means readers are being served from a backlog, not live. */
const COLLAPSE_P50_MS = 250;

/**
 * Keyframe timestamps on a timeline of the readers' own (wt-fmp4's decode
 * times start at the shared writer's first frame): `offsetMs()` is what to
 * add to them to get the FLV timestamps the sink stamps, once known.
 */
export interface TimelineAlignment {
  offsetMs(): { ms: number; note?: string } | undefined;
  close(): void;
}

/** What a phase runs beyond the defaults of the ws-nal / WS-FLV fan-out. */
export interface PhaseSpec {
  server: ServerKind;
  readers: number;
  /** Polycast serves WebTransport in this phase. */
  webTransport?: boolean;
  /** …with this QUIC stack (default: ngtcp2 where it is built). */
  quic?: 'ngtcp2' | 'quiche';
  /** Where the readers connect (default: the server's ws-nal or WS-FLV endpoint). */
  target?(server: ServerProcess): LoadTarget;
  /** Load-client processes to spread the readers over (default 1). */
  clients?: number;
  /** Handshakes in flight at once, per load client (default 100). */
  concurrency?: number;
  /** Started once the server is live, kept up through the phase; readers' timestamps are shifted by its offset before scoring. */
  alignment?(live: LiveServer): TimelineAlignment;
}

export async function runFanoutPhase(kind: ServerKind, readers: number, ctx: FanoutContext): Promise<FanoutResult> {
  return runPhase({ server: kind, readers }, ctx);
}

export async function runPhase(spec: PhaseSpec, ctx: FanoutContext): Promise<FanoutResult> {
  const kind = spec.server;
  const readers = spec.readers;
  const result: FanoutResult = {
    server: kind,
    readers,
    status: 'ok',
    notes: [],
    latencySamples: 0,
    failed: 0,
    stalled: 0,
    expectedKeyframes: 0,
    missedKeyframes: 0,
    discontinuities: 0,
  };
  const t = ctx.timing;
  let live: LiveServer | undefined;
  let alignment: TimelineAlignment | undefined;
  const clients: LoadClient[] = [];
  const clientWatches: ProcWatcher[] = [];
  let serverWatch: ProcWatcher | undefined;
  let publisherWatch: ProcWatcher | undefined;
  try {
    live = await startLive(kind, ctx.clip, { root: ctx.root, cpuProfDir: ctx.cpuProfDir, webTransport: spec.webTransport, quic: spec.quic });
    const { server, sink } = live;
    alignment = spec.alignment?.(live);
    serverWatch = new ProcWatcher(server.pid);
    publisherWatch = new ProcWatcher(live.publisher.child.pid!);
    await sleep(t.idleMs);
    const idle = serverWatch.window();
    result.idleCores = idle?.cores;
    result.idleRssMiB = idle?.peakRssMiB;

    const processes = Math.max(1, Math.min(spec.clients ?? 1, readers));
    result.loadClients = processes;
    for (let c = 0; c < processes; c++) {
      const client = await LoadClient.start(join(ctx.root, 'dist/bench/load-client.js'));
      clients.push(client);
      clientWatches.push(new ProcWatcher(client.pid));
      const offset = client.clockOffsetMs - (wallClock() - Date.now());
      if (result.clockOffsetMs === undefined || Math.abs(offset) > Math.abs(result.clockOffsetMs)) result.clockOffsetMs = offset;
    }
    // Each side is read against Date.now(), whose 1 ms steps bound what this check can see.
    if (Math.abs(result.clockOffsetMs!) > 2) result.notes.push(`a load client's clock differs from the sink's by ${result.clockOffsetMs!.toFixed(1)} ms`);
    const lifetimeMs = t.connectTimeoutMs + t.warmupMs + t.windowMs + t.graceMs + 60_000;
    const target = spec.target?.(server) ?? server.reader;
    // Readers are dealt out in connection order: client c gets readers c, c + n, ... of the phase.
    const shares = clients.map((_, c) => Math.floor(readers / processes) + (c < readers % processes ? 1 : 0));
    const replies = await Promise.all(
      clients.map((client, c) =>
        client.request(
          { type: 'start', target, readers: shares[c]!, concurrency: spec.concurrency ?? 100, connectTimeoutMs: t.connectTimeoutMs, lifetimeMs },
          'connected',
          t.connectTimeoutMs + 10_000,
        ),
      ),
    );
    const connected = { open: 0, failed: 0, ms: 0, errors: {} as Record<string, number> };
    for (const r of replies) {
      connected.open += r.open;
      connected.failed += r.failed;
      connected.ms = Math.max(connected.ms, r.ms);
      for (const [e, n] of Object.entries(r.errors)) connected.errors[e] = (connected.errors[e] ?? 0) + n;
    }
    result.connectMs = connected.ms;
    ctx.log(
      `  ${connected.open} of ${readers} readers connected in ${(connected.ms / 1000).toFixed(1)} s` +
        (processes > 1 ? ` by ${processes} load clients` : '') +
        (connected.failed > 0 ? ` (${describeErrors(connected.errors)})` : ''),
    );

    await sleep(t.warmupMs);
    serverWatch.mark();
    for (const w of clientWatches) w.mark();
    for (const client of clients) client.send({ type: 'mark' });
    publisherWatch.mark();
    const machineBefore = machineTicks();
    const dropsBefore = udpReceiveBufferErrors();
    const selfBefore = process.cpuUsage();
    const t0 = wallClock();
    await sleep(t.windowMs);
    for (const client of clients) client.send({ type: 'window-end' });
    const dropsAfter = udpReceiveBufferErrors();
    if (dropsBefore !== undefined && dropsAfter !== undefined) result.udpDrops = dropsAfter - dropsBefore;
    const t1 = wallClock();
    const window = serverWatch.window();
    const clientWindows = clientWatches.map((w) => w.window());
    const self = process.cpuUsage(selfBefore);
    const machine = machineCoresBusy(machineBefore, machineTicks(), cpus().length);
    result.machineCores = machine.busy;
    result.irqCores = machine.irq;
    result.harnessCores = (publisherWatch.window()?.cores ?? 0) + (self.user + self.system) / 1000 / (t1 - t0);
    if (!server.alive() || window === undefined) {
      result.status = 'crashed';
      result.notes.push(`server exited during the window: ${server.stderr().trim().slice(-300)}`);
      return result;
    }
    result.cores = window.cores;
    result.rssMiB = window.peakRssMiB;
    result.clientCores = clientWindows.reduce((sum, w) => sum + (w?.cores ?? 0), 0);
    result.otherCores = Math.max(0, machine.busy - machine.irq - window.cores - (result.clientCores ?? 0) - result.harnessCores);
    const aligned = alignment === undefined ? { ms: 0 } : alignment.offsetMs();
    if (aligned === undefined) throw new Error('could not line the readers\' keyframe timeline up with the sink\'s');
    if (aligned.note !== undefined) result.notes.push(aligned.note);
    const last = sink.between(t0, t1).at(-1);
    const graceEnd = performance.now() + t.graceMs;
    while (last !== undefined && performance.now() < graceEnd) {
      await sleep(250);
      const ps = await Promise.all(clients.map((client) => client.request({ type: 'progress', ms: last.ms - aligned.ms }, 'progress', 10_000)));
      if (ps.every((p) => p.arrived >= p.open)) break;
    }
    const collected: ReaderResult[] = [];
    const byClient: ReaderResult[][] = [];
    result.clientStallMs = 0;
    for (const client of clients) {
      const c = await client.request({ type: 'collect', from: t0 }, 'result', 30_000);
      result.clientStallMs = Math.max(result.clientStallMs, c.loopDelay.max);
      byClient.push(c.readers);
    }
    // Back into connection order across clients, as the spread measure expects.
    for (let i = 0; collected.length < byClient.reduce((n, l) => n + l.length, 0); i++) for (const list of byClient) if (i < list.length) collected.push(list[i]!);
    if (aligned.ms !== 0) for (const r of collected) for (let i = 0; i < r.arrivals.length; i += ARRIVAL_STRIDE) r.arrivals[i]! += aligned.ms;
    const bytes = collected.reduce((n, r) => n + (r.bytesIn ?? 0), 0);
    result.egressMbps = (bytes * 8) / ((t1 - t0) / 1000) / 1e6;
    if (collected.some((r) => r.packetsIn !== undefined)) result.egressPacketsPerSecond = collected.reduce((n, r) => n + (r.packetsIn ?? 0), 0) / ((t1 - t0) / 1000);
    score(result, collected, sink.between(t0, t1), sink.stamps);
    if (!live.publisher.alive()) result.notes.push(`ffmpeg publisher exited: ${live.publisher.stderr().trim().slice(-200)}`);
    return result;
  } catch (err) {
    result.status = 'error';
    result.notes.push((err as Error).message);
    return result;
  } finally {
    serverWatch?.stop();
    for (const w of clientWatches) w.stop();
    publisherWatch?.stop();
    await Promise.all(clients.map((client) => client.stop()));
    alignment?.close();
    await live?.stop();
  }
}

function score(result: FanoutResult, readers: ReaderResult[], window: Array<{ ms: number; at: number }>, stamps: Map<number, number>): void {
  const expected = new Set(window.map((s) => s.ms));
  result.expectedKeyframes = expected.size * result.readers;
  const latencies: number[] = [];
  const thirds: number[][] = [[], [], []];
  const t0 = window[0]?.at ?? 0;
  const span = (window.at(-1)?.at ?? t0) - t0 || 1;
  const ingest: number[] = [];
  const perReader: number[] = [];
  let delivered = 0;
  let unmatched = 0;
  for (const r of readers) {
    result.discontinuities += r.discontinuities;
    let mine = 0;
    const own: number[] = [];
    for (let i = 0; i < r.arrivals.length; i += ARRIVAL_STRIDE) {
      const ms = r.arrivals[i]!;
      const stamp = stamps.get(ms);
      if (stamp === undefined) {
        unmatched++;
        continue;
      }
      if (!expected.has(ms)) continue;
      mine++;
      const latency = r.arrivals[i + 1]! - stamp;
      latencies.push(latency);
      own.push(latency);
      thirds[Math.min(2, Math.floor(((stamp - t0) / span) * 3))]!.push(latency);
      // NaN (no receive time, WS-FLV) crossed the IPC channel as JSON, which writes it as null.
      const serverAt = r.arrivals[i + 2] as number | null;
      if (serverAt !== null && Number.isFinite(serverAt)) ingest.push(serverAt - stamp);
    }
    perReader.push(own.length ? percentile(sortedCopy(own), 50) : NaN);
    delivered += mine;
    if (r.state !== 'open') result.failed++;
    else if (mine < expected.size / 2) result.stalled++;
  }
  result.missedKeyframes = result.expectedKeyframes - delivered;
  const sorted = sortedCopy(latencies);
  result.latencySamples = sorted.length;
  if (sorted.length > 0) {
    result.p50 = percentile(sorted, 50);
    result.p99 = percentile(sorted, 99);
    result.max = sorted[sorted.length - 1];
  }
  if (thirds[0]!.length > 0 && thirds[2]!.length > 0) {
    result.trendMs = percentile(sortedCopy(thirds[2]!), 50) - percentile(sortedCopy(thirds[0]!), 50);
  }
  const tenth = Math.floor(perReader.length / 10);
  if (tenth > 0) {
    const firsts = perReader.slice(0, tenth).filter((v) => !Number.isNaN(v));
    const lasts = perReader.slice(-tenth).filter((v) => !Number.isNaN(v));
    if (firsts.length && lasts.length) result.spreadMs = percentile(sortedCopy(lasts), 50) - percentile(sortedCopy(firsts), 50);
  }
  if (ingest.length > 0) {
    const s = sortedCopy(ingest);
    result.ingestP50 = percentile(s, 50);
    result.ingestP99 = percentile(s, 99);
  }
  if (unmatched > 0) result.notes.push(`${unmatched} keyframe arrivals had a timestamp the sink never saw`);
  const closedErrors: Record<string, number> = {};
  for (const r of readers) if (r.state !== 'open' && r.error !== undefined) closedErrors[r.error] = (closedErrors[r.error] ?? 0) + 1;
  if (result.failed > 0) result.notes.push(`${result.failed} readers failed: ${describeErrors(closedErrors)}`);
  if (result.stalled > 0) result.notes.push(`${result.stalled} readers stalled (under half of the window's keyframes)`);
  const n = result.readers;
  const reasons: string[] = [];
  if (result.failed + result.stalled > n * COLLAPSE_SHARE) reasons.push(`${result.failed + result.stalled} of ${n} readers failed or stalled`);
  if (result.missedKeyframes > result.expectedKeyframes * COLLAPSE_SHARE) {
    reasons.push(`${((result.missedKeyframes / Math.max(1, result.expectedKeyframes)) * 100).toFixed(0)} % of keyframes missed`);
  }
  if ((result.p50 ?? 0) > COLLAPSE_P50_MS) reasons.push(`median latency ${result.p50!.toFixed(0)} ms`);
  if (sorted.length === 0) reasons.push('no keyframe reached any reader in the window');
  if (reasons.length > 0) {
    result.status = 'collapsed';
    result.notes.unshift(`collapsed: ${reasons.join('; ')}`);
  }
}

function describeErrors(errors: Record<string, number>): string {
  const top = Object.entries(errors)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([e, n]) => `${n}× ${e}`);
  return top.join(', ') || 'no reason given';
}

type Reply<T extends ChildMessage['type']> = Extract<ChildMessage, { type: T }>;

/** The forked load-client process and its request/reply messages. */
class LoadClient {
  private waiters = new Map<string, { resolve(m: ChildMessage): void; reject(err: Error): void }>();
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
    readonly clockOffsetMs: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (m: ChildMessage) => this.waiters.get(m.type)?.resolve(m));
    child.once('exit', (code, signal) => {
      for (const w of this.waiters.values()) w.reject(new Error(`load client exited (${code ?? signal})`));
    });
  }

  static async start(script: string): Promise<LoadClient> {
    const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const hello = await new Promise<Reply<'hello'>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('load client did not start in 10 s')), 10_000);
      child.once('message', (m: ChildMessage) => {
        clearTimeout(timer);
        if (m.type === 'hello') resolve(m);
        else reject(new Error(`load client said ${m.type} first`));
      });
      child.once('exit', () => reject(new Error('load client exited at start')));
    });
    return new LoadClient(child, hello.pid, hello.clockOffsetMs);
  }

  async request<T extends 'connected' | 'progress' | 'result'>(message: ParentMessage, reply: T, timeoutMs: number): Promise<Reply<T>> {
    return new Promise<Reply<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(reply);
        reject(new Error(`load client: no '${reply}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(reply, {
        resolve: (m) => {
          clearTimeout(timer);
          this.waiters.delete(reply);
          resolve(m as Reply<T>);
        },
        reject: (err) => {
          clearTimeout(timer);
          this.waiters.delete(reply);
          reject(err);
        },
      });
      this.child.send(message);
    });
  }

  send(message: ParentMessage): void {
    this.child.send(message);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (this.child.connected) this.child.send({ type: 'stop' } satisfies ParentMessage);
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(killer);
    }
  }
}
