import type { WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { stats, waitForStats } from '../player/page.js';
import { withoutMoq } from './without-moq.js';

/**
 * A transport that dies mid-stream and cannot come back: the player moves
 * on to the next one in the same page. ws-nal sockets go through
 * `page.routeWebSocket`, which passes them to the server until the test
 * closes them and refuses new ones.
 */
let srv: TestServer;
let browser: Browser;
let pub: Publisher;

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl('live/fall'), { size: '640x360' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

describe('mid-stream fallback', () => {
  it('falls back from ws-nal to ws-fmp4 without a reload when ws-nal closes and reconnects keep failing', async () => {
    const page = await browser.context.newPage();
    let refuse = false;
    const open: WebSocketRoute[] = [];
    let refused = 0;
    await page.routeWebSocket(/\/ws\/nal(\?.*)?$/, (ws) => {
      if (refuse) {
        refused++;
        void ws.close({ code: 1011, reason: 'refused by the test' });
        return;
      }
      open.push(ws);
      ws.connectToServer();
    });
    // moq over a WebSocket comes between ws-nal and ws-fmp4; this test is about the way down to MSE.
    const restoreMoq = withoutMoq(srv.server);
    await page.goto(srv.httpUrl('/live/fall/'));
    await waitForStats(page, (s) => s.transport === 'ws-nal' && s.framesPainted > 20, 20_000, 'ws-nal frames');
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));

    refuse = true;
    for (const ws of open) await ws.close({ code: 1001, reason: 'server going away' });
    const s = await waitForStats(page, (x) => x.transport === 'ws-fmp4' && x.state === 'playing', 30_000, 'ws-fmp4 after the fallback');
    const painted = s.framesPainted;
    await waitForStats(page, (x) => x.framesPainted > painted + 30, 10_000, 'frames from ws-fmp4');

    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    const after = await stats(page);
    // The drop was retried twice before giving up on ws-nal; wt-fmp4 failed fast on the way down.
    expect(after.reconnects).toBeGreaterThanOrEqual(2);
    expect(after.skipped).toContain('ws-nal: refused by the test (2 reconnects failed)');
    expect(after.skipped).toContain('wt-fmp4: not available on this server');
    expect(after.skipped.some((r) => r.startsWith('wt-raw/websocket: '))).toBe(true);
    restoreMoq();
    expect(after.log.some((line) => line.includes('falling back: refused by the test'))).toBe(true);
    expect(refused).toBeGreaterThanOrEqual(2);
    await page.close();
  });
});
