/**
 * Encoder-to-painted latency in Chromium. A sampler injected into the page
 * reads the colour band of the picture actually on screen at every
 * animation frame; each change of colour is a keyframe made visible, and
 * the sink's stamp of the newest keyframe with that colour is where its
 * latency starts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { BAND_HEIGHT, CLIP_HEIGHT, colourOfTimestamp, COLOURS } from './clip.js';
import { wallClock } from './flv-sink.js';
import { startLive, type LiveServer } from './live.js';
import { sleep, STREAM_PATH, type ServerKind } from './servers.js';
import { median, percentile, sortedCopy } from './stats.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export type PlayerId = 'polycast-ws-nal' | 'polycast-moq-ws' | 'nms-mpegts-aggressive' | 'nms-mpegts-livesync' | 'nms-mpegts-default';

export const PLAYER_LABEL: Record<PlayerId, string> = {
  'polycast-ws-nal': 'Polycast player, /ws/nal (WebCodecs → canvas)',
  // The same player and canvas with moq-lite over QMux on a WebSocket: what decides whether it should go before ws-nal.
  'polycast-moq-ws': 'Polycast player, wt-raw over WebSocket: moq-lite over QMux at /moq (WebCodecs → canvas)',
  'nms-mpegts-aggressive': 'NMS WS-FLV + mpegts.js, aggressive (latency chasing)',
  'nms-mpegts-livesync': 'NMS WS-FLV + mpegts.js, aggressive (liveSync playback rate)',
  'nms-mpegts-default': 'NMS WS-FLV + mpegts.js, defaults ("milder")',
};

/** mpegts.js at its lowest latency: no stash buffer, no lazy loading, and a seek to 50 ms behind the live edge whenever it falls 200 ms behind. */
export const MPEGTS_AGGRESSIVE = {
  enableStashBuffer: false,
  lazyLoad: false,
  liveBufferLatencyChasing: true,
  liveBufferLatencyMaxLatency: 0.2,
  liveBufferLatencyMinRemain: 0.05,
};

/**
 * mpegts.js's other way to stay live: play faster instead of seeking. On
 * this machine it paints earlier than chasing (seeks stall the decoder), so
 * the peer is also measured at its best.
 */
export const MPEGTS_LIVESYNC = {
  enableStashBuffer: false,
  lazyLoad: false,
  liveSync: true,
  liveSyncMaxLatency: 0.3,
  liveSyncTargetLatency: 0.1,
  liveSyncPlaybackRate: 1.2,
};

export interface PaintTiming {
  /** Colour changes to measure, after the warm-up. */
  changes: number;
  /** Changes in the first seconds after the first paint are startup, not steady state. */
  warmupMs: number;
  /** Further page loads for time to first paint. */
  reloads: number;
  timeoutMs: number;
}

export interface PaintResult extends PaintFigures {
  player: PlayerId;
}

/** What one player's run measured, whatever the player and the engine. */
export interface PaintFigures {
  status: 'ok' | 'not available' | 'error';
  notes: string[];
  p50?: number;
  p99?: number;
  changes: number;
  /** Changes that jumped over one or more colours (a second or more never painted, or a seek). */
  skipped: number;
  /** Navigation start → first painted picture, ms, one per page load. */
  firstPaintMs: number[];
  /** Median time between the page's animation frames while measuring, ms: what the display adds on average is half of it. */
  frameIntervalMs?: number;
  /** The page clock minus the bench clock (both wall clocks), measured after the run. */
  clock?: { skewMs: number; withinMs: number };
}

export interface PageState {
  /** The page's performance.timeOrigin: navigation start, wall clock. */
  origin: number;
  target: 'canvas' | 'video' | null;
  firstPresentAt: number | null;
  changes: Array<{ index: number; at: number }>;
  samples: number;
  ambiguous: number;
  error: string | null;
  /** Time between animation frames, ms, as the sampler saw them. */
  intervals?: number[];
  player: { state: string; detail: string; framesPainted: number; firstPaintAt: number | null } | null;
}

