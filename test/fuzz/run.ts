/**
 * The full fuzz run (`npm run fuzz`, through run.mjs): for each target, a fresh
 * Polycast child with a publisher and a watching reader, the target's cases
 * over the wire (and its pure parser in this process), then the numbers the
 * issue asks for, written to docs/robustness.md.
 *
 *   --target a,b   only these targets (default: all)
 *   --count n      messages per target (default 100000)
 *   --seed s       (default 1)
 *   --case i       run only case i of one target, print its verdict (reproduction)
 *   --no-docs      do not touch docs/robustness.md
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';
import { hex } from './harness.js';
import { ServerProcess, Watch } from './server-process.js';
import { Progress, sleep, type CaseContext, type Finding, type FuzzTarget } from './target.js';
import { TARGETS } from './targets/index.js';

export interface Scripts {
  server: string;
  configWorker: string;
  watchWorker: string;
}

export interface TargetResult {
  target: string;
  messages: number;
  cases: number;
  inProcessCases: number;
  seconds: number;
  alive: boolean;
  fpsMin: number;
  /** RSS of the child before anything reached it but the watcher (only with a warm-up). */
  rssCold?: number;
  rssBefore: number;
  /** V8 heap in use after a full collection, before and after (MiB). */
  heapBefore?: number;
  heapAfter?: number;
  rssPeak: number;
  rssAfter: number;
  findings: Array<Finding & { occurrences: number }>;
}

export interface RunOptions {
  count: number;
  seed: number;
  concurrency?: number;
  onlyCase?: number;
  /** Where reproducers are written; none when undefined. */
  findingsDir?: string;
  /** Skip the in-process parser pass. */
  wireOnly?: boolean;
  /**
   * Cases of this many messages run first, with another seed, before RSS
   * "before" is read: the first use of a code path grows the heap for good
   * (compiled code, pools, allocator arenas), which is not what "back within
   * 10 % of its start" is about. Their findings count like the others.
   */
  warmup?: number;
}

/** Findings that differ only in numbers are one finding seen several times. */
function findingKey(f: Omit<Finding, 'target' | 'seed'>): string {
  return `${f.kind}|${f.detail.replace(/\d+/g, '#').slice(0, 100)}`;
}

export class FindingLog {
  readonly items = new Map<string, Finding & { occurrences: number }>();

  constructor(
    private readonly target: string,
    private readonly seed: number,
  ) {}

  add(f: Omit<Finding, 'target' | 'seed'>): void {
    const key = findingKey(f);
    const seen = this.items.get(key);
    if (seen) seen.occurrences++;
    else this.items.set(key, { ...f, target: this.target, seed: this.seed, occurrences: 1 });
  }
}

export interface System {
  server: ServerProcess;
  watch: Watch;
}

