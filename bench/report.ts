/**
 * Turns a bench run into tables (aligned text for the terminal, Markdown for
 * docs/benchmarks.md), a verdict per target, and a reading of the numbers
 * written from the numbers themselves, so the document never says more than
 * the run showed.
 */
import type { EdgeLatencyResult } from './edge.js';
import type { SrtLatencyResult } from './srt-latency.js';
import type { FanoutResult, FanoutTiming } from './fanout.js';
import type { HlsResult, HlsTiming } from './hls.js';
import type { EnginePaintResult } from './paint-engines.js';
import type { Ngtcp2FloorResult } from './ngtcp2-floor.js';
import type { QuicheFloorResult } from './quiche-floor.js';
import { floorParagraph, ngtcp2FloorParagraph, SINGLE_HEADERS, singleMethod, singleRows, WT_HEADERS, WT_METHOD, wtRows, wtVerdicts } from './wt-report.js';
import { SINGLE_SESSION_KBPS, type WtFanoutResult } from './wt-fanout.js';
import { firstPaintSummary, MPEGTS_AGGRESSIVE, MPEGTS_LIVESYNC, PLAYER_LABEL, type PaintResult, type PaintTiming } from './paint.js';
import { SERVER_LABEL, type ServerKind } from './servers.js';
import { HEAD_BYTES } from './ws-wire.js';
import type { KeyframeReadersSide } from './stats.js';

/**
 * What a run may take, waits and repeats included: a noisy fan-out phase is
 * repeated only while what is left still fits in here.
 */
export const RUN_BUDGET_MS = 15 * 60_000;

export interface MachineFacts {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  ffmpeg: string;
  chromium?: string;
  nms: string;
  mpegts: string;
  polycast: string;
}

export interface BenchRun {
  startedAt: Date;
  finishedAt: Date;
  mode: string;
  machine: MachineFacts;
  readerCounts: number[];
  fanoutTiming: FanoutTiming;
  paintTiming: PaintTiming;
  fanout: FanoutResult[];
  /** WebTransport sessions (wt-raw, wt-fmp4) beside ws-nal readers at the same counts; empty when the phase did not run. */
  webTransport: WtFanoutResult[];
  /** One session of a high-rate stream per transport (wt-raw, wt-fmp4, ws-nal); absent in older runs. */
  webTransportSingle?: WtFanoutResult[];
  /** quiche's binding alone, per packet, in memory (bench/quiche-floor.ts); absent in older runs. */
  quicheFloor?: QuicheFloorResult;
  /** The server's stack (native/quic-ngtcp2) alone, per packet, in memory, 50 sessions (bench/ngtcp2-floor.ts); absent in older runs. */
  ngtcp2Floor?: Ngtcp2FloorResult;
  paint: PaintResult[];
  /** The Polycast player in Chromium, Firefox and WebKitGTK: auto's choice and each other transport by name, sound on. */
  engines: EnginePaintResult[];
  hlsTiming: HlsTiming;
  hls: HlsResult[];
  /** Keyframe latency on an origin and on an edge pulling from it; absent when the phase did not run. */
  edge?: EdgeLatencyResult;
  /** Keyframe latency through SRT ingest and through RTMP ingest of the same packets; absent when the phase did not run. */
  srt?: SrtLatencyResult;
  loadAverage: { start: number[]; end: number[] };
  clip: string;
}

export interface Verdict {
  target: string;
  status: 'met' | 'not met' | 'not measured';
  measured: string;
}

type Cell = string;

function fmt(value: number | undefined, digits = 0): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

