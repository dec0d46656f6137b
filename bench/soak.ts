/**
 * `npm run soak` (not in CI): Polycast under mixed load for a long time, to
 * show that its memory comes back and that no reader fails.
 *
 *   --minutes 30        length of the load
 *   --restart-every 5   minutes between publisher restarts (0: never)
 *   --readers 50        steady ws-nal readers
 *   --throttled 10      ws-fmp4 (RTWebSocket) readers reading at half the bit rate
 *   --wt 20             wt-fmp4 WebTransport sessions
 *   --churn 5           short-lived ws-nal readers opened per second
 *   --baseline 5        the minute whose RSS the end is compared with
 *                       (default 5, or a third of a shorter run)
 *   --out FILE          where the `## Soak` section goes (default docs/robustness.md
 *                       for a run of 30 minutes or more, bench/.cache/robustness-soak.md otherwise)
 *
 * Options take `--name value` or `--name=value`. A quick check of the harness
 * itself: `--minutes 3 --restart-every 1`.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem, type as osType, release } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { packageRoot } from '../src/package-root.js';
import { CLIP_FPS, ensureClip, publish, type Publisher } from './clip.js';
import { ReferenceSink } from './flv-sink.js';
import { LeanReader } from './lean-reader.js';
import { machineTicks, sampleProc, type ProcSample } from './proc.js';
import { startServer, sleep, STREAM_PATH, type ServerProcess } from './servers.js';
import { Churn } from './soak-churn.js';
import { consoleSummary, markdownSection, passed, writeSection, type RestartResult, type SoakResult } from './soak-report.js';
import { ThrottledReader } from './throttled-reader.js';
import { WtReader } from './wt-reader.js';
import { OP_BINARY, OP_TEXT } from './ws-wire.js';

interface Options {
  minutes: number;
  restartEvery: number;
  readers: number;
  throttled: number;
  wt: number;
  churn: number;
  baseline: number | undefined;
  out: string | undefined;
}

/** Bounds on what one run may ask for: this is a soak, not a fan-out benchmark. */
const LIMITS = { minutes: 240, readers: 500, throttled: 100, wt: 100, churn: 20 } as const;
const FULL_MINUTES = 30;
/** The clip's bit rate (video 2.5 Mbit/s + audio 128 kbit/s): throttled readers read at half of it. */
const CLIP_BITS_PER_SECOND = 2_628_000;
const SAMPLE_MS = 10_000;
const CHECK_MS = 1000;
/** A steady reader without video this long, with the publisher on air, has failed. */
const SILENCE_MS = 10_000;
/** A churn reader's first keyframe must come this soon after it opens (or the publisher returns). */
const CHURN_FIRST_KEYFRAME_MS = 5000;
const CHURN_READ_MS = 1000;
const CHURN_ABORT_EVERY = 5;
/** Publisher off the air for this long at each restart, so every reader has time to hear `offline`. */
const OFF_AIR_MS = 2000;
/** Gaps between opening steady clients, so the start is not a handshake burst (that is another test's subject). */
const OPEN_SPACING_MS = { nal: 20, throttled: 50, wt: 150 };
const LIVE_TIMEOUT_MS = 30_000;

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: FULL_MINUTES, restartEvery: 5, readers: 50, throttled: 10, wt: 20, churn: 5, baseline: undefined, out: undefined };
  const numeric: Record<string, keyof Options> = {
    '--minutes': 'minutes',
    '--restart-every': 'restartEvery',
    '--readers': 'readers',
    '--throttled': 'throttled',
    '--wt': 'wt',
    '--churn': 'churn',
    '--baseline': 'baseline',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) usage(`${key} needs a value`);
    if (key === '--out') o.out = value;
    else if (key in numeric) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) usage(`${key} takes a number ≥ 0`);
      (o as unknown as Record<string, number>)[numeric[key]!] = n;
    } else usage(`unknown option ${arg}`);
  }
  if (o.minutes < 1 || o.minutes > LIMITS.minutes) usage(`--minutes takes 1 to ${LIMITS.minutes}`);
  for (const k of ['readers', 'throttled', 'wt', 'churn'] as const) {
    if (!Number.isInteger(o[k]) || o[k] > LIMITS[k]) usage(`--${k} takes a whole number up to ${LIMITS[k]}`);
  }
  if (o.baseline !== undefined && o.baseline >= o.minutes) usage('--baseline must come before the end of the run');
  return o;
}