/**
 * Runs in the page: injected before any page script in Chromium, and after
 * the load event in the other engines (whose drivers cannot inject earlier).
 * It finds the picture (the Polycast player's canvas or `<video>`, in its
 * open shadow root, or a page's own <video>), and once a
 * picture is there classifies the band's colour at three points per
 * animation frame; disagreeing points (a picture mid-change, artefacts) are
 * counted, not guessed.
 */
export const SAMPLER_FUNCTION = `() => {
  if (window.__bench) return;
  const BAND_Y = ${(BAND_HEIGHT / 2 / CLIP_HEIGHT).toFixed(6)};
  const S = { target: null, firstPresentAt: null, changes: [], samples: 0, ambiguous: 0, error: null, intervals: [] };
  window.__bench = S;
  let lastTick = 0;
  let last = -1, scratch = null, sctx = null, video = null, videoFramed = false;
  const classify = (d, i) => ((d[i] > 127) << 2) | ((d[i + 1] > 127) << 1) | (d[i + 2] > 127 ? 1 : 0);
  function videoRow(v) {
    if (!v) return null;
    S.target = 'video';
    if (v !== video) {
      video = v;
      videoFramed = false;
      if (typeof v.requestVideoFrameCallback === 'function') v.requestVideoFrameCallback(() => { videoFramed = true; });
    }
    // Where frame callbacks never come (WebKit without its DMABuf renderer), a decoded current frame is the next best sign.
    const shown = videoFramed || (typeof v.requestVideoFrameCallback !== 'function' && v.readyState >= 2);
    if (!shown || v.videoWidth === 0) return null;
    const w = v.videoWidth;
    if (!scratch || scratch.width !== w) {
      scratch = document.createElement('canvas');
      scratch.width = w;
      scratch.height = 1;
      sctx = scratch.getContext('2d', { willReadFrequently: true });
    }
    sctx.drawImage(v, 0, Math.floor(v.videoHeight * BAND_Y), w, 1, 0, 0, w, 1);
    return sctx.getImageData(0, 0, w, 1).data;
  }
  function row() {
    const root = document.querySelector('polycast-player')?.shadowRoot;
    const playerPainted = !!window.__polycast && window.__polycast.framesPainted > 0;
    // The player page's first picture, drawn by the page's head script before the player runs, behind the player
    // element (public/src/early-socket.ts); it is in the document only until the player paints its own.
    const early = playerPainted ? null : document.querySelector('canvas[data-polycast-early]');
    if (early && early.width > 0) {
      S.target = 'canvas';
      return early.getContext('2d').getImageData(0, Math.floor(early.height * BAND_Y), early.width, 1).data;
    }
    if (root) {
      if (!playerPainted) return null;
      // The player shows either its canvas (WebCodecs, JPEG) or its <video> (MSE); the stage says which.
      if (root.querySelector('.stage')?.dataset.surface === 'video') return videoRow(root.querySelector('video'));
      const canvas = root.querySelector('canvas');
      if (!canvas || canvas.width === 0) return null;
      S.target = 'canvas';
      return canvas.getContext('2d').getImageData(0, Math.floor(canvas.height * BAND_Y), canvas.width, 1).data;
    }
    return videoRow(document.querySelector('video'));
  }
  function tick(t) {
    // How often the page gets a frame to show: a slow compositor delays what is seen as much as a slow player.
    if (lastTick > 0 && S.intervals.length < 4000) S.intervals.push(t - lastTick);
    lastTick = t;
    try {
      const d = row();
      if (d) {
        const now = performance.now();
        if (S.firstPresentAt === null) S.firstPresentAt = now;
        S.samples++;
        const w = d.length / 4;
        const a = classify(d, 4 * Math.floor(w * 0.25));
        const b = classify(d, 4 * Math.floor(w * 0.5));
        const c = classify(d, 4 * Math.floor(w * 0.75));
        if (a === b && b === c) {
          if (a !== last) {
            if (last !== -1) S.changes.push({ index: a, at: performance.timeOrigin + now });
            last = a;
          }
        } else S.ambiguous++;
      }
    } catch (e) {
      S.error = String(e && e.message || e);
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
}`;

/** The sampler as a script that runs it, for injection before any page script. */
const SAMPLER = `(${SAMPLER_FUNCTION})();`;

