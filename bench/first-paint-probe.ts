/**
 * Where the first picture's milliseconds go, step by step, for the player
 * page over `/ws/nal` in headless Chromium (docs/first-paint.md). Not part
 * of `npm run bench`: a tool for working on first paint.
 *
 *   node dist/bench/first-paint-probe.js [--loads=12] [--transport=ws-nal] [--roots=DIR,DIR] [--rtt=MS]
 *
 * `--webtransport` turns WebTransport (and /moq) on. `--rtt` puts a round trip between the browser and the servers
 * (bench/round-trip-proxy.ts: loopback has none, so what costs round trips costs nothing there). `--roots` compares builds: one server per checkout (each built), the
 * loads alternating between them, a median table per build.
 *
 * One live Polycast (the bench's clip and publisher), one Chromium with the
 * bench's flags and a persistent profile, one cold load left out, then
 * `--loads` page loads. A probe injected before any page script stamps each
 * step with `performance.now()` (ms since navigation start) by wrapping
 * `WebSocket`, `VideoDecoder`, `drawImage` and `customElements.define`;
 * long tasks show what held the page's thread; the bench's own sampler
 * gives the first paint.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { ensureClip } from './clip.js';
import { startRoundTripProxy } from './round-trip-proxy.js';
import { startLive } from './live.js';
import { CHROMIUM, CHROMIUM_ARGS, SAMPLER_FUNCTION } from './paint.js';
import { sleep, STREAM_PATH } from './servers.js';
import { median } from './stats.js';

/** Runs in the page before any of its scripts; closes over nothing. */
const PROBE = `(() => {
  const P = { t: {}, longtasks: [] };
  window.__probe = P;
  const stamp = (k) => { if (!(k in P.t)) P.t[k] = performance.now(); };
  stamp('document created');
  document.addEventListener('DOMContentLoaded', () => stamp('DOMContentLoaded'));
  requestAnimationFrame(() => stamp('first animation frame'));
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      stamp('socket created');
      this.addEventListener('open', () => stamp('socket open'));
      this.addEventListener('message', (e) => {
        if (typeof e.data === 'string') {
          if (e.data.includes('"hello"')) stamp('hello');
          if (e.data.includes('"init"')) stamp('init');
        } else stamp('first media message');
      });
    }
  };
  const WT = window.WebTransport;
  if (WT) {
    window.WebTransport = class extends WT {
      constructor(...a) {
        super(...a);
        stamp('webtransport created');
        this.ready.then(() => stamp('webtransport ready'), () => {});
      }
    };
  }
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) {
      const m = /[/](wt-raw|wt-fmp4|hls[^/]*)-[^/]*[.]js$/.exec(e.name);
      if (m) { P.t[m[1] + ' chunk requested'] ??= e.startTime; P.t[m[1] + ' chunk received'] ??= e.responseEnd; }
      if (e.name.endsWith('/certificate.sha256')) { P.t['certificate hash requested'] ??= e.startTime; P.t['certificate hash received'] ??= e.responseEnd; }
    }
  }).observe({ type: 'resource', buffered: true });
  const VD = window.VideoDecoder;
  if (VD) {
    window.VideoDecoder = class extends VD {
      constructor(init) {
        super({ output: (f) => { stamp('keyframe decoded (output)'); init.output(f); }, error: init.error });
        this.addEventListener('dequeue', () => stamp('keyframe dequeued'));
      }
      configure(c) { stamp('decoder configure'); return super.configure(c); }
      decode(c) { if (c.type === 'key') stamp('keyframe handed to decoder'); return super.decode(c); }
    };
  }
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...a) {
    if (typeof VideoFrame !== 'undefined' && a[0] instanceof VideoFrame) stamp(this.canvas.dataset.polycastEarly === undefined ? 'picture drawn' : 'early picture drawn');
    return draw.apply(this, a);
  };
  const define = customElements.define.bind(customElements);
  customElements.define = (...a) => { stamp('element defined'); return define(...a); };
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) P.longtasks.push([Math.round(e.startTime), Math.round(e.duration)]); }).observe({ type: 'longtask', buffered: true });
  } catch {}
})();`;

