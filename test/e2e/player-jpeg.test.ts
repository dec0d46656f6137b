import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, stats, waitForStats } from '../player/page.js';

/**
 * `?transport=jpeg`: snapshot polling against a real server, with
 * `page.route` standing in for a slow link where the test needs one.
 */
let srv: TestServer;
let browser: Browser;
let pub: Publisher;

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl('live/jpeg'), { size: '640x360' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

interface SnapshotRequest {
  readonly at: number;
  /** The artificial delay in force when it was made. */
  readonly delayMs: number;
  readonly quality: number;
  readonly width: number | null;
}

describe('JPEG polling', () => {
  it('waits out a 503 as long as Retry-After says', async () => {
    const page = await browser.context.newPage();
    const requests: number[] = [];
    let refused = false;
    await page.route('**/snapshot.jpg*', async (route) => {
      requests.push(Date.now());
      if (!refused) {
        refused = true;
        await route.fulfill({ status: 503, headers: { 'Retry-After': '2' }, body: 'snapshot decoder is starting\n' });
      } else {
        await route.continue();
      }
    });
    await page.goto(srv.httpUrl('/live/jpeg/?transport=jpeg'));
    await waitForStats(page, (s) => s.framesPainted > 3, 20_000, 'JPEG frames after the 503');
    expect(requests[1]! - requests[0]!).toBeGreaterThanOrEqual(1900);
    expect((await stats(page)).log.some((line) => line.includes('state connecting: snapshot decoder is starting'))).toBe(true);
    await page.close();
  });

  it('raises quality while pictures come fast, lowers quality then width when they are slow, and recovers width first', async () => {
    const page = await openPlayer(browser.context, srv.httpUrl('/live/jpeg/?transport=jpeg'));
    const requests: SnapshotRequest[] = [];
    let delayMs = 0;
    await page.route('**/snapshot.jpg*', async (route) => {
      const params = new URL(route.request().url()).searchParams;
      const width = params.get('width');
      requests.push({ at: Date.now(), delayMs, quality: Number(params.get('quality')), width: width === null ? null : Number(width) });
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      await route.continue();
    });
    const elementPx = await page.evaluate(() => Math.round(document.querySelector('polycast-player')!.clientWidth * devicePixelRatio));

    // Locally every picture takes far less than 300 ms: +5 % each, up to 90.
    let s = await waitForStats(page, (x) => x.jpegQuality === 90, 30_000, 'quality 90');
    // The stats say 90 as soon as the player decides it; its next request carries it.
    for (const until = Date.now() + 5000; requests[requests.length - 1]?.quality !== 90 && Date.now() < until; ) await page.waitForTimeout(50);
    expect(s.transport).toBe('jpeg');
    expect(s.jpegWidth).toBe(elementPx);
    const rising = requests.map((r) => r.quality);
    expect(rising[rising.length - 1]).toBe(90);
    expect(rising.every((q, i) => i === 0 || q >= rising[i - 1]!)).toBe(true);
    expect(requests.every((r) => r.width === elementPx)).toBe(true);

    // Over 500 ms per picture: −10 % each down to 20, then the picture narrows.
    delayMs = 600;
    s = await waitForStats(page, (x) => x.jpegQuality === 20 && x.jpegWidth !== null && x.jpegWidth < elementPx, 40_000, 'quality 20, narrower');
    const slow = requests.filter((r) => r.delayMs > 0);
    expect(slow.some((r) => r.quality === 20 && r.width === elementPx)).toBe(true);
    // One request at a time: each starts after the previous one's 600 ms.
    const gaps = slow.slice(1).map((r, i) => r.at - slow[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(550);

    // Fast again: full width comes back before any quality does.
    delayMs = 0;
    s = await waitForStats(page, (x) => x.jpegQuality !== null && x.jpegQuality > 20, 20_000, 'quality rising again');
    // As above: the stats say it before the request that carries it has arrived.
    const lastSlow = requests.indexOf(slow[slow.length - 1]!);
    const afterSlow = (): typeof requests => requests.filter((r, i) => i > lastSlow && r.quality > 20);
    for (const until = Date.now() + 5000; afterSlow().length === 0 && Date.now() < until; ) await page.waitForTimeout(50);
    const recovered = afterSlow();
    expect(recovered[0]!.width).toBe(elementPx);
    expect(s.framesPainted).toBeGreaterThan(20);
    await page.close();
  });
});