export async function startSystem(scripts: Scripts): Promise<System> {
  const server = await ServerProcess.start(scripts.server);
  const watch = new Watch(server);
  try {
    await watch.start();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { server, watch };
}

export async function stopSystem(s: System): Promise<void> {
  await s.watch.stop();
  await s.server.stop();
}

/**
 * Runs one target against `system` (its own, or one shared by the smoke test).
 * RSS is sampled every 250 ms from /proc; "after" is read once the target's
 * connections are gone and the server had a few seconds to settle.
 */
export async function runTarget(target: FuzzTarget, system: System, o: RunOptions, settleMs = 3000): Promise<TargetResult> {
  const { server, watch } = system;
  const log = new FindingLog(target.name, o.seed);
  const progress = new Progress();
  const closesBefore = watch.readerCloses.length;
  const exitsBefore = watch.publisherExits;
  const baseCtx = (count: number, seed: number, progress: Progress): CaseContext => ({
    seed,
    count,
    ports: server.ports,
    concurrency: o.concurrency ?? 8,
    onlyCase: o.onlyCase,
    progress,
    alive: () => server.alive(),
    sent: (n = 1) => (progress.messages += n),
    finding: (f) => log.add(f),
  });
  let rssCold: number | undefined;
  let prepared = false;
  if (o.warmup !== undefined && o.warmup > 0 && o.onlyCase === undefined) {
    rssCold = server.rss() ?? 0;
    const warm = baseCtx(o.warmup, o.seed + 1_000_003, new Progress());
    try {
      await target.prepare?.(warm);
      prepared = true;
      await target.wire(warm);
    } catch (err) {
      log.add({ kind: 'contract', detail: `fuzzer error in warm-up: ${(err as Error).stack?.split('\n').slice(0, 4).join(' ')}` });
    }
    await sleep(settleMs);
  }
  const heapBefore = await server.collectGarbage();
  const rssBefore = server.rss() ?? 0;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, server.rss() ?? 0)), 250);
  watch.mark();
  const t0 = performance.now();
  const ctx = baseCtx(o.count, o.seed, progress);
  try {
    if (!prepared) await target.prepare?.(ctx);
    await target.wire(ctx);
  } catch (err) {
    // A target's own failure (not the server's) still must not hide the numbers.
    log.add({ kind: 'contract', detail: `fuzzer error: ${(err as Error).stack?.split('\n').slice(0, 4).join(' ')}` });
  }
  const wireSeconds = (performance.now() - t0) / 1000;
  const fpsDuring = [...watch.fps];
  await sleep(settleMs);
  clearInterval(sampler);
  const heapAfter = await server.collectGarbage();
  const rssAfter = server.rss() ?? 0;
  const alive = server.alive();
  // The pure parsers run last: their synchronous loop would stall this process's
  // reader and show up as a frame-rate dip that the server never caused.
  let inProcessCases = 0;
  if (!o.wireOnly && target.inProcess) {
    inProcessCases = target.inProcess({ seed: o.seed, count: o.onlyCase === undefined ? o.count : 1, finding: (f) => log.add(f) });
  }
  if (!alive) log.add({ kind: 'crash', detail: `server exited (${JSON.stringify(server.exitInfo)}): ${server.log.tail.slice(-8).join(' | ')}` });
  for (const reason of watch.readerCloses.slice(closesBefore)) log.add({ kind: 'collateral', detail: `watching reader closed: ${reason}` });
  if (watch.publisherExits > exitsBefore) {
    log.add({ kind: 'collateral', detail: `publisher disconnected ${watch.publisherExits - exitsBefore} time(s): ${watch.publisher.stderr().slice(-200)}` });
  }
  const fpsMin = fpsDuring.length > 0 ? Math.min(...fpsDuring) : watch.fps[0] ?? 0;
  if (fpsMin < 25) log.add({ kind: 'degradation', detail: `watching reader at ${fpsMin} fps (samples ${fpsDuring.join(',')})` });
  // A leak shows in the heap after a full collection; 2 MiB of slack for what the watcher's traffic has in flight.
  if (heapBefore !== undefined && heapAfter !== undefined && heapAfter > heapBefore * 1.1 + 2) {
    log.add({ kind: 'degradation', detail: `heap after a full collection ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB` });
  }
  if (rssAfter > rssBefore * 1.1) log.add({ kind: 'degradation', detail: `RSS ${rssBefore.toFixed(0)} → peak ${rssPeak.toFixed(0)} → after ${rssAfter.toFixed(0)} MiB` });
  const findings = [...log.items.values()];
  if (o.findingsDir) writeFindings(o.findingsDir, findings);
  return {
    target: target.name,
    messages: progress.messages,
    cases: progress.cases,
    inProcessCases,
    seconds: wireSeconds,
    alive,
    fpsMin,
    rssCold,
    rssBefore,
    heapBefore,
    heapAfter,
    rssPeak,
    rssAfter,
    findings,
  };
}

/** One JSON per finding, and the bytes when small enough to keep in the repo. */
function writeFindings(dir: string, findings: readonly Finding[]): void {
  mkdirSync(dir, { recursive: true });
  for (const f of findings) {
    if (f.caseIndex === undefined) continue;
    const base = join(dir, `${f.target}-seed${f.seed}-case${f.caseIndex}`);
    writeFileSync(`${base}.json`, `${JSON.stringify({ ...f, bytes: f.bytes ? hex(f.bytes, 1 << 16) : undefined }, null, 2)}\n`);
    if (f.bytes && f.bytes.length <= 1 << 16) writeFileSync(`${base}.bin`, f.bytes);
  }
}

const TABLE_START = '<!-- fuzz-table:start -->';
const TABLE_END = '<!-- fuzz-table:end -->';
const HEADER = [
  '| target | messages | cases | in-process | msg/s | alive | reader fps min | RSS cold / before / peak / after (MiB) | heap before / after (MiB) | findings |',
  '| --- | ---: | ---: | ---: | ---: | --- | ---: | --- | --- | --- |',
];

const mib = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(1));