// Page function: DOM types are not in the bench's (Node) compilation, hence the loose shapes.
interface Timing {
  name: string;
  startTime: number;
  responseEnd: number;
}
const READ = (): unknown => {
  const w = globalThis as unknown as { __probe: { t: Record<string, number>; longtasks: number[][] }; __bench?: { firstPresentAt: number | null } };
  const perf = performance as unknown as { getEntriesByType(type: string): Timing[] };
  const nav = perf.getEntriesByType('navigation')[0];
  const scripts = perf.getEntriesByType('resource')
    .filter((r) => r.name.endsWith('.js'))
    .map((r) => [r.name.replace(/^.*\//, ''), Math.round(r.startTime), Math.round(r.responseEnd)]);
  return {
    t: { ...w.__probe.t, 'HTML received': nav?.responseEnd, 'first paint': w.__bench?.firstPresentAt ?? undefined },
    longtasks: w.__probe.longtasks,
    scripts,
  };
};

interface Load {
  t: Record<string, number | undefined>;
  longtasks: number[][];
  scripts: Array<[string, number, number]>;
}

async function main(): Promise<void> {
  const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
  const loads = Number(args.get('loads') ?? 12);
  const transport = args.get('transport') ?? 'ws-nal';
  const here = fileURLToPath(new URL('../..', import.meta.url));
  const roots = args.get('roots')?.split(',') ?? [here];
  const clip = ensureClip(join(here, 'bench/.cache'), (l) => console.error(l));
  const lives: Array<Awaited<ReturnType<typeof startLive>>> = [];
  for (const root of roots) lives.push(await startLive('polycast', clip, { root, webTransport: args.has('webtransport') }));
  const rtt = Number(args.get('rtt') ?? 0);
  const proxies = rtt > 0 ? await Promise.all(lives.map((live) => startRoundTripProxy({ host: '127.0.0.2', port: live.server.httpPort, target: '127.0.0.1', oneWayMs: rtt / 2 }))) : [];
  const origin = (b: number): string => `http://${rtt > 0 ? '127.0.0.2' : '127.0.0.1'}:${lives[b]!.server.httpPort}`;
  const profile = mkdtempSync(join(tmpdir(), 'polycast-probe-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const results: Load[][] = roots.map(() => []);
  try {
    for (let i = 0; i <= loads; i++) {
      for (const b of lives.keys()) {
        const r = await load(context, `${origin(b)}/${STREAM_PATH}/?transport=${transport}`);
        // The first round warms the browser up.
        if (i === 0) continue;
        results[b]!.push(r);
        const steps = Object.entries(r.t)
          .filter(([, v]) => v !== undefined)
          .sort((x, y) => x[1]! - y[1]!)
          .map(([k, v]) => `${k} ${Math.round(v!)}`);
        console.log(`${roots[b]} load ${i}: ${steps.join(' · ')}`);
      }
    }
  } finally {
    await context.close();
    for (const proxy of proxies) await proxy.close();
    for (const live of lives) await live.stop();
    rmSync(profile, { recursive: true, force: true });
  }
  const keys = [...new Set(results.flat().flatMap((r) => Object.keys(r.t)))];
  const at = (list: Load[], k: string): number | undefined => {
    const values = list.map((r) => r.t[k]).filter((v): v is number => v !== undefined);
    return values.length > 0 ? median(values) : undefined;
  };
  const rows = keys.map((k) => [k, ...results.map((list) => at(list, k))] as const).sort((x, y) => (x[1] ?? x[2] ?? 0) - (y[1] ?? y[2] ?? 0));
  console.log(`\nmedians over ${loads} loads per build (ms since navigation start):`);
  console.log(`  ${'step'.padEnd(30)} ${roots.map((r) => r.slice(-12).padStart(12)).join(' ')}`);
  for (const [k, ...v] of rows) console.log(`  ${k.padEnd(30)} ${v.map((x) => (x === undefined ? '' : x.toFixed(0)).padStart(12)).join(' ')}`);
}

async function load(context: BrowserContext, url: string): Promise<Load> {
  const page = await context.newPage();
  try {
    await page.addInitScript(PROBE);
    await page.addInitScript(`(${SAMPLER_FUNCTION})();`);
    await page.goto(url, { waitUntil: 'commit' });
    const deadline = performance.now() + 10_000;
    let r = (await page.evaluate(READ)) as Load;
    while (r.t['first paint'] === undefined && performance.now() < deadline) {
      await sleep(50);
      r = (await page.evaluate(READ)) as Load;
    }
    await sleep(300);
    return (await page.evaluate(READ)) as Load;
  } finally {
    await page.close();
  }
}

await main();