const MPEGTS_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>NMS WS-FLV · mpegts.js</title>
<style>html,body{margin:0;background:#000}video{width:1280px;height:720px;display:block}</style></head>
<body><video id="v" muted autoplay playsinline></video>
<script src="/mpegts.js"></script>
<script>
  const q = new URLSearchParams(location.search);
  const config = JSON.parse(q.get('config') || '{}');
  const video = document.getElementById('v');
  const player = mpegts.createPlayer({ type: 'flv', isLive: true, url: q.get('url') }, config);
  player.attachMediaElement(video);
  player.load();
  video.play().catch(() => {});
  window.__mpegts = player;
</script></body></html>`;

export interface PaintContext {
  root: string;
  clip: string;
  timing: PaintTiming;
  log(line: string): void;
  /** Only these players (default: all). */
  players?: readonly PlayerId[];
}

export interface PaintRun {
  results: PaintResult[];
  browserVersion?: string;
}

export async function runPaint(ctx: PaintContext): Promise<PaintRun> {
  const profile = mkdtempSync(join(tmpdir(), 'polycast-bench-chromium-'));
  const pages = await servePages(ctx.root);
  let context: BrowserContext | undefined;
  let browserVersion: string | undefined;
  const lives: LiveServer[] = [];
  try {
    try {
      context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    } catch (err) {
      const notes = [`Chromium did not start: ${(err as Error).message.split('\n')[0]}`];
      return { results: (Object.keys(PLAYER_LABEL) as PlayerId[]).map((player) => failed(player, notes)) };
    }
    browserVersion = context.browser()?.version();
    const wanted = <T extends { player: PlayerId }>(list: T[]): T[] => list.filter((p) => ctx.players?.includes(p.player) ?? true);
    const polycastPlayers = wanted([
      { player: 'polycast-ws-nal' as const, url: (live: LiveServer) => `http://127.0.0.1:${live.server.httpPort}/${STREAM_PATH}/?transport=ws-nal` },
      { player: 'polycast-moq-ws' as const, url: (live: LiveServer) => `http://127.0.0.1:${live.server.httpPort}/${STREAM_PATH}/?transport=wt-raw&protocol=websocket` },
    ]);
    const nmsUrl = (live: LiveServer, config: object): string =>
      `${pages.origin}/nms.html?url=${encodeURIComponent(`ws://127.0.0.1:${live.server.httpPort}/${STREAM_PATH}.flv`)}&config=${encodeURIComponent(JSON.stringify(config))}`;
    const nmsPlayers = wanted([
      { player: 'nms-mpegts-aggressive' as const, url: (live: LiveServer) => nmsUrl(live, MPEGTS_AGGRESSIVE) },
      { player: 'nms-mpegts-livesync' as const, url: (live: LiveServer) => nmsUrl(live, MPEGTS_LIVESYNC) },
      { player: 'nms-mpegts-default' as const, url: (live: LiveServer) => nmsUrl(live, {}) },
    ]);

    // Both servers are live for the whole phase, so that the first-paint loads can alternate between players.
    const measured: Array<{ result: PaintResult; url: string; live: LiveServer }> = [];
    const failures: PaintResult[] = [];
    const start = async (kind: ServerKind, players: Array<{ player: PlayerId; url(live: LiveServer): string }>): Promise<void> => {
      if (players.length === 0) return;
      if (kind === 'polycast' && !existsSync(join(ctx.root, 'public/dist/player.js'))) {
        for (const { player } of players) failures.push({ ...failed(player, ['public/dist/player.js is missing: run `npm run build` once the player exists']), status: 'not available' });
        return;
      }
      try {
        // /moq (WebSocket included) exists only with WebTransport on; ws-nal does not notice it.
        const live = await startLive(kind, ctx.clip, { root: ctx.root, webTransport: kind === 'polycast' });
        lives.push(live);
        for (const { player, url } of players) measured.push({ result: ok(player), url: url(live), live });
      } catch (err) {
        for (const { player } of players) failures.push(failed(player, [(err as Error).message]));
      }
    };
    await start('polycast', polycastPlayers);
    await start('nms', nmsPlayers);

    for (const m of measured) {
      ctx.log(`  ${PLAYER_LABEL[m.result.player]}`);
      try {
        await measurePainted(m.result, m.url, m.live, context, ctx.timing);
      } catch (err) {
        // A page that cannot even load is this player's result, not the end of the run.
        m.result.status = 'error';
        m.result.notes.push((err as Error).message.split('\n')[0]!);
      }
    }
    // First paint: rounds of one load per player, in turn, so that neither the browser's own warm-up nor a
    // busy moment of the machine falls on one player's loads only. The pages above have warmed the browser.
    const loading = measured.filter((m) => m.result.status === 'ok');
    if (loading.length > 0) ctx.log(`  first paint: ${ctx.timing.reloads + 1} rounds of ${loading.length} page loads, alternating`);
    for (let round = 0; round <= ctx.timing.reloads; round++) {
      for (const m of loading) await measureFirstPaint(m.result, m.url, context, round);
    }
    const order = [...polycastPlayers, ...nmsPlayers].map((p) => p.player);
    const results = [...measured.map((m) => m.result), ...failures].sort((a, b) => order.indexOf(a.player) - order.indexOf(b.player));
    return { results, browserVersion };
  } finally {
    await context?.close().catch(() => undefined);
    for (const live of lives) await live.stop().catch(() => undefined);
    await new Promise((resolve) => pages.server.close(resolve));
    rmSync(profile, { recursive: true, force: true });
  }
}

