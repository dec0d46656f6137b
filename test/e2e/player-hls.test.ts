import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, stats, waitForStats, withoutGlobals } from '../player/page.js';

/**
 * The player's `hls` transport in Chromium: hls.js over MSE, reading the
 * server's LL-HLS (200 ms parts). It must paint a moving picture, stay
 * within 2 s of live by the program date of the frame on screen, and be
 * what negotiation falls to when every transport before it fails.
 */
let srv: TestServer;
let browser: Browser;
let pub: Publisher;
const STREAM = 'live/hls';

beforeAll(async () => {
  srv = await startServer('hlsPartDuration: 200ms\nhlsSegmentDuration: 1s\npaths:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl(STREAM), { size: '640x360' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

describe('the hls transport', () => {
  it('plays through hls.js within 2 s of live, and keeps up', async () => {
    const page = await openPlayer(browser.context, srv.httpUrl(`/${STREAM}/?transport=hls`));
    try {
      const s = await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 30, 30_000, 'hls frames');
      expect(s.transport).toBe('hls');
      expect(s.transportDetail).toBe('hls.js');
      expect([s.width, s.height]).toEqual([640, 360]);
      // Settled: hls.js first joins a few parts back, then holds PART-HOLD-BACK behind the edge.
      await new Promise((resolve) => setTimeout(resolve, 6000));
      const samples: number[] = [];
      for (let i = 0; i < 10; i++) {
        const now = await stats(page);
        if (now.latencyMs !== null) samples.push(now.latencyMs);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      const after = await stats(page);
      console.log(`hls.js in Chromium: latency ${samples.map((v) => v.toFixed(0)).join(' ')} ms, ${after.fps} fps, buffer ${after.bufferAheadMs?.toFixed(0)} ms`);
      expect(samples.length).toBeGreaterThan(5);
      expect(Math.max(...samples), 'within 2 s of live').toBeLessThan(2000);
      expect(after.framesPainted - s.framesPainted).toBeGreaterThan(150);
      expect(after.state).toBe('playing');
    } finally {
      await page.close();
    }
  });

  it('is where negotiation lands when every transport before it fails', async () => {
    const page = await browser.context.newPage();
    try {
      // Playwright routes the classic WebSocket only: without WebSocketStream, ws-fmp4 uses it too.
      await withoutGlobals(page, ['WebSocketStream']);
      await page.routeWebSocket(/\/(ws\/(nal|fmp4)|moq)(\?|$)/, (ws) => void ws.close({ code: 1011, reason: 'refused by the test' }));
      await page.addInitScript(() => localStorage.clear());
      await page.goto(srv.httpUrl(`/${STREAM}/`));
      const s = await waitForStats(page, (x) => x.transport === 'hls' && x.state === 'playing' && x.framesPainted > 10, 30_000, 'hls after the others');
      expect(s.skipped.map((r) => r.split(':')[0])).toEqual(expect.arrayContaining(['ws-nal', 'wt-raw/websocket', 'ws-fmp4/rtwebsocket', 'ws-fmp4/standard']));
    } finally {
      await page.close();
    }
  });
});
