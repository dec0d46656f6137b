/**
 * Shared by the player's end-to-end tests: reading `window.__polycast`,
 * hiding browser features before the player loads, looking into its shadow
 * DOM.
 */
import type { BrowserContext, Page } from 'playwright-core';

export interface PageStats {
  state: string;
  detail: string;
  transport: string | null;
  transportDetail: string;
  skipped: string[];
  framesDecoded: number;
  framesPainted: number;
  firstPaintAt: number | null;
  lastPaintAt: number | null;
  latencyMs: number | null;
  rttMs: number | null;
  width: number;
  height: number;
  fps: number;
  bufferAheadMs: number | null;
  playbackRate: number | null;
  mediaTime: number | null;
  abandoned: number;
  jpegQuality: number | null;
  jpegWidth: number | null;
  degraded: 'keyframes-only' | 'jpeg' | null;
  degradedReason: string;
  reconnects: number;
  muted: boolean;
  audioFramesPlayed: number;
  audioFramesDropped: number;
  soundPath: 'webcodecs' | 'mse' | null;
  soundLagMs: number | null;
  log: string[];
}

/** Globals to delete before any page script runs, as if the browser never had them. */
export async function withoutGlobals(page: Page, names: readonly string[]): Promise<void> {
  await page.addInitScript((list: readonly string[]) => {
    for (const name of list) delete (globalThis as Record<string, unknown>)[name];
  }, names);
}

export async function stats(page: Page): Promise<PageStats> {
  return (await page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as { __polycast: unknown }).__polycast)))) as PageStats;
}

/** Waits until `predicate(stats)` holds; on timeout the error carries the stats and the player's log. */
export async function waitForStats(page: Page, predicate: (s: PageStats) => boolean, timeoutMs: number, what: string): Promise<PageStats> {
  const deadline = Date.now() + timeoutMs;
  let last: PageStats | null = null;
  while (Date.now() < deadline) {
    last = await stats(page).catch(() => null);
    if (last && predicate(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const summary = last ? { ...last, log: last.log.slice(-40) } : null;
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(summary, null, 1)}`);
}

/** Mean brightness (0–765) of what the player shows: its canvas, or its video when MSE plays. */
export async function pictureBrightness(page: Page, source: 'canvas' | 'video'): Promise<number> {
  return page.evaluate((tag) => {
    const root = document.querySelector('polycast-player')!.shadowRoot!;
    const element = root.querySelector(tag) as HTMLCanvasElement | HTMLVideoElement;
    const probe = document.createElement('canvas');
    probe.width = 64;
    probe.height = 36;
    const ctx = probe.getContext('2d')!;
    ctx.drawImage(element, 0, 0, 64, 36);
    const px = ctx.getImageData(0, 0, 64, 36).data;
    let sum = 0;
    for (let i = 0; i < px.length; i += 4) sum += px[i]! + px[i + 1]! + px[i + 2]!;
    return sum / (px.length / 4);
  }, source);
}

/** The player's `<video>` element as the page sees it. */
export async function videoState(
  page: Page,
): Promise<{ currentTime: number; paused: boolean; muted: boolean; readyState: number; videoWidth: number; buffered: number[][] }> {
  return page.evaluate(() => {
    const video = document.querySelector('polycast-player')!.shadowRoot!.querySelector('video')!;
    const buffered: number[][] = [];
    for (let i = 0; i < video.buffered.length; i++) buffered.push([video.buffered.start(i), video.buffered.end(i)]);
    return {
      currentTime: video.currentTime,
      paused: video.paused,
      muted: video.muted,
      readyState: video.readyState,
      videoWidth: video.videoWidth,
      buffered,
    };
  });
}

export interface OpenOptions {
  /** Browser features to remove before the player loads. */
  readonly without?: readonly string[];
  /** Runs in the page before its scripts (Playwright's init script), e.g. to take a capability away. */
  readonly beforeLoad?: () => void;
  /** Keep what earlier pages of this origin remembered (the winning transport); by default each page starts clean. */
  readonly keepMemory?: boolean;
}

/** A new page whose console errors end up in the test output. */
export async function openPlayer(context: BrowserContext, url: string, options: OpenOptions = {}): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  if (!options.keepMemory) {
    await page.addInitScript(() => {
      try {
        localStorage.clear();
      } catch {
        // Opaque origins (about:blank) have no storage.
      }
    });
  }
  if (options.without?.length) await withoutGlobals(page, options.without);
  if (options.beforeLoad) await page.addInitScript(options.beforeLoad);
  await page.goto(url);
  return page;
}

/** What `watchEarlyCanvas` saw of the page's own canvas (public/src/early-socket.ts, page-picture.ts). */
export interface EarlyCanvasSeen {
  /** `performance.now()` when it went into the document. */
  at?: number;
  /** The player element was not defined yet. */
  beforePlayer?: boolean;
  size?: [number, number];
  /** Mean of R+G+B over a sample of its pixels when it went in. */
  brightness?: number;
  /** The player had painted a picture of its own when the canvas was taken out. */
  removedWithPlayerPainted?: boolean;
}

/** Before any page script: records when the page's own first-picture canvas comes and goes. Read it with `earlyCanvasSeen`. */
export async function watchEarlyCanvas(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const seen: Record<string, unknown> = ((window as unknown as { __early: Record<string, unknown> }).__early = {});
    new MutationObserver((records) => {
      for (const r of records) {
        for (const node of r.addedNodes) {
          if (!(node instanceof HTMLCanvasElement) || !('polycastEarly' in node.dataset)) continue;
          const px = node.getContext('2d')!.getImageData(0, 0, node.width, node.height).data;
          let sum = 0;
          for (let i = 0; i < px.length; i += 4 * 97) sum += px[i]! + px[i + 1]! + px[i + 2]!;
          Object.assign(seen, {
            at: performance.now(),
            beforePlayer: customElements.get('polycast-player') === undefined,
            size: [node.width, node.height],
            brightness: sum / (px.length / (4 * 97)),
          });
        }
        for (const node of r.removedNodes) {
          if (node instanceof HTMLCanvasElement && 'polycastEarly' in node.dataset) {
            seen.removedWithPlayerPainted = ((window as unknown as { __polycast?: { framesPainted: number } }).__polycast?.framesPainted ?? 0) > 0;
          }
        }
      }
    }).observe(document, { childList: true, subtree: true });
  });
}

export async function earlyCanvasSeen(page: Page): Promise<EarlyCanvasSeen> {
  return page.evaluate(() => (window as unknown as { __early: EarlyCanvasSeen }).__early);
}