function usage(problem: string): never {
  process.stderr.write(
    `${problem}\nusage: npm run soak -- [--minutes 30] [--restart-every 5] [--readers 50] [--throttled 10] [--wt 20] [--churn 5] [--baseline 5] [--out FILE]\n`,
  );
  process.exit(2);
}

function machine(root: string): string {
  const tryRun = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000 }).split('\n')[0]!.trim();
    } catch {
      return `${cmd} unknown`;
    }
  };
  const ffmpeg = tryRun('ffmpeg', ['-hide_banner', '-version']).replace(/ Copyright.*/, '');
  const commit = tryRun('git', ['-C', root, 'describe', '--always', '--dirty']);
  return `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ${osType()} ${release()}; Node ${process.version}; ${ffmpeg}; Polycast ${commit}`;
}

/** One steady reader, whatever its transport, as the judge sees it. */
interface Steady {
  kind: 'ws-nal' | 'wt-fmp4';
  name: string;
  videoFrames: number;
  lastVideoAt: number;
  /** Set once: why this reader failed. */
  failed: string | undefined;
  sawOffline: boolean;
  /** First video frame after the current restart's stop, ms since that stop. */
  gapMs: number | undefined;
  close(): void;
}

const now = (): number => performance.now();
const clock = (ms: number): string => {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

class Soak {
  readonly steady: Steady[] = [];
  readonly throttled: ThrottledReader[] = [];
  readonly wtReaders: WtReader[] = [];
  readonly failures: string[] = [];
  readonly restarts: RestartResult[] = [];
  publisher: Publisher | undefined;
  /** When the current publisher was started; undefined while it is off the air. */
  onAirSince: number | undefined;
  private restartStop: number | undefined;
  serverDied: string | undefined;

  constructor(
    readonly o: Options,
    readonly server: ServerProcess,
    readonly clip: string,
    readonly sinkPort: number,
    readonly log: (line: string) => void,
  ) {}

  fail(reason: string): void {
    if (this.failures.length < 50) this.failures.push(`${clock(now() - this.loadStart)} ${reason}`);
  }

  loadStart = now();

  startPublisher(): void {
    this.publisher = publish(this.clip, this.server.rtmpUrl, this.sinkPort);
    this.onAirSince = now();
  }

  async restartPublisher(atMinute: number): Promise<void> {
    const stop = now();
    this.onAirSince = undefined;
    this.restartStop = stop;
    for (const s of this.steady) {
      s.sawOffline = false;
      s.gapMs = undefined;
    }
    await this.publisher?.stop();
    await sleep(OFF_AIR_MS);
    this.startPublisher();
    // The restart's numbers are read once every reader is back or the silence limit has passed.
    const deadline = now() + SILENCE_MS + 1000;
    while (now() < deadline && this.steady.some((s) => s.failed === undefined && s.gapMs === undefined)) await sleep(200);
    const open = this.steady.filter((s) => s.failed === undefined);
    this.restarts.push({
      atMinute,
      nalGapsMs: open.filter((s) => s.kind === 'ws-nal' && s.gapMs !== undefined).map((s) => s.gapMs!),
      wtGapsMs: open.filter((s) => s.kind === 'wt-fmp4' && s.gapMs !== undefined).map((s) => s.gapMs!),
      sawOffline: open.filter((s) => s.sawOffline).length,
      open: open.length,
    });
    for (const s of open) if (!s.sawOffline) this.fail(`${s.name} did not see 'offline' at the restart at minute ${atMinute.toFixed(1)}`);
    this.restartStop = undefined;
  }

  /** Video arrived for a steady reader. */
  onVideo(s: Steady): void {
    const t = now();
    s.videoFrames++;
    s.lastVideoAt = t;
    if (this.restartStop !== undefined && s.gapMs === undefined && this.onAirSince !== undefined) s.gapMs = t - this.restartStop;
  }

  endSteady(s: Steady, reason: string): void {
    if (s.failed !== undefined) return;
    s.failed = reason;
    this.fail(`${s.name} ${reason}`);
  }

  addNal(index: number): void {
    const s: Steady = {
      kind: 'ws-nal',
      name: `ws-nal reader ${index}`,
      videoFrames: 0,
      lastVideoAt: now(),
      failed: undefined,
      sawOffline: false,
      gapMs: undefined,
      close: () => reader.close(),
    };
    const reader = new LeanReader(this.server.reader, {
      message: (opcode, head, length) => {
        if (opcode === OP_BINARY && head[0] === 0x01) this.onVideo(s);
        else if (opcode === OP_TEXT && isOffline(head, length)) s.sawOffline = true;
      },
      end: (r) => this.endSteady(s, `${r.state}: ${r.error ?? 'no reason'}`),
    });
    this.steady.push(s);
  }

  addWt(index: number, certificateSha256: string): void {
    const s: Steady = {
      kind: 'wt-fmp4',
      name: `wt-fmp4 session ${index}`,
      videoFrames: 0,
      lastVideoAt: now(),
      failed: undefined,
      sawOffline: false,
      gapMs: undefined,
      close: () => reader.close(),
    };
    const reader = new WtReader(
      { host: '127.0.0.1', port: this.server.httpPort, path: `/${STREAM_PATH}/wt/fmp4`, certificateSha256 },
      {
        video: () => this.onVideo(s),
        control: (_r, m) => {
          if (m.type === 'offline') s.sawOffline = true;
        },
        end: (r) => this.endSteady(s, `${r.state}: ${r.error ?? 'no reason'}`),
      },
    );
    this.steady.push(s);
    this.wtReaders.push(reader);
  }

  addThrottled(index: number): void {
    const r = new ThrottledReader(
      { host: '127.0.0.1', port: this.server.httpPort, path: `/${STREAM_PATH}/ws/fmp4`, bitsPerSecond: CLIP_BITS_PER_SECOND / 2 },
      { end: (x) => this.fail(`throttled ws-fmp4 reader ${index} ${x.state}: ${x.error ?? 'no reason'}`) },
    );
    this.throttled.push(r);
  }

  /** Steady readers silent for too long while the publisher is on air. */
  checkSilence(): void {
    const since = this.onAirSince;
    if (since === undefined) return;
    const t = now();
    for (const s of this.steady) {
      if (s.failed !== undefined) continue;
      if (t - Math.max(s.lastVideoAt, since) > SILENCE_MS) this.endSteady(s, `got no video for ${((t - s.lastVideoAt) / 1000).toFixed(1)} s`);
    }
  }
}

function isOffline(head: Uint8Array, length: number): boolean {
  const prefix = '{"type":"offline"';
  if (length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (head[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

async function waitLive(server: ServerProcess, publisher: Publisher): Promise<void> {
  const deadline = now() + LIVE_TIMEOUT_MS;
  let probe: LeanReader | undefined;
  let live = false;
  try {
    while (!live) {
      if (!server.alive()) throw new Error(`the server exited: ${server.stderr().trim().slice(-300)}`);
      if (!publisher.alive()) throw new Error(`ffmpeg exited: ${publisher.stderr().trim().slice(-300)}`);
      if (now() > deadline) throw new Error(`no keyframe reached a reader within ${LIVE_TIMEOUT_MS} ms`);
      if (probe === undefined || probe.state === 'closed' || probe.state === 'failed') probe = new LeanReader(server.reader, { keyframe: () => (live = true) });
      await sleep(100);
    }
  } finally {
    probe?.close();
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const root = packageRoot();
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const baselineMinute = o.baseline ?? (o.minutes >= 15 ? 5 : Math.max(1, Math.floor(o.minutes / 3)));
  const out = o.out === undefined ? join(root, o.minutes >= FULL_MINUTES ? 'docs/robustness.md' : 'bench/.cache/robustness-soak.md') : isAbsolute(o.out) ? o.out : join(process.cwd(), o.out);
  const startedAt = new Date();
  const clip = ensureClip(join(root, 'bench/.cache'), log);
  const machineText = machine(root);

  // The reference sink is not needed for latency here; ffmpeg's tee simply wants somewhere to write.
  const sink = new ReferenceSink();
  const sinkPort = await sink.listen();
  const server = await startServer('polycast', { root, webTransport: true, inspect: true });
  const soak = new Soak(o, server, clip, sinkPort, log);
  const serverGone = server.exited.then(() => {
    soak.serverDied ??= `exited during the run; stderr: ${server.stderr().trim().slice(-400)}`;
  });
  void serverGone;
  let churn: Churn | undefined;
  const timers: NodeJS.Timeout[] = [];
  try {
    soak.startPublisher();
    await waitLive(server, soak.publisher!);
    const hash = (await (await fetch(`http://127.0.0.1:${server.httpPort}/certificate.sha256`)).text()).trim();
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`/certificate.sha256 answered ${JSON.stringify(hash.slice(0, 80))}`);
    log(
      `soak: ${o.minutes} min, ${o.readers} ws-nal, ${o.throttled} throttled ws-fmp4, ${o.wt} wt-fmp4, churn ${o.churn}/s, ` +
        `publisher restart every ${o.restartEvery || '∞'} min; baseline minute ${baselineMinute}; server pid ${server.pid}`,
    );
    for (let i = 0; i < o.readers; i++) {
      soak.addNal(i);
      await sleep(OPEN_SPACING_MS.nal);
    }
    for (let i = 0; i < o.throttled; i++) {
      soak.addThrottled(i);
      await sleep(OPEN_SPACING_MS.throttled);
    }
    for (let i = 0; i < o.wt; i++) {
      soak.addWt(i, hash);
      await sleep(OPEN_SPACING_MS.wt);
    }
    if (o.churn > 0) {
      churn = new Churn({
        target: server.reader,
        perSecond: o.churn,
        abortEvery: CHURN_ABORT_EVERY,
        readMs: CHURN_READ_MS,
        firstKeyframeMs: CHURN_FIRST_KEYFRAME_MS,
        onAirSince: () => soak.onAirSince,
      });
    }

    soak.loadStart = now();
    const loadEnd = soak.loadStart + o.minutes * 60_000;
    const rssSamples: Array<{ t: number; rss: number }> = [];
    const heapPerMinute: Array<number | undefined> = [await server.collectGarbage()];
    let gcMinute = 0;
    let peak = 0;
    const first = sampleProc(server.pid);
    const harnessFirst = process.cpuUsage();
    const machineFirst = machineTicks();
    let lastSample: ProcSample | undefined = first;
    let lastFrames = { nal: 0, wt: 0, throttled: 0 };
    const frames = () => ({
      nal: soak.steady.filter((s) => s.kind === 'ws-nal').reduce((n, s) => n + s.videoFrames, 0),
      wt: soak.steady.filter((s) => s.kind === 'wt-fmp4').reduce((n, s) => n + s.videoFrames, 0),
      throttled: soak.throttled.reduce((n, r) => n + r.videoFrames, 0),
    });
    const openCount = (kind: Steady['kind']) => soak.steady.filter((s) => s.kind === kind && s.failed === undefined).length;
    const sample = (): void => {
      const s = sampleProc(server.pid);
      if (s === undefined) return;
      const t = now() - soak.loadStart;
      rssSamples.push({ t, rss: s.rssMiB });
      peak = Math.max(peak, s.rssMiB);
      const minute = Math.floor(t / 60_000);
      if (minute > gcMinute) {
        gcMinute = minute;
        void server.collectGarbage().then((heap) => (heapPerMinute[minute] = heap));
      }
      const f = frames();
      const secs = lastSample ? (s.t - lastSample.t) / 1000 : SAMPLE_MS / 1000;
      const cores = lastSample ? (s.cpuS - lastSample.cpuS) / secs : 0;
      const per = (n: number, count: number): string => (count > 0 ? (n / count / secs).toFixed(1) : '—');
      log(
        `${clock(t)} rss ${s.rssMiB.toFixed(1)} MiB, cpu ${cores.toFixed(2)} | open: ws-nal ${openCount('ws-nal')}/${o.readers}, ` +
          `fmp4 ${soak.throttled.filter((r) => r.state === 'open').length}/${o.throttled}, wt ${openCount('wt-fmp4')}/${o.wt} | ` +
          `video fps: ws-nal ${per(f.nal - lastFrames.nal, o.readers)}, wt ${per(f.wt - lastFrames.wt, o.wt)}, throttled ${per(f.throttled - lastFrames.throttled, o.throttled)} | ` +
          `wt groups reset ${soak.wtReaders.reduce((n, r) => n + r.groupsReset, 0)} | churn ${churn?.opened ?? 0} (${churn?.failed ?? 0} failed, ${churn?.open ?? 0} open) | restarts ${soak.restarts.length}` +
          `${soak.onAirSince === undefined ? ' (off air)' : ''} | failures ${soak.failures.length + (churn?.failed ?? 0)}`,
      );
      lastSample = s;
      lastFrames = f;
    };
    // The peak between 10 s samples matters too: a second-by-second reading catches spikes.
    timers.push(
      setInterval(() => {
        const s = sampleProc(server.pid);
        if (s !== undefined) peak = Math.max(peak, s.rssMiB);
        soak.checkSilence();
      }, CHECK_MS),
    );
    timers.push(setInterval(sample, SAMPLE_MS));

    const restartTimes: number[] = [];
    if (o.restartEvery > 0) for (let m = o.restartEvery; m < o.minutes; m += o.restartEvery) restartTimes.push(m);
    for (const m of restartTimes) {
      await sleepUntil(soak.loadStart + m * 60_000, () => soak.serverDied !== undefined);
      if (soak.serverDied !== undefined) break;
      log(`${clock(now() - soak.loadStart)} restarting the publisher`);
      await soak.restartPublisher(m);
      const last = soak.restarts[soak.restarts.length - 1]!;
      log(`${clock(now() - soak.loadStart)} publisher back: ${last.sawOffline}/${last.open} saw offline; ws-nal back ${last.nalGapsMs.length}, wt back ${last.wtGapsMs.length}`);
    }
    await sleepUntil(loadEnd, () => soak.serverDied !== undefined);
    sample();
    heapPerMinute[o.minutes] ??= await server.collectGarbage();
    const end = sampleProc(server.pid);
    const harness = process.cpuUsage(harnessFirst);
    const machineEnd = machineTicks();
    for (const t of timers) clearInterval(t);
    churn?.stop();

    const loadSeconds = (now() - soak.loadStart) / 1000;
    const at = (minute: number): number | undefined => {
      // The sample nearest the minute mark, within one sampling period.
      let best: { t: number; rss: number } | undefined;
      for (const s of rssSamples) if (best === undefined || Math.abs(s.t - minute * 60_000) < Math.abs(best.t - minute * 60_000)) best = s;
      return best !== undefined && Math.abs(best.t - minute * 60_000) <= SAMPLE_MS ? best.rss : undefined;
    };
    const rssPerMinute = [first?.rssMiB, ...Array.from({ length: o.minutes }, (_, i) => at(i + 1))];
    const nal = soak.steady.filter((s) => s.kind === 'ws-nal');
    const wt = soak.steady.filter((s) => s.kind === 'wt-fmp4');
    const fps = (list: Steady[]): number => (list.length ? list.reduce((n, s) => n + s.videoFrames, 0) / list.length / loadSeconds : 0);
    const result: SoakResult = {
      date: startedAt,
      machine: machineText,
      minutes: o.minutes,
      baselineMinute,
      load:
        `${o.readers} ws-nal, ${o.throttled} ws-fmp4 (RTWebSocket) at ${(CLIP_BITS_PER_SECOND / 2 / 1e6).toFixed(2)} Mbit/s, ${o.wt} wt-fmp4, ` +
        `churn ${o.churn}/s (every ${CHURN_ABORT_EVERY}th abandons its upgrade), publisher restart every ${o.restartEvery || '∞'} min; clip ${CLIP_FPS} fps`,
      rssBaselineMiB: at(baselineMinute),
      rssPeakMiB: peak,
      rssEndMiB: rssSamples[rssSamples.length - 1]?.rss,
      rssPerMinute,
      heapPerMinute: Array.from({ length: o.minutes + 1 }, (_, i) => heapPerMinute[i]),
      machineBusyCores: 0,
      machineCores: cpus().length,
      cpuMeanCores: first && end ? (end.cpuS - first.cpuS) / loadSeconds : undefined,
      harnessCores: (harness.user + harness.system) / 1e6 / loadSeconds,
      steady: {
        nal: nal.length,
        wt: wt.length,
        nalFailed: nal.filter((s) => s.failed !== undefined).length,
        wtFailed: wt.filter((s) => s.failed !== undefined).length,
        nalFps: fps(nal),
        wtFps: fps(wt),
        wtGroupsReset: soak.wtReaders.reduce((n, r) => n + r.groupsReset, 0),
        wtGroups: soak.wtReaders.reduce((n, r) => n + r.groups, 0),
      },
      throttled: {
        count: soak.throttled.length,
        disconnected: soak.throttled.filter((r) => r.state !== 'open').length,
        abandoned: soak.throttled.reduce((n, r) => n + r.abandoned, 0),
        serverAbandoned: soak.throttled.reduce((n, r) => n + r.serverAbandoned, 0),
        videoFps: soak.throttled.length ? soak.throttled.reduce((n, r) => n + r.videoFrames, 0) / soak.throttled.length / loadSeconds : 0,
        kbps: soak.throttled.length ? (soak.throttled.reduce((n, r) => n + r.bytesRead, 0) * 8) / 1000 / soak.throttled.length / loadSeconds : 0,
      },
      churn: { opened: churn?.opened ?? 0, aborted: churn?.aborted ?? 0, completed: churn?.completed ?? 0, failed: churn?.failed ?? 0 },
      restarts: soak.restarts,
      serverDied: soak.serverDied,
      failures: [...soak.failures, ...(churn?.failures ?? [])],
    };
    const busy = machineEnd.total > machineFirst.total ? ((machineEnd.busy - machineFirst.busy) / (machineEnd.total - machineFirst.total)) * cpus().length : 0;
    result.machineBusyCores = busy;
    log(`\nsoak done (machine busy ${busy.toFixed(2)} of ${cpus().length} cores on average)`);
    log(consoleSummary(result));
    writeSection(out, markdownSection(result));
    log(`wrote the ## Soak section to ${relative(process.cwd(), out) || out}`);
    process.exitCode = passed(result) ? 0 : 1;
  } finally {
    for (const t of timers) clearInterval(t);
    churn?.stop();
    for (const s of soak.steady) s.close();
    for (const r of soak.throttled) r.close();
    await soak.publisher?.stop();
    await server.stop();
    await sink.close();
  }
}

async function sleepUntil(t: number, abort: () => boolean): Promise<void> {
  while (now() < t && !abort()) await sleep(Math.min(500, t - now()));
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
