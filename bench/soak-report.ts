/**
 * The soak's result as text: a console summary and the `## Soak` section of
 * docs/robustness.md, which is replaced in place so the rest of that file
 * (written by other tools) is left as it is.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export interface RestartResult {
  /** Minutes into the load when the publisher was stopped. */
  atMinute: number;
  /** Stop → first video frame again, per steady reader that got one (ms). */
  nalGapsMs: number[];
  wtGapsMs: number[];
  /** Steady readers that saw `offline` during this restart, of those open. */
  sawOffline: number;
  open: number;
}

export interface SoakResult {
  date: Date;
  machine: string;
  minutes: number;
  baselineMinute: number;
  load: string;
  rssBaselineMiB: number | undefined;
  rssPeakMiB: number;
  rssEndMiB: number | undefined;
  /** RSS at each whole minute of the load, index = minute. */
  rssPerMinute: Array<number | undefined>;
  /** V8 heap in use after a full collection, taken just after each whole minute; index = minute. */
  heapPerMinute: Array<number | undefined>;
  /** How much of the machine was busy during the load (all processes), in cores: other work skews a soak. */
  machineBusyCores: number;
  machineCores: number;
  cpuMeanCores: number | undefined;
  harnessCores: number | undefined;
  steady: { nal: number; wt: number; nalFailed: number; wtFailed: number; nalFps: number; wtFps: number; wtGroups: number; wtGroupsReset: number };
  throttled: { count: number; disconnected: number; abandoned: number; serverAbandoned: number; videoFps: number; kbps: number };
  churn: { opened: number; aborted: number; completed: number; failed: number };
  restarts: RestartResult[];
  serverDied: string | undefined;
  failures: string[];
}

/** Within this share of the baseline, RSS has come back. */
export const RSS_TOLERANCE = 0.1;
/** Heap growth after a full collection beyond the same share plus this much (MiB) is held memory: a leak. */
export const HEAP_SLACK_MIB = 2;

export function heapVerdict(r: SoakResult): { pass: boolean; text: string } {
  const before = r.heapPerMinute[r.baselineMinute];
  const after = [...r.heapPerMinute].reverse().find((v) => v !== undefined);
  if (before === undefined || after === undefined) return { pass: false, text: 'no reading (inspector did not answer?)' };
  const pass = after <= before * (1 + RSS_TOLERANCE) + HEAP_SLACK_MIB;
  return { pass, text: `${pass ? 'pass' : 'FAIL'}: ${before.toFixed(1)} → ${after.toFixed(1)} MiB after a full collection (minute ${r.baselineMinute} → end)` };
}

export function rssVerdict(r: SoakResult): { pass: boolean; text: string } {
  if (r.rssBaselineMiB === undefined || r.rssEndMiB === undefined) return { pass: false, text: 'no reading (the server died?)' };
  const change = (r.rssEndMiB - r.rssBaselineMiB) / r.rssBaselineMiB;
  const pass = Math.abs(change) <= RSS_TOLERANCE;
  return { pass, text: `${pass ? 'pass' : 'FAIL'}: end ${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)} % of minute ${r.baselineMinute}` };
}

export function passed(r: SoakResult): boolean {
  return (
    rssVerdict(r).pass &&
    heapVerdict(r).pass &&
    r.serverDied === undefined &&
    r.steady.nalFailed === 0 &&
    r.steady.wtFailed === 0 &&
    r.throttled.disconnected === 0 &&
    r.churn.failed === 0
  );
}

const mib = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(1));

function gaps(values: number[]): string {
  if (values.length === 0) return '—';
  const s = [...values].sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)]!;
  return `${(median / 1000).toFixed(1)} s median, ${(s[s.length - 1]! / 1000).toFixed(1)} s max`;
}

function restartLine(x: RestartResult): string {
  return `minute ${x.atMinute.toFixed(1)}: ws-nal ${gaps(x.nalGapsMs)}, wt-fmp4 ${gaps(x.wtGapsMs)}, offline seen by ${x.sawOffline}/${x.open}`;
}