function ok(player: PlayerId): PaintResult {
  return { player, status: 'ok', notes: [], changes: 0, skipped: 0, firstPaintMs: [] };
}

function failed(player: PlayerId, notes: string[]): PaintResult {
  return { player, status: 'error', notes, changes: 0, skipped: 0, firstPaintMs: [] };
}

/** Painted latency: one page, until `timing.changes` colour changes past the warm-up. */
async function measurePainted(result: PaintResult, url: string, live: LiveServer, context: BrowserContext, timing: PaintTiming): Promise<void> {
  const player = result.player;
  const page = await openPage(context, url, result);
  try {
    const state = await waitForChanges(() => readState(page), live, timing);
    if (state.error !== null) result.notes.push(`sampler: ${state.error}`);
    if (state.firstPresentAt === null) {
      // Without window.__polycast the page is not (yet) the player this bench was written against.
      result.status = player.startsWith('polycast-') && state.player === null ? 'not available' : 'error';
      const p = state.player;
      result.notes.push(`nothing painted in ${timing.timeoutMs / 1000} s` + (p ? ` (player state ${p.state}${p.detail ? `: ${p.detail}` : ''})` : ` (target: ${state.target ?? 'none found'})`));
      return;
    }
    scoreChanges(result, state, live, timing);
    result.clock = await clockSkew(() => page.evaluate(PAGE_WALL_CLOCK));
  } finally {
    await page.close().catch(() => undefined);
  }
}

/** One page load, navigation start → the first animation frame that shows a picture. */
async function measureFirstPaint(result: PaintResult, url: string, context: BrowserContext, round: number): Promise<void> {
  const page = await openPage(context, url, result);
  try {
    const deadline = performance.now() + 10_000;
    let state = await readState(page);
    while (state.firstPresentAt === null && performance.now() < deadline) {
      await sleep(50);
      state = await readState(page);
    }
    if (state.firstPresentAt !== null) result.firstPaintMs.push(state.firstPresentAt);
    else result.notes.push(`page load ${round + 1}: nothing painted in 10 s`);
  } finally {
    await page.close().catch(() => undefined);
  }
}

/** Reads the sampler until it has seen `timing.changes` colour changes past the warm-up, the time is up, or the server died. */
export async function waitForChanges(read: () => Promise<PageState>, live: LiveServer, timing: PaintTiming): Promise<PageState> {
  const deadline = performance.now() + timing.timeoutMs;
  let state = await read();
  for (;;) {
    const settled = state.firstPresentAt === null ? [] : state.changes.filter((c) => c.at >= state.origin + state.firstPresentAt! + timing.warmupMs);
    if (settled.length >= timing.changes || performance.now() > deadline || !live.server.alive()) return state;
    await sleep(500);
    state = await read();
  }
}