function row(r: TargetResult): string {
  const findings =
    r.findings.length === 0
      ? 'none'
      : r.findings
          .map((f) => `${f.kind}${f.caseIndex === undefined ? '' : ` (case ${f.caseIndex})`}${f.occurrences > 1 ? ` ×${f.occurrences}` : ''}: ${f.detail.replace(/\|/g, '\\|').replace(/\s+/g, ' ').slice(0, 160)}`)
          .join('<br>');
  return `| ${r.target} | ${r.messages} | ${r.cases} | ${r.inProcessCases} | ${(r.messages / Math.max(r.seconds, 0.001)).toFixed(0)} | ${r.alive ? 'yes' : '**no**'} | ${r.fpsMin} | ${r.rssCold === undefined ? '–' : r.rssCold.toFixed(0)} / ${r.rssBefore.toFixed(0)} / ${r.rssPeak.toFixed(0)} / ${r.rssAfter.toFixed(0)} | ${mib(r.heapBefore)} / ${mib(r.heapAfter)} | ${findings} |`;
}

/** Replaces the rows of the targets that ran, keeps the others, in TARGETS order. */
export function updateTable(docPath: string, results: readonly TargetResult[], seed: number): void {
  const text = readFileSync(docPath, 'utf8');
  const start = text.indexOf(TABLE_START);
  const end = text.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`${docPath} has no ${TABLE_START} … ${TABLE_END} section`);
  const rows = new Map<string, string>();
  for (const line of text.slice(start, end).split('\n')) {
    const m = /^\| ([a-z0-9-]+) \| \d/.exec(line);
    if (m) rows.set(m[1]!, line);
  }
  for (const r of results) rows.set(r.target, row(r));
  const ordered = TARGETS.map((t) => rows.get(t.name)).filter((l): l is string => l !== undefined);
  const body = [TABLE_START, `Last run: ${new Date().toISOString().slice(0, 10)}, seed ${seed}, on ${process.platform} Node ${process.version}.`, '', ...HEADER, ...ordered, TABLE_END].join('\n');
  writeFileSync(docPath, text.slice(0, start) + body + text.slice(end + TABLE_END.length));
}

function parseArgs(argv: string[]): { targets: FuzzTarget[]; o: RunOptions; docs: boolean } {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const names = get('target')?.split(',');
  const targets = names ? names.map((n) => TARGETS.find((t) => t.name === n) ?? failArg(`unknown target ${n}; targets: ${TARGETS.map((t) => t.name).join(', ')}`)) : [...TARGETS];
  const onlyCase = get('case') === undefined ? undefined : Number(get('case'));
  if (onlyCase !== undefined && targets.length !== 1) failArg('--case needs exactly one --target');
  return {
    targets,
    docs: !argv.includes('--no-docs') && onlyCase === undefined,
    o: { count: Number(get('count') ?? 100_000), seed: Number(get('seed') ?? 1), onlyCase, warmup: Number(get('warmup') ?? 2000), findingsDir: onlyCase === undefined ? join(packageRoot(), 'test/fuzz/findings') : undefined },
  };
}

function failArg(message: string): never {
  throw new Error(message);
}

export async function main(argv: string[], scripts: Scripts): Promise<number> {
  process.env.POLYCAST_FUZZ_CONFIG_WORKER = scripts.configWorker;
  process.env.POLYCAST_FUZZ_WATCH_WORKER = scripts.watchWorker;
  const { targets, o, docs } = parseArgs(argv);
  const root = packageRoot();
  const results: TargetResult[] = [];
  for (const target of targets) {
    process.stdout.write(`fuzz ${target.name}: ${o.onlyCase === undefined ? `${o.count} messages` : `case ${o.onlyCase}`}, seed ${o.seed}\n`);
    const system = await startSystem(scripts);
    let r: TargetResult;
    try {
      r = await runTarget(target, system, target.fullWarmup && o.warmup !== 0 ? { ...o, warmup: o.count } : o, target.settleMs);
    } finally {
      await stopSystem(system);
    }
    results.push(r);
    process.stdout.write(`${row(r)}\n`);
    for (const f of r.findings) process.stdout.write(`  ${f.kind} ×${f.occurrences} case ${f.caseIndex ?? '-'}: ${f.detail.slice(0, 400)}${f.bytes ? `\n    bytes ${hex(f.bytes, 256)}` : ''}\n`);
  }
  if (docs) updateTable(join(root, 'docs/robustness.md'), results, o.seed);
  return results.some((r) => r.findings.length > 0) ? 1 : 0;
}
