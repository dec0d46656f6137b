import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { earlyCanvasSeen, openPlayer, pictureBrightness, stats, waitForStats, watchEarlyCanvas, type PageStats } from '../player/page.js';

/**
 * `?transport=wt-raw`: moq-lite over WebTransport at `/moq` through
 * `@moq/net`, the hang catalog and legacy container, decoded by WebCodecs
 * and painted on the canvas, against a real server and ffmpeg publisher.
 */
let srv: TestServer;
let browser: Browser;
const publishers: Publisher[] = [];

type Stats = PageStats & { audioFramesPlayed: number };

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n', { webTransport: true });
  publishers.push(publish(srv.rtmpUrl('live/raw'), { size: '640x360' }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(publishers.map((p) => p.stop()));
  await srv?.stop();
});

/** Calls a method of the page's PolycastPlayer, as a page script would. */
async function call(page: Page, method: 'unmute' | 'setVideoEnabled', ...args: unknown[]): Promise<void> {
  await page.evaluate(
    ({ method, args }) => {
      const player = (document.querySelector('polycast-player') as unknown as { player: Record<string, (...a: unknown[]) => unknown> }).player;
      return player[method]!(...args) as Promise<void> | undefined;
    },
    { method, args },
  );
}

describe('wt-raw in the player', () => {
  it("pins the certificate hash the page came with instead of fetching it, and fetches it when the page's is stale", async () => {
    const open = async (rewrite: boolean) => {
      const page = await browser.context.newPage();
      const fetched: string[] = [];
      page.on('request', (r) => {
        if (new URL(r.url()).pathname === '/certificate.sha256') fetched.push(r.url());
      });
      if (rewrite) {
        // As if the certificate had rotated since the server wrote the page (observers run before the next script).
        await page.addInitScript(() => {
          new MutationObserver((records) => {
            for (const r of records) {
              for (const node of r.addedNodes) {
                if (node instanceof HTMLScriptElement && node.id === 'polycast-stream') node.textContent = node.textContent!.replace(/"certificateSha256":"[0-9a-f]{64}"/, `"certificateSha256":"${'0'.repeat(64)}"`);
              }
            }
          }).observe(document, { childList: true, subtree: true });
        });
      }
      await page.goto(srv.httpUrl('/live/raw/?transport=wt-raw'));
      const s = await waitForStats(page, (x) => x.framesPainted > 10, 20_000, 'wt-raw frames');
      await page.close();
      return { s, fetched };
    };
    const fresh = await open(false);
    expect(fresh.s.transport).toBe('wt-raw');
    expect(fresh.s.log.some((line) => line.includes('certificate pinned by hash'))).toBe(true);
    expect(fresh.fetched).toEqual([]);
    const stale = await open(true);
    expect(stale.s.transport).toBe('wt-raw');
    expect(stale.s.log.some((line) => line.includes('the certificate changed since the page was served'))).toBe(true);
    expect(stale.fetched).toHaveLength(1);
  });

  it("shows the stream's keyframe, fetched by the page's head script, until the player paints its own picture, and takes the page's decoder over", async () => {
    const page = await browser.context.newPage();
    const keyframes: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.endsWith('/ws/nal/keyframe')) keyframes.push(r.url());
    });
    await watchEarlyCanvas(page);
    await page.goto(srv.httpUrl('/live/raw/?transport=wt-raw'));
    const s = await waitForStats(page, (x) => x.framesPainted > 10, 20_000, 'wt-raw frames');
    expect(s.transport).toBe('wt-raw');
    expect(keyframes).toEqual([srv.httpUrl('/live/raw/ws/nal/keyframe')]);
    const early = await earlyCanvasSeen(page);
    expect(early.size).toEqual([640, 360]);
    // testsrc: a picture, not a black canvas.
    expect(early.brightness).toBeGreaterThan(50);
    expect(early.removedWithPlayerPainted).toBe(true);
    expect(await page.locator('canvas[data-polycast-early]').count()).toBe(0);
    // wt-raw takes the page's decoder over, configured as its own would be, and counts the page's picture as its first paint.
    expect(s.log.some((line) => line.includes('decoder started by the page'))).toBe(true);
    expect(s.firstPaintAt).toBeLessThanOrEqual(early.at!);
    await page.close();
  });

  it("takes the session the page's head script opened and subscribes from the page's catalog, which the catalog track then overrules", async () => {
    const open = async (staleCatalog: boolean) => {
      const page = await browser.context.newPage();
      const sessions: string[] = [];
      // Every WebTransport the page makes, the head script's included (init scripts run before it).
      await page.addInitScript(() => {
        const made: string[] = [];
        (window as unknown as { __sessions: string[] }).__sessions = made;
        const WT = window.WebTransport;
        window.WebTransport = class extends WT {
          constructor(url: string | URL, options?: WebTransportOptions) {
            super(url, options);
            made.push(String(url));
          }
        };
      });
      if (staleCatalog) {
        // As if the publisher had changed the picture size since the server wrote the page.
        await page.addInitScript(() => {
          new MutationObserver((records) => {
            for (const r of records) {
              for (const node of r.addedNodes) {
                if (node instanceof HTMLScriptElement && node.id === 'polycast-stream') node.textContent = node.textContent!.replace(/"codedWidth":640,"codedHeight":360,"optimizeForLatency"/, '"codedWidth":320,"codedHeight":180,"optimizeForLatency"');
              }
            }
          }).observe(document, { childList: true, subtree: true });
        });
      }
      await page.goto(srv.httpUrl('/live/raw/?transport=wt-raw'));
      const s = await waitForStats(page, (x) => x.framesPainted > 30, 20_000, 'wt-raw frames');
      sessions.push(...(await page.evaluate(() => (window as unknown as { __sessions: string[] }).__sessions)));
      await page.close();
      return { s, sessions };
    };
    const fresh = await open(false);
    expect(fresh.s.transport).toBe('wt-raw');
    expect(fresh.s.log.some((line) => /adopting the session the page opened \d+ ms ago/.test(line))).toBe(true);
    expect(fresh.s.log.some((line) => line.includes('moq catalog from the page'))).toBe(true);
    // One session for the page and the player together.
    expect(fresh.sessions.filter((url) => new URL(url).pathname === '/moq')).toHaveLength(1);
    // Configured once: the catalog track said the same as the page.
    expect(fresh.s.log.filter((line) => /video avc1\.[0-9a-f]{6} 640x360/.test(line))).toHaveLength(1);
    expect([fresh.s.width, fresh.s.height]).toEqual([640, 360]);

    const stale = await open(true);
    expect(stale.s.log.some((line) => /video avc1\.[0-9a-f]{6} 320x180/.test(line))).toBe(true);
    expect(stale.s.log.some((line) => /video avc1\.[0-9a-f]{6} 640x360/.test(line))).toBe(true);
    expect([stale.s.width, stale.s.height]).toEqual([640, 360]);
  });

  it.each([
    ['WebTransport', '?transport=wt-raw', [], 'moq-lite · WebTransport'],
    // As on Safari, where @moq/net and the player leave WebTransport alone: QMux over a WebSocket to the same /moq.
    ['a WebSocket, the page having no WebTransport', '?transport=wt-raw&protocol=websocket', ['WebTransport'], 'moq-lite · QMux over WebSocket'],
  ])('paints WebCodecs frames from /moq over %s and plays the sound', async (_how, query, without, detail) => {
    const page = await openPlayer(browser.context, srv.httpUrl(`/live/raw/${query}`), { without });
    const s = await waitForStats(page, (x) => x.framesPainted > 30, 20_000, 'wt-raw frames');
    expect(s.state).toBe('playing');
    expect(s.transport).toBe('wt-raw');
    expect(s.transportDetail).toBe(detail);
    expect([s.width, s.height]).toEqual([640, 360]);
    expect(s.framesDecoded).toBeGreaterThanOrEqual(s.framesPainted);
    expect(s.log.some((line) => line.includes('moq moq-lite-04 session open, broadcast live/raw'))).toBe(true);
    expect(s.log.some((line) => /video avc1\.[0-9a-f]{6} 640x360/.test(line))).toBe(true);
    expect(await pictureBrightness(page, 'canvas')).toBeGreaterThan(50);
    // Real time: about 30 frames a second once the first GOP's burst is through.
    const before = s.framesPainted;
    await page.waitForTimeout(2000);
    const after = await stats(page);
    expect(after.framesPainted - before).toBeGreaterThan(45);
    expect(after.framesPainted - before).toBeLessThan(75);
    // RTT from the announce probes, latency from the arrival estimate.
    await waitForStats(page, (x) => x.rttMs !== null && x.latencyMs !== null, 5000, 'RTT and latency');
    expect(after.latencyMs!).toBeLessThan(200);
    await call(page, 'unmute');
    await waitForStats(page, (x) => (x as Stats).audioFramesPlayed > 50, 10_000, 'sound decoded by WebCodecs');
    await page.close();
  });

  it('turns video off by leaving its subscription, keeping the sound, and back on', async () => {
    const page = await openPlayer(browser.context, srv.httpUrl('/live/raw/?transport=wt-raw'));
    await waitForStats(page, (x) => x.framesPainted > 30, 20_000, 'wt-raw frames');
    await call(page, 'unmute');
    await call(page, 'setVideoEnabled', false);
    await page.waitForTimeout(500);
    const off = (await stats(page)) as Stats;
    await page.waitForTimeout(1500);
    const later = (await stats(page)) as Stats;
    expect(later.framesPainted).toBe(off.framesPainted);
    expect(later.audioFramesPlayed).toBeGreaterThan(off.audioFramesPlayed + 30);
    await call(page, 'setVideoEnabled', true);
    await waitForStats(page, (x) => x.framesPainted > later.framesPainted + 30, 10_000, 'video again');
    expect((await stats(page)).log.filter((line) => line.includes('moq moq-lite-04 session open')).length).toBe(1);
    await page.close();
  });

  it('sends input over the ws-nal input channel, without its sound', async () => {
    const input = new NalClient(srv.wsUrl('live/raw', 'ws/input'));
    await input.opened;
    const page = await openPlayer(browser.context, srv.httpUrl('/live/raw/?transport=wt-raw'));
    const s = await waitForStats(page, (x) => x.framesPainted > 5, 20_000, 'wt-raw frames');
    // The WebTransport session says from the start that it plays the sound: the channel opens once, silent.
    expect(s.log.filter((line) => line.includes('input channel over ws-nal')).map((line) => line.replace(/^\S+ /, ''))).toEqual([
      'input channel over ws-nal (video off, sound ignored)',
    ]);
    const box = await page.evaluate(() => {
      const r = document.querySelector('polycast-player')!.getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
    });
    await page.mouse.click(box.x, box.y);
    await page.keyboard.press('KeyQ');
    await input.until(() => input.binaries.some((b) => b[0] === 0x10 && b.subarray(4).toString() === 'KeyQ'), 5000, 'KeyQ');
    input.close();
    await page.close();
  });

  it('waits for a publisher, plays when one comes, and waits again when it leaves', async () => {
    const page = await openPlayer(browser.context, srv.httpUrl('/live/later/?transport=wt-raw'));
    await waitForStats(page, (x) => x.state === 'waiting', 10_000, 'waiting for a publisher');
    const pub = publish(srv.rtmpUrl('live/later'), { size: '320x180' });
    publishers.push(pub);
    const s = await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 10, 20_000, 'frames once published');
    expect([s.width, s.height]).toEqual([320, 180]);
    await pub.stop();
    await waitForStats(page, (x) => x.state === 'waiting', 10_000, 'waiting after the publisher left');
    const left = await stats(page);
    expect(left.transport).toBe('wt-raw');
    // A picture still in the decoder when the announcement ends must not call the stream playing again.
    const afterLeaving = left.log.slice(left.log.findIndex((line) => line.includes('offline: the publisher left')));
    expect(afterLeaving.filter((line) => line.endsWith('state playing'))).toEqual([]);
    // Another publisher, another size: a new catalog on the same subscriptions, the decoder reconfigured.
    publishers.push(publish(srv.rtmpUrl('live/later'), { size: '640x360' }));
    const again = await waitForStats(page, (x) => x.state === 'playing' && x.width === 640, 20_000, 'frames of the second publisher');
    await waitForStats(page, (x) => x.framesPainted > again.framesPainted + 30, 10_000, 'more frames of the second publisher');
    expect(again.log.filter((line) => line.includes('moq moq-lite-04 session open')).length).toBe(1);
    await page.close();
  });
});