export function tableRows(r: SoakResult): Array<[string, string]> {
  const v = rssVerdict(r);
  return [
    ['date', r.date.toISOString().replace(/\.\d+Z$/, 'Z')],
    ['machine', r.machine],
    ['duration', `${r.minutes} min of load (baseline: minute ${r.baselineMinute})`],
    ['load', r.load],
    [`RSS minute ${r.baselineMinute} / peak / end`, `${mib(r.rssBaselineMiB)} / ${mib(r.rssPeakMiB)} / ${mib(r.rssEndMiB)} MiB`],
    ['RSS verdict', v.text],
    ['heap verdict (leaks)', heapVerdict(r).text],
    [
      'CPU mean',
      r.cpuMeanCores === undefined
        ? '—'
        : `${r.cpuMeanCores.toFixed(2)} cores (server); load clients ${r.harnessCores?.toFixed(2) ?? '—'} cores; machine busy ${r.machineBusyCores.toFixed(2)} of ${r.machineCores} cores`,
    ],
    ['steady readers failed', `ws-nal ${r.steady.nalFailed}/${r.steady.nal}, at ${r.steady.nalFps.toFixed(1)} video fps each`],
    [
      'WT sessions failed',
      `${r.steady.wtFailed}/${r.steady.wt}, at ${r.steady.wtFps.toFixed(1)} video fps each; ${r.steady.wtGroupsReset} of ${r.steady.wtGroups} GOP streams reset by the server (a session that fell behind)`,
    ],
    [
      'throttled ws-fmp4 readers',
      `${r.throttled.disconnected}/${r.throttled.count} disconnected; read ${r.throttled.kbps.toFixed(0)} kbit/s, ${r.throttled.videoFps.toFixed(1)} video fps each; ` +
        `drops: ${r.throttled.abandoned} segments abandoned (server's count ${r.throttled.serverAbandoned})`,
    ],
    ['churn opened / failed', `${r.churn.opened} / ${r.churn.failed} (${r.churn.aborted} abandoned their upgrade on purpose, ${r.churn.completed} read to the end)`],
    ['publisher restarts', r.restarts.length === 0 ? 'none' : `${r.restarts.length}; gap stop → frames again: ${r.restarts.map(restartLine).join('; ')}`],
    ['server', r.serverDied === undefined ? 'alive throughout' : `DIED: ${r.serverDied}`],
  ];
}

export function rssLine(r: SoakResult): string {
  return r.rssPerMinute.map((v, minute) => `${minute}: ${mib(v)}`).join(' · ');
}

export function heapLine(r: SoakResult): string {
  return r.heapPerMinute.map((v, minute) => `${minute}: ${mib(v)}`).join(' · ');
}

export function consoleSummary(r: SoakResult): string {
  const rows = tableRows(r);
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`);
  lines.push(`  ${'RSS per minute (MiB)'.padEnd(width)}  ${rssLine(r)}`);
  lines.push(`  ${'heap per minute (MiB)'.padEnd(width)}  ${heapLine(r)}`);
  if (r.failures.length > 0) lines.push('  failures:', ...r.failures.map((f) => `    ${f}`));
  lines.push(`  ${passed(r) ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}

export function markdownSection(r: SoakResult): string {
  const escape = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [
    '## Soak',
    '',
    '`npm run soak` (`bench/soak.ts`, not in CI): Polycast as a child process with WebTransport on, the bench clip',
    '(720p30, 2.5 Mbit/s) published by a looped `ffmpeg -c copy` that is stopped and started again every few minutes,',
    'steady ws-nal readers, ws-fmp4 (RTWebSocket) readers that read their socket at half the bit rate, wt-fmp4',
    'WebTransport sessions, and a churn of short ws-nal readers. RSS is sampled every 10 s; it must end within',
    `${RSS_TOLERANCE * 100} % of its value at the baseline minute, and no reader may fail but for the throttled ones' drops.`,
    'Just after each whole minute the server (started with its inspector on loopback) does a full garbage collection',
    `and reports its V8 heap in use: heap growth of more than ${RSS_TOLERANCE * 100} % + ${HEAP_SLACK_MIB} MiB from the baseline minute to the end is held`,
    'memory, a leak; RSS that grows while the heap stays flat is the allocator keeping what a busy moment took.',
    'A steady reader fails when it is closed or gets no video for 10 s outside a restart; a churn reader when it',
    'is closed early or gets no keyframe within 5 s of the publisher being on air.',
    '',
    '| | |',
    '| --- | --- |',
    ...tableRows(r).map(([k, v]) => `| ${escape(k)} | ${escape(v)} |`),
    `| verdict | **${passed(r) ? 'pass' : 'FAIL'}** |`,
    '',
    `RSS over time (MiB, minute: value): ${rssLine(r)}`,
    '',
    `Heap in use after a full collection (MiB, minute: value): ${heapLine(r)}`,
    '',
  ];
  if (r.failures.length > 0) lines.push('Failures (first ones):', '', ...r.failures.map((f) => `- ${f}`), '');
  return lines.join('\n');
}

/**
 * Puts `section` (which starts with `## Soak`) into the file: replaces the
 * existing section up to the next `## ` heading, or appends it; creates the
 * file with a title if there is none.
 */
export function writeSection(file: string, section: string): void {
  if (!existsSync(file)) {
    writeFileSync(file, `# Robustness\n\n${section}`);
    return;
  }
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^## Soak\s*$/.test(l));
  if (start < 0) {
    writeFileSync(file, `${text.replace(/\n*$/, '\n\n')}${section}`);
    return;
  }
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  const before = lines.slice(0, start).join('\n');
  const after = lines.slice(end).join('\n');
  writeFileSync(file, `${before}${before ? '\n' : ''}${section}${after ? `\n${after}` : ''}`);
}