async function openPage(context: BrowserContext, url: string, result: PaintResult): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => {
    if (result.notes.length < 6) result.notes.push(`page error: ${err.message.slice(0, 160)}`);
  });
  await page.addInitScript(SAMPLER);
  await page.goto(url, { waitUntil: 'commit', timeout: 15_000 });
  return page;
}

async function readState(page: Page): Promise<PageState> {
  return page.evaluate(() => {
    const w = globalThis as unknown as {
      __bench?: Omit<PageState, 'player' | 'origin'>;
      __polycast?: PageState['player'];
      performance: { timeOrigin: number };
    };
    const p = w.__polycast;
    return {
      ...(w.__bench ?? { target: null, firstPresentAt: null, changes: [], samples: 0, ambiguous: 0, error: 'sampler not installed' }),
      origin: w.performance.timeOrigin,
      player: p ? { state: p.state, detail: p.detail, framesPainted: p.framesPainted, firstPaintAt: p.firstPaintAt } : null,
    };
  });
}

/**
 * The page clock minus the bench clock, from the round trip with the
 * smallest delay (the true skew lies within half that delay of the value).
 * Both read the same system clock, so this should be about zero; a real
 * skew would shift every painted latency by the same amount.
 */
export async function clockSkew(evaluate: () => Promise<number>): Promise<{ skewMs: number; withinMs: number }> {
  let best = { rtt: Infinity, skew: 0 };
  for (let i = 0; i < 10; i++) {
    const before = wallClock();
    const pageNow = await evaluate();
    const after = wallClock();
    if (after - before < best.rtt) best = { rtt: after - before, skew: pageNow - (before + after) / 2 };
    await sleep(20);
  }
  return { skewMs: best.skew, withinMs: best.rtt / 2 };
}

export function scoreChanges(result: PaintFigures, state: PageState, live: LiveServer, timing: PaintTiming): void {
  const warmEnd = state.origin + state.firstPresentAt! + timing.warmupMs;
  const stamps = live.sink.order;
  const latencies: number[] = [];
  let previous = -1;
  for (const change of state.changes) {
    const jumped = previous !== -1 && change.index !== (previous + 1) % COLOURS;
    previous = change.index;
    if (change.at < warmEnd) continue;
    if (jumped) result.skipped++;
    let stamp: number | undefined;
    for (let i = stamps.length - 1; i >= 0; i--) {
      const s = stamps[i]!;
      if (s.at <= change.at && colourOfTimestamp(s.ms) === change.index) {
        stamp = s.at;
        break;
      }
    }
    if (stamp === undefined) continue;
    latencies.push(change.at - stamp);
  }
  result.changes = latencies.length;
  if (state.intervals && state.intervals.length > 0) result.frameIntervalMs = median(state.intervals);
  const sorted = sortedCopy(latencies);
  if (sorted.length > 0) {
    result.p50 = percentile(sorted, 50);
    result.p99 = percentile(sorted, 99);
  }
  if (state.ambiguous > state.samples * 0.05) result.notes.push(`${state.ambiguous} of ${state.samples} samples had no clear colour`);
  if (sorted.length < timing.changes) {
    result.status = 'error';
    result.notes.push(`only ${sorted.length} colour changes measured (wanted ${timing.changes})`);
  }
}

/** The page's wall clock, ms: runs in the page. */
export const PAGE_WALL_CLOCK = (): number => {
  const p = (globalThis as unknown as { performance: { timeOrigin: number; now(): number } }).performance;
  return p.timeOrigin + p.now();
};

export function firstPaintSummary(r: PaintFigures): number | undefined {
  return r.firstPaintMs.length > 0 ? median(r.firstPaintMs) : undefined;
}

/** A bench-local page server: the mpegts.js build from node_modules and a page around it. */
async function servePages(root: string): Promise<{ server: Server; origin: string }> {
  const mpegts = readFileSync(join(root, 'node_modules/mpegts.js/dist/mpegts.js'));
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/mpegts.js') {
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-cache' });
      res.end(mpegts);
    } else if (path === '/nms.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(MPEGTS_PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