function textTable(headers: string[], rows: Cell[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Columns of words rather than figures, aligned left. */
const TEXT_COLUMNS = new Set(['Transport', 'Failed/stalled', 'Keyframes missed', 'Load clients (cores)', 'Reader on', 'Server', 'Player', 'Engine', 'Asked', 'Transport', 'Sound', 'Readers get it from', 'Status', 'Notes', 'First paint per load ms']);

function markdownTable(headers: string[], rows: Cell[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${headers.map(esc).join(' | ')} |`,
    `| ${headers.map((h) => (TEXT_COLUMNS.has(h) ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const perReaderMilli = (r: FanoutResult): number | undefined => (r.cores === undefined ? undefined : (r.cores / r.readers) * 1000);
const perReaderKiB = (r: FanoutResult): number | undefined =>
  r.rssMiB === undefined || r.idleRssMiB === undefined ? undefined : ((r.rssMiB - r.idleRssMiB) * 1024) / r.readers;
const missedShare = (r: FanoutResult): number | undefined => (r.expectedKeyframes > 0 ? (r.missedKeyframes / r.expectedKeyframes) * 100 : undefined);

function failedCell(r: FanoutResult): string {
  if (r.status === 'error' || r.status === 'crashed') return r.status;
  return r.stalled > 0 ? `${r.failed + r.stalled} (${r.stalled} stalled)` : String(r.failed);
}

const FANOUT_HEADERS = ['Server', 'Readers', 'p50 ms', 'p99 ms', 'CPU cores', 'CPU/reader m', 'RSS MiB', 'RSS/reader KiB', 'Failed readers', 'Keyframes missed', 'Status'];

function fanoutRows(results: FanoutResult[]): Cell[][] {
  return results.map((r) => [
    SERVER_LABEL[r.server],
    String(r.readers),
    fmt(r.p50, 1),
    fmt(r.p99, 1),
    fmt(r.cores, 2),
    fmt(perReaderMilli(r), 2),
    fmt(r.rssMiB, 0),
    fmt(perReaderKiB(r), 1),
    failedCell(r),
    r.expectedKeyframes > 0 ? `${fmt(missedShare(r), 1)} %` : '—',
    r.status,
  ]);
}

const DETAIL_HEADERS = [
  'Server',
  'Readers',
  'Idle RSS MiB',
  'Idle CPU',
  'Connect s',
  'Load client cores',
  'Load client stall ms',
  'ffmpeg+bench cores',
  'IRQ cores',
  'Machine busy cores',
  'Other load cores',
  'Ingest p50/p99 ms',
  'Reader spread ms',
  'Trend ms',
  'Notes',
];

function detailRows(results: FanoutResult[]): Cell[][] {
  return results.map((r) => [
    SERVER_LABEL[r.server],
    String(r.readers),
    fmt(r.idleRssMiB, 0),
    fmt(r.idleCores, 2),
    fmt(r.connectMs === undefined ? undefined : r.connectMs / 1000, 1),
    fmt(r.clientCores, 2),
    fmt(r.clientStallMs, 0),
    fmt(r.harnessCores, 2),
    fmt(r.irqCores, 2),
    fmt(r.machineCores, 2),
    fmt(r.otherCores, 2),
    r.ingestP50 === undefined ? '—' : `${fmt(r.ingestP50, 1)}/${fmt(r.ingestP99, 1)}`,
    fmt(r.spreadMs, 1),
    fmt(r.trendMs, 0),
    r.notes.join('; ') || '',
  ]);
}

const PAINT_HEADERS = ['Player', 'Painted p50 ms', 'Painted p99 ms', 'Changes', 'Skipped', 'First paint ms (median)', 'First paint per load ms', 'Status'];

function paintRows(results: PaintResult[]): Cell[][] {
  return results.map((r) => [
    PLAYER_LABEL[r.player],
    fmt(r.p50, 0),
    fmt(r.p99, 0),
    String(r.changes),
    String(r.skipped),
    fmt(firstPaintSummary(r), 0),
    r.firstPaintMs.map((v) => v.toFixed(0)).join(', ') || '—',
    `${r.status}${r.notes.length ? `: ${r.notes.join('; ')}` : ''}`,
  ]);
}

const ENGINE_HEADERS = ['Engine', 'Asked', 'Transport', 'Sound', 'Painted p50 ms', 'Painted p99 ms', 'Changes', 'Skipped', 'Frame interval ms', 'Player estimate ms', 'First paint ms (median)', 'First paint per load ms', 'Status'];

function engineRows(results: EnginePaintResult[]): Cell[][] {
  return results.map((r) => [
    r.version,
    r.mode,
    r.transport ?? '—',
    r.soundPlaying ? (r.soundPath ?? 'on') : 'none',
    fmt(r.p50, 0),
    fmt(r.p99, 0),
    String(r.changes),
    String(r.skipped),
    fmt(r.frameIntervalMs, 0),
    r.playerLatencyMs === null ? '—' : r.playerLatencyMs.toFixed(0),
    fmt(firstPaintSummary(r), 0),
    r.firstPaintMs.map((v) => v.toFixed(0)).join(', ') || '—',
    `${r.status}${r.notes.length ? `: ${r.notes.join('; ')}` : ''}`,
  ]);
}

const EDGE_HEADERS = ['Reader on', 'Readers', 'Keyframes', 'p50 ms', 'p99 ms', 'max ms', 'Missed', 'Status'];

/** Rows of a keyframe-latency phase: one per group of readers, `label` naming it. */
function keyframeSideRows<S extends KeyframeReadersSide>(r: { status: string; notes: string[]; keyframes: number; sides: S[] }, label: (s: S) => string): Cell[][] {
  const status = `${r.status}${r.notes.length ? `: ${r.notes.join('; ')}` : ''}`;
  if (r.sides.length === 0) return [['—', '', '', '', '', '', '', status]];
  return r.sides.map((s) => [label(s), String(s.readers), String(r.keyframes), fmt(s.p50, 1), fmt(s.p99, 1), fmt(s.max, 1), String(s.missed), status]);
}

function edgeRows(r: EdgeLatencyResult): Cell[][] {
  const rows = keyframeSideRows(r, (s) => (s.where === 'origin' ? 'origin' : 'edge (pulls the origin over ws-nal)'));
  if (r.sides.length === 0) return rows;
  const status = `${r.status}${r.notes.length ? `: ${r.notes.join('; ')}` : ''}`;
  rows.push(['edge − origin, per keyframe', '', String(r.keyframes), fmt(r.addedP50, 1), fmt(r.addedP99, 1), '', '', status]);
  return rows;
}

const SRT_HEADERS = ['Ingest', 'Readers', 'Keyframes', 'p50 ms', 'p99 ms', 'max ms', 'Missed', 'Status'];

function srtRows(r: SrtLatencyResult): Cell[][] {
  return keyframeSideRows(r, (s) => (s.ingest === 'rtmp' ? 'RTMP (FLV)' : `SRT (MPEG-TS, latency ${r.srtLatencyMs} ms)`));
}

const HLS_HEADERS = ['Readers get it from', 'Readers', 'Keyframe parts', 'p50 ms', 'p99 ms', 'Origin requests per part (max)', 'Origin requests per part per edge (mean)', 'Failed readers', 'Status'];

function hlsRows(results: HlsResult[]): Cell[][] {
  return results.map((r) => [
    r.edges === 0 ? 'Polycast' : `${r.edges} nginx edge${r.edges > 1 ? 's' : ''}`,
    String(r.viewers),
    String(r.samples),
    fmt(r.p50, 0),
    fmt(r.p99, 0),
    r.maxOriginPerPart === undefined ? '—' : String(r.maxOriginPerPart),
    r.meanOriginPerPart === undefined ? '—' : r.meanOriginPerPart.toFixed(2),
    String(r.failed),
    `${r.status}${r.notes.length ? `: ${r.notes.join('; ')}` : ''}`,
  ]);
}

/** ws-fmp4 with its sound on, in every engine: the MSE path's target. */
function engineVerdicts(run: BenchRun): Verdict[] {
  if (run.engines.length === 0) return [];
  const target = 'ws-fmp4 painted p50 ≤ 150 ms with sound, in Chromium, Firefox and WebKitGTK';
  const rows = run.engines.filter((r) => r.mode === 'ws-fmp4');
  const measured = rows
    .map((r) => `${r.version}: ${r.p50 === undefined ? `${r.status}${r.notes[0] ? ` (${r.notes[0]})` : ''}` : `p50 ${r.p50.toFixed(0)} ms, p99 ${fmt(r.p99, 0)} ms${r.soundPlaying ? `, sound via ${r.soundPath}` : ', no sound'}`}`)
    .join('; ');
  const all = rows.length === 3 && rows.every((r) => r.status === 'ok');
  const met = all && rows.every((r) => r.p50 !== undefined && r.p50 <= 150 && r.soundPlaying);
  return [{ target, status: !all && rows.every((r) => r.p50 === undefined) ? 'not measured' : met ? 'met' : 'not met', measured }];
}

function find(run: BenchRun, server: ServerKind, readers: number): FanoutResult | undefined {
  return run.fanout.find((r) => r.server === server && r.readers === readers);
}

export function verdicts(run: BenchRun): Verdict[] {
  const out: Verdict[] = [];
  const p1200 = find(run, 'polycast', 1200);
  const healthy = (r: FanoutResult): string =>
    r.status === 'ok' ? '' : ` (phase ${r.status}${r.notes[0] ? `: ${r.notes[0]}` : ''})`;
  if (p1200?.p99 === undefined) {
    out.push({ target: 'Polycast p99 ≤ 100 ms at 1200 readers', status: 'not measured', measured: p1200 ? p1200.notes.join('; ') : 'phase not run' });
  } else {
    out.push({
      target: 'Polycast p99 ≤ 100 ms at 1200 readers',
      status: p1200.p99 <= 100 && p1200.status === 'ok' ? 'met' : 'not met',
      measured: `p99 ${p1200.p99.toFixed(1)} ms, p50 ${fmt(p1200.p50, 1)} ms, ${failedCell(p1200)} failed readers, ${fmt(missedShare(p1200), 1)} % keyframes missed${healthy(p1200)}`,
    });
  }
  const kib = p1200 ? perReaderKiB(p1200) : undefined;
  out.push(
    kib === undefined
      ? { target: 'Polycast ≤ 0.5 MiB per reader beyond a fixed base (1200 readers)', status: 'not measured', measured: 'phase not run or failed' }
      : {
          target: 'Polycast ≤ 0.5 MiB per reader beyond a fixed base (1200 readers)',
          status: kib <= 512 ? 'met' : 'not met',
          measured: `${kib.toFixed(1)} KiB per reader (peak ${fmt(p1200!.rssMiB, 0)} MiB over an idle base of ${fmt(p1200!.idleRssMiB, 0)} MiB)`,
        },
  );
  out.push(cpuPerReaderVerdict(run, 0.6));
  const paint = run.paint.find((r) => r.player === 'polycast-ws-nal');
  out.push(
    paint?.p50 === undefined
      ? { target: '/ws/nal painted p50 ≤ 35 ms', status: 'not measured', measured: paint ? `${paint.status}: ${paint.notes.join('; ')}` : 'paint phase not run' }
      : {
          target: '/ws/nal painted p50 ≤ 35 ms',
          status: paint.p50 <= 35 ? 'met' : 'not met',
          measured: `p50 ${paint.p50.toFixed(0)} ms, p99 ${fmt(paint.p99, 0)} ms over ${paint.changes} colour changes`,
        },
  );
  const first = paint ? firstPaintSummary(paint) : undefined;
  out.push(
    first === undefined
      ? { target: 'First frame ≤ 200 ms after the page opens', status: 'not measured', measured: paint ? `${paint.status}: ${paint.notes.join('; ')}` : 'paint phase not run' }
      : {
          target: 'First frame ≤ 200 ms after the page opens',
          status: first <= 200 ? 'met' : 'not met',
          measured: `median ${first.toFixed(0)} ms over ${paint!.firstPaintMs.length} page loads (${paint!.firstPaintMs.map((v) => v.toFixed(0)).join(', ')} ms)`,
        },
  );
  out.push(...fanoutTailVerdicts(run));
  out.push(...firstPaintVerdicts(run));
  out.push(...engineVerdicts(run));
  out.push(...wtVerdicts(run.webTransport ?? [], run.webTransportSingle ?? []));
  return out;
}

/** ws-nal's tail against NMS's at 800 and 1200 readers, and its CPU per reader at 800 (issue 11's figures). */
function fanoutTailVerdicts(run: BenchRun): Verdict[] {
  const out: Verdict[] = [];
  for (const n of [800, 1200]) {
    const p = find(run, 'polycast', n);
    const q = find(run, 'nms', n);
    const target = `Polycast p99 ≤ NMS's p99 and ≤ 50 ms at ${n} readers`;
    if (p?.p99 === undefined || q?.p99 === undefined) {
      out.push({ target, status: 'not measured', measured: 'a phase is missing' });
      continue;
    }
    out.push({
      target,
      status: p.p99 <= q.p99 && p.p99 <= 50 && p.status === 'ok' ? 'met' : 'not met',
      measured: `p99 ${p.p99.toFixed(1)} ms against NMS ${q.p99.toFixed(1)} ms (p50 ${fmt(p.p50, 1)} against ${fmt(q.p50, 1)})`,
    });
  }
  out.push(cpuPerReaderVerdict(run, 0.5));
  return out;
}

/** Polycast's CPU per reader against NMS's at 800 readers: 0.6 × was the core issue's target, 0.5 × issue 11's. */
function cpuPerReaderVerdict(run: BenchRun, factor: number): Verdict {
  const target = `Polycast CPU per reader ≤ ${factor} × NMS at 800 readers`;
  const p800 = find(run, 'polycast', 800);
  const n800 = find(run, 'nms', 800);
  const pm = p800 ? perReaderMilli(p800) : undefined;
  const nm = n800 ? perReaderMilli(n800) : undefined;
  if (pm === undefined || nm === undefined || nm === 0) return { target, status: 'not measured', measured: 'a phase at 800 readers is missing' };
  const note = p800!.status === 'ok' ? '' : ` (phase ${p800!.status}${p800!.notes[0] ? `: ${p800!.notes[0]}` : ''})`;
  return {
    target,
    status: pm <= factor * nm ? 'met' : 'not met',
    measured: `${pm.toFixed(3)} vs ${nm.toFixed(3)} millicores per reader = ${(pm / nm).toFixed(3)} × NMS${note}`,
  };
}

/** ws-nal's first paint against NMS + mpegts.js's median in the same run. */
function firstPaintVerdicts(run: BenchRun): Verdict[] {
  const target = 'First paint ≤ 100 ms and ≤ 0.8 × NMS + mpegts.js (median of its three configurations) in the same run';
  const own = run.paint.find((r) => r.player === 'polycast-ws-nal');
  const mine = own ? firstPaintSummary(own) : undefined;
  const theirs = run.paint
    .filter((r) => r.player.startsWith('nms-'))
    .map((r) => firstPaintSummary(r))
    .filter((v): v is number => v !== undefined)
    .sort((a, b) => a - b);
  if (mine === undefined || theirs.length === 0) return [{ target, status: 'not measured', measured: 'paint phase not run' }];
  const peer = theirs[Math.floor(theirs.length / 2)]!;
  return [
    {
      target,
      status: mine <= 100 && mine <= 0.8 * peer ? 'met' : 'not met',
      measured: `Polycast /ws/nal median ${mine.toFixed(0)} ms against ${peer.toFixed(0)} ms = ${(mine / peer).toFixed(2)} ×`,
    },
  ];
}

/** Plain sentences from the numbers: comparisons, collapse points, and what the machine itself limited. */
export function reading(run: BenchRun): string[] {
  const lines: string[] = [];
  for (const n of run.readerCounts) {
    const p = find(run, 'polycast', n);
    const q = find(run, 'nms', n);
    if (!p || !q) continue;
    const parts: string[] = [];
    if (p.p99 !== undefined && q.p99 !== undefined) {
      parts.push(`p99 ${p.p99.toFixed(0)} ms for Polycast against ${q.p99.toFixed(0)} ms for NMS`);
    }
    const pm = perReaderMilli(p);
    const qm = perReaderMilli(q);
    if (pm !== undefined && qm !== undefined && qm > 0) parts.push(`Polycast used ${(pm / qm).toFixed(2)} × NMS's CPU (${fmt(p.cores, 2)} vs ${fmt(q.cores, 2)} cores)`);
    const pk = perReaderKiB(p);
    const qk = perReaderKiB(q);
    if (pk !== undefined && qk !== undefined) parts.push(`${pk.toFixed(0)} vs ${qk.toFixed(0)} KiB per reader`);
    const states = [p, q].filter((r) => r.status !== 'ok').map((r) => `${SERVER_LABEL[r.server]} ${r.status} (${r.notes[0] ?? ''})`);
    if (states.length) parts.push(states.join('; '));
    if (parts.length) lines.push(`At ${n} readers: ${parts.join('; ')}.`);
  }
  for (const kind of ['polycast', 'nms'] as const) {
    const first = run.fanout.find((r) => r.server === kind && r.status !== 'ok');
    const label = SERVER_LABEL[kind];
    if (first) lines.push(`${label} first failed to keep up at ${first.readers} readers.`);
    else if (run.fanout.some((r) => r.server === kind)) lines.push(`${label} kept every reader live at every count measured.`);
  }
  const biggest = run.fanout.filter((r) => r.server === 'polycast' && r.p99 !== undefined).sort((a, b) => b.readers - a.readers)[0];
  if (biggest?.spreadMs !== undefined) {
    lines.push(
      `Where Polycast's latency goes at ${biggest.readers} readers: the keyframe reached the server ${fmt(biggest.ingestP50, 1)} ms (p50) / ` +
        `${fmt(biggest.ingestP99, 1)} ms (p99) after the sink; the last tenth of readers then got it ${biggest.spreadMs.toFixed(1)} ms after the ` +
        `first tenth (one pass of the fan-out loop); the load client's longest stall in the window was ${fmt(biggest.clientStallMs, 0)} ms.`,
    );
  }
  const heaviest = [...run.fanout].sort((a, b) => b.readers - a.readers)[0];
  if (heaviest?.machineCores !== undefined) {
    lines.push(
      `The whole test shares ${run.machine.cores} cores: at ${heaviest.readers} readers (${SERVER_LABEL[heaviest.server]}) the machine was ` +
        `${heaviest.machineCores.toFixed(2)} cores busy, of which the server took ${fmt(heaviest.cores, 2)}, the load client ${fmt(heaviest.clientCores, 2)}, ` +
        `ffmpeg plus the bench ${fmt(heaviest.harnessCores, 2)} and interrupts ${fmt(heaviest.irqCores, 2)}. Loopback TCP costs kernel time on both ends; ` +
        'past the point where the two cores are full, latency measures the queue for a CPU as much as the server.',
    );
  }
  const noisy = run.fanout.filter((r) => (r.otherCores ?? 0) > 0.25);
  if (noisy.length > 0) {
    lines.push(
      `Other work was running on the machine during ${noisy.length} of ${run.fanout.length} fan-out windows ` +
        `(up to ${Math.max(...noisy.map((r) => r.otherCores!)).toFixed(2)} cores not accounted for by the bench; load average ` +
        `${run.loadAverage.start.map((v) => v.toFixed(1)).join('/')} at the start, ${run.loadAverage.end.map((v) => v.toFixed(1)).join('/')} at the end): ` +
        'treat those phases as noisy.',
    );
  }
  const own = run.paint.find((r) => r.player === 'polycast-ws-nal');
  // The peer at its best: whichever of its two low-latency modes painted sooner.
  const aggressive = run.paint
    .filter((r) => (r.player === 'nms-mpegts-aggressive' || r.player === 'nms-mpegts-livesync') && r.p50 !== undefined)
    .sort((a, b) => a.p50! - b.p50!)[0];
  const mild = run.paint.find((r) => r.player === 'nms-mpegts-default');
  if (own?.p50 !== undefined && aggressive?.p50 !== undefined) {
    lines.push(
      `In Chromium, Polycast's /ws/nal player painted a keyframe ${own.p50.toFixed(0)} ms (p50) after the encoder wrote it, against ` +
        `${aggressive.p50.toFixed(0)} ms for mpegts.js at its best (${aggressive.player === 'nms-mpegts-livesync' ? 'liveSync' : 'latency chasing'})` +
        (mild?.p50 !== undefined ? ` and ${mild.p50.toFixed(0)} ms with its defaults` : '') +
        '. mpegts.js goes through MSE, whose media element keeps a buffer; WebCodecs paints each frame as it is decoded.',
    );
  }
  if (mild?.p50 !== undefined) {
    lines.push(
      'With its defaults mpegts.js never chases the live edge, so its latency is set by where in the GOP the page joined ' +
        '(NMS starts every player at the cached keyframe) and differs from one page load to the next.',
    );
  }
  return lines;
}

/** The page and bench clocks were compared after each player's run; a skew would move every painted latency alike. */
function clockLine(results: PaintResult[]): string[] {
  const checked = results.filter((r) => r.clock !== undefined);
  if (checked.length === 0) return [];
  const worst = checked.reduce((a, b) => (Math.abs(b.clock!.skewMs) > Math.abs(a.clock!.skewMs) ? b : a)).clock!;
  return [
    `Chromium's wall clock (\`performance.timeOrigin + performance.now()\`) read ${worst.skewMs.toFixed(1)} ms from the bench's at worst ` +
      `(± ${worst.withinMs.toFixed(1)} ms, half the fastest round trip), over ${checked.length} pages.`,
    '',
  ];
}

const PEER_CONTEXT = [
  'NMS WS-FLV: 2/11 ms (p50/p99) at 50 readers, 18/39 ms at 400 (0.42 cores, 143 MiB), 30/64 ms at 800 (0.76 cores), collapse at 1200 (p50 472 ms, p99 713 ms)',
  'NMS + mpegts.js painted p50: 146 ms aggressive, 336 ms milder; first paint about 260–330 ms',
];

export function consoleReport(run: BenchRun): string {
  const parts: string[] = [];
  if (run.fanout.length) parts.push('Fan-out', textTable(FANOUT_HEADERS, fanoutRows(run.fanout)), '', 'Phase details', textTable(DETAIL_HEADERS, detailRows(run.fanout)));
  if (run.webTransport?.length) parts.push('', 'WebTransport fan-out', textTable(WT_HEADERS, wtRows(run.webTransport)));
  if (run.webTransportSingle?.length) parts.push('', `One session of a ${SINGLE_SESSION_KBPS / 1000} Mbit/s stream`, textTable(SINGLE_HEADERS, singleRows(run.webTransportSingle)));
  if (run.paint.length) parts.push('', 'Painted latency in Chromium', textTable(PAINT_HEADERS, paintRows(run.paint)));
  if (run.engines.length) parts.push('', 'Painted latency of the Polycast player per engine', textTable(ENGINE_HEADERS, engineRows(run.engines)));
  if (run.hls.length) parts.push('', 'LL-HLS', textTable(HLS_HEADERS, hlsRows(run.hls)));
  if (run.edge) parts.push('', 'Keyframe latency through an edge', textTable(EDGE_HEADERS, edgeRows(run.edge)));
  if (run.srt) parts.push('', 'Keyframe latency: SRT ingest beside RTMP', textTable(SRT_HEADERS, srtRows(run.srt)));
  parts.push('', 'Targets', ...verdicts(run).map((v) => `  [${v.status}] ${v.target}: ${v.measured}`));
  return parts.join('\n');
}

export function markdownReport(run: BenchRun): string {
  const m = run.machine;
  const t = run.fanoutTiming;
  const p = run.paintTiming;
  const minutes = (run.finishedAt.getTime() - run.startedAt.getTime()) / 60000;
  const out: string[] = [
    '# Benchmarks: Polycast against Node-Media-Server',
    '',
    `Written by \`npm run bench\` (${run.mode}) on ${run.startedAt.toISOString().replace('T', ' ').slice(0, 16)} UTC; the run took ${minutes.toFixed(1)} minutes. ` +
      'Both servers were measured in the same run, one at a time, with the same clip and the same clients. Re-run it to refresh this page.',
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores; memory ${m.memoryGiB.toFixed(0)} GiB; ${m.os}`,
    `- Node ${m.node}; ${m.ffmpeg}; Chromium ${m.chromium ?? '(not started)'}`,
    `- Polycast ${m.polycast}; node-media-server ${m.nms}; mpegts.js ${m.mpegts}`,
    `- Load average (1/5/15 min) at the start ${run.loadAverage.start.map((v) => v.toFixed(2)).join(' / ')}, at the end ${run.loadAverage.end.map((v) => v.toFixed(2)).join(' / ')}`,
    '',
    '## Method',
    '',
    '- **Clip**: 1280x720, 30 fps H.264 (libx264 veryfast, High, a keyframe every 30 frames, no B-frames, 2500 kbit/s with a 1250 kbit buffer) ' +
      'with 128 kbit/s AAC, 40 s, FLV; `testsrc2` under temporal noise so the encoder spends the whole rate. The top 120 rows carry a colour per ' +
      'second of media time (index floor(t) mod 8, bits → R, G, B at 0 or 255), so each keyframe is the first frame of a new colour. ' +
      `Encoded once and cached as \`${run.clip}\`.`,
    '- **Publishing**: `ffmpeg -stream_loop -1 -re -i clip.flv -c copy -f tee` to the server over RTMP and to a reference TCP sink in the bench ' +
      '(`tcp_nodelay=1`), sink first. The sink parses the FLV as it arrives and stamps each video keyframe tag when its last byte is in, ' +
      'with `performance.timeOrigin + performance.now()`, keyed by its FLV timestamp.',
    `- **Readers**: a separate load-client process opens N WebSockets on raw sockets (a minimal RFC 6455 client reading into one shared buffer, ` +
      `copying only the first ${HEAD_BYTES} bytes of each message): Polycast \`/<path>/ws/nal\` (keyframe flag, DTS and server receive time from the ws-nal header), NMS ` +
      '`/live/<name>.flv` (FLV tag type, timestamp and frame type). A reader stamps a keyframe when its message is complete. Latency = reader stamp − ' +
      `sink stamp for the same timestamp, over every reader and every keyframe the sink stamped in a ${t.windowMs / 1000} s window that starts ` +
      `${t.warmupMs / 1000} s after the last reader connected; keyframes may arrive up to ${t.graceMs / 1000} s after the window (the bench stops waiting ` +
      "as soon as every open reader has the window's last keyframe). Handshakes run 100 at a time.",
    '- **Failed readers**: could not connect, or were closed before the end; *stalled* readers stayed open but received under half of the ' +
      "window's keyframes. *Keyframes missed* counts every (reader, keyframe) pair that never arrived, so a server that drops frames for slow " +
      `readers cannot look fast by leaving them out. A phase is marked *collapsed* when over 5 % of readers failed or stalled, over 5 % of keyframes ` +
      'were missed, or the median passed 250 ms.',
    `- **Server cost**: each server runs alone as a child process (Polycast: \`node dist/src/main.js\` with a temporary config, \`logLevel: warn\`, ` +
      '`webTransport: no`; NMS: `bench/nms-peer.ts`, logging off, in a scratch directory). CPU = Δ(utime+stime) from `/proc/<pid>/stat` over ' +
      `the window, in cores; RSS = peak VmRSS over the window. Per-reader memory is (peak − RSS with the stream live and no readers, sampled ` +
      `for ${t.idleMs / 1000} s) ÷ N. The server, the load client, ffmpeg and the bench share the machine's cores; *Phase details* shows who used what. ` +
      'The kernel accounts interrupt and softirq time (much of loopback TCP delivery) to no process: it is shown apart as *IRQ cores*, in neither server\'s CPU. ' +
      'Before each phase the bench waits (up to 30 s) for the machine to be idle; a phase whose window other work disturbed (0.3 cores or more ' +
      `that neither server, load client, ffmpeg nor bench used) is repeated once while the run's ${RUN_BUDGET_MS / 60_000}-minute budget allows, and the quieter attempt is kept.`,
    `- **Painted latency**: headless Chromium (software rendering). A sampler injected into the page reads the colour band of the picture on ` +
      'screen at every animation frame: the Polycast player\'s canvas (`getImageData`), or the `<video>` that mpegts.js plays (drawn into a ' +
      'one-row scratch canvas). A change of colour is matched to the newest sink stamp of a keyframe with that colour before the change. ' +
      `Changes in the first ${p.warmupMs / 1000} s after the first paint are left out (start-up), then ${p.changes} changes are measured. ` +
      `*First paint* is navigation start → first animation frame showing a picture, over ${p.reloads + 1} page loads per player, made ` +
      "after every player's painted-latency page (so the browser is warm) in rounds of one load per player in turn, both servers live " +
      '(so neither the browser\'s warm-up nor a busy moment of the machine falls on one player only). mpegts.js gets ' +
      `\`isLive: true\` and, for "latency chasing", \`${JSON.stringify(MPEGTS_AGGRESSIVE)}\`; for "liveSync", \`${JSON.stringify(MPEGTS_LIVESYNC)}\`; ` +
      '"milder" is its defaults.',
    '',
    '## Fan-out: WebSocket readers of one 2.6 Mbit/s stream',
    '',
    run.fanout.length ? markdownTable(FANOUT_HEADERS, fanoutRows(run.fanout)) : '(not run)',
    '',
    'CPU/reader in millicores (CPU cores ÷ readers × 1000). Phase details: *Ingest* is sink → server receipt of the keyframe, from the ' +
      "receive time in each ws-nal header (Polycast only; NMS's WS-FLV does not carry one), so the rest of the latency is the server's fan-out " +
      'and the path to the reader. *Reader spread* is the median latency of the last tenth of readers, in connection order (the order both ' +
      'servers iterate their readers in), minus that of the first tenth: what one pass of the fan-out loop costs the last reader. *Load client ' +
      "stall* is the load client's longest event-loop delay in the window: a stall there would late-stamp every reader at once. *Trend* is " +
      "the median latency of the window's last third minus its first: a queue that grows shows here.",
    '',
    run.fanout.length ? markdownTable(DETAIL_HEADERS, detailRows(run.fanout)) : '(not run)',
    '',
    '## WebTransport fan-out: sessions of the same stream, beside ws-nal',
    '',
    WT_METHOD,
    '',
    run.webTransport?.length ? markdownTable(WT_HEADERS, wtRows(run.webTransport)) : '(not run)',
    '',
    ...(run.ngtcp2Floor ? [ngtcp2FloorParagraph(run.ngtcp2Floor, run.webTransport ?? []), ''] : []),
    ...(run.quicheFloor ? [floorParagraph(run.quicheFloor, run.webTransport ?? []), ''] : []),
    `### One session of a ${SINGLE_SESSION_KBPS / 1000} Mbit/s stream`,
    '',
    singleMethod(SINGLE_SESSION_KBPS),
    '',
    run.webTransportSingle?.length ? markdownTable(SINGLE_HEADERS, singleRows(run.webTransportSingle)) : '(not run)',
    '',
    '## Encoder to painted picture in Chromium',
    '',
    run.paint.length ? markdownTable(PAINT_HEADERS, paintRows(run.paint)) : '(not run)',
    '',
    ...clockLine(run.paint),
    '## The Polycast player in each engine, sound on',
    '',
    'The same sampler and stamps, in Chromium (playwright-core), Firefox ESR (puppeteer-core over WebDriver BiDi) and WebKitGTK ' +
      "(MiniBrowser under Xvfb, selenium-webdriver to WebKitWebDriver: the engine Safari is built on, with GStreamer as its media backend). " +
      'Polycast runs with WebTransport on, so *auto* is what each engine negotiates by itself; the other rows ask for a transport by name ' +
      '(`?transport=`), so first paint and painted latency are known per transport. Before measuring, the unmute button is clicked ' +
      "for real and each browser plays into a private PulseAudio null sink, so these are a listening viewer's figures, with the sound path " +
      "(WebCodecs `AudioDecoder`, or an audio-only MSE SourceBuffer where WebKit's WebCodecs sound is not safe) running. The sampler is " +
      "injected after the load event (only Chromium's driver injects earlier), so *first paint* here is the player's own `firstPaintAt`: " +
      '*player estimate* is its own latency figure (server receipt → paint, moving median) at the end of the run, for comparison. ' +
      "*Frame interval* is the median time between the page's animation frames: a picture waits half of it on average before anyone " +
      "can see it, and WebKitGTK composites in software under Xvfb here, far slower than a display's 16.7 ms.",
    '',
    run.engines.length ? markdownTable(ENGINE_HEADERS, engineRows(run.engines)) : '(not run)',
    '',
    '## LL-HLS: latency, and what a cache in front saves the origin',
    '',
    `Polycast with its defaults (200 ms parts, segments from 1 s, cut at keyframes) and lean LL-HLS readers in the bench's process: ` +
      'each loads `index.m3u8`, then follows blocking playlist reloads (`_HLS_msn`/`_HLS_part`) and fetches the preload-hinted part ' +
      `at once, as hls.js does, for ${run.hlsTiming.parts} parts, without decoding. Either straight from Polycast, or through 1 or 2 ` +
      "stock nginx 1.22 processes running `config/examples/nginx-hls-cache.conf` (readers spread evenly), which log the upstream of every " +
      'request. *Keyframe parts* are parts starting with a keyframe whose program date matched a sink stamp within 100 ms; latency is ' +
      "the reader's stamp when the part's last byte was in, minus the sink's stamp of that keyframe: glass to reader, before any player " +
      "buffer (hls.js holds about 3 parts back; the player's own figure is in docs/browsers.md). *Origin requests per part* counts the " +
      'part requests each nginx passed on to Polycast, per distinct part.',
    '',
    run.hls.length ? markdownTable(HLS_HEADERS, hlsRows(run.hls)) : '(not run)',
    '',
    '## Through an edge: one Polycast pulling from another',
    '',
    'A second Polycast pulls the bench path from the origin over ws-nal (`source: ws://…/ws/nal`, [edges](edges.md)), both on this machine. ' +
      `ws-nal readers on each (${run.edge?.sides[0]?.readers ?? '—'} per server, in the bench process) stamp each keyframe as it completes; latency is ` +
      `reader stamp − sink stamp, over the keyframes the sink stamped in a ${run.edge ? run.edge.timing.windowMs / 1000 : '—'} s window. ` +
      "*edge − origin* is, per keyframe, an edge reader's arrival minus the median arrival at the origin's readers: what the extra hop costs.",
    '',
    run.edge ? markdownTable(EDGE_HEADERS, edgeRows(run.edge)) : '(not run)',
    '',
    '## SRT ingest beside RTMP ingest',
    '',
    'One ffmpeg tees the clip to the sink, to Polycast over RTMP and to Polycast over SRT (MPEG-TS, `latency` ' +
      `${run.srt?.srtLatencyMs ?? '—'} ms), so both paths get the same packets at the same moment; ws-nal readers on each path stamp keyframes, ` +
      'latency is reader stamp − sink stamp. SRT holds each packet for its latency before delivery (TSBPD, what buys retransmission time), and ' +
      'MPEG-TS video ends a frame only when the next begins: its floor is the latency plus one frame ([SRT](protocols/srt.md)).',
    '',
    run.srt ? markdownTable(SRT_HEADERS, srtRows(run.srt)) : '(not run)',
    '',
    '## Targets',
    '',
    ...verdicts(run).map((v) => `- **${v.status}**: ${v.target}. Measured: ${v.measured}.`),
    '',
    '## Reading',
    '',
    ...reading(run).map((l) => `- ${l}`),
    '',
    '## Earlier peer figures (context only)',
    '',
    'Measured earlier by the project with the same method on another occasion; the tables above are this run\'s own measurements and replace nothing with these.',
    '',
    ...PEER_CONTEXT.map((l) => `- ${l}`),
    '',
  ];
  return out.join('\n');
}
