import type { WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, stats, waitForStats } from '../player/page.js';
import { withoutMoq } from './without-moq.js';

/**
 * Negotiation with a server that has WebTransport: which transport the
 * player picks when everything is there, when the `/moq` endpoint is not,
 * and what it does when the server's WebTransport goes away mid-stream.
 * The last test stops WebTransport for good, so it runs last.
 */
let srv: TestServer;
let browser: Browser;
let pub: Publisher;
let url: string;

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n', { webTransport: true });
  pub = publish(srv.rtmpUrl('live/neg'), { size: '640x360' });
  browser = await launchChromium();
  url = srv.httpUrl('/live/neg/');
});

afterAll(async () => {
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

describe('negotiation with WebTransport on the server', () => {
  it('picks wt-raw when everything is there', async () => {
    const page = await openPlayer(browser.context, url);
    const s = await waitForStats(page, (x) => x.framesPainted > 20, 20_000, 'frames');
    expect(s.transport).toBe('wt-raw');
    expect(s.skipped).toEqual([]);
    expect(s.transportDetail).toBe('moq-lite · WebTransport');
    expect(
      s.log.some((line) =>
        line.includes('transports: wt-raw/webtransport → ws-nal → wt-raw/websocket → wt-fmp4 → ws-fmp4/rtwebsocket → ws-fmp4/standard → hls → jpeg'),
      ),
    ).toBe(true);
    // Well inside the 4 s a candidate gets to show a picture.
    expect(s.firstPaintAt!).toBeLessThan(4000);
    await page.close();
  });

  it('without the /moq endpoint (WebTransport and WebSocket), and with ws-nal refused, picks wt-fmp4', async () => {
    const restore = withoutMoq(srv.server);
    try {
      const page = await browser.context.newPage();
      await page.routeWebSocket(/\/ws\/nal(\?.*)?$/, (ws: WebSocketRoute) => void ws.close({ code: 1011, reason: 'refused by the test' }));
      await page.addInitScript(() => localStorage.clear());
      await page.goto(url);
      const s = await waitForStats(page, (x) => x.transport === 'wt-fmp4' && x.framesPainted > 20, 20_000, 'wt-fmp4 frames');
      expect(s.skipped).toHaveLength(3);
      expect(s.skipped[0]).toMatch(/^wt-raw\/webtransport: WebTransport handshake failed/);
      expect(s.skipped[1]).toBe('ws-nal: refused by the test');
      expect(s.skipped[2]).toMatch(/^wt-raw\/websocket: /);
      await page.close();
    } finally {
      restore();
    }
  });

  it('falls back to ws-nal without a reload when the server stops WebTransport mid-stream', async () => {
    const page = await openPlayer(browser.context, url);
    await waitForStats(page, (x) => x.transport === 'wt-raw' && x.framesPainted > 20, 20_000, 'wt-raw frames');
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    await srv.server.webTransport!.stop();
    const s = await waitForStats(page, (x) => x.transport === 'ws-nal' && x.state === 'playing', 30_000, 'ws-nal after the fallback');
    const painted = s.framesPainted;
    await waitForStats(page, (x) => x.framesPainted > painted + 30, 10_000, 'frames from ws-nal');
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    const after = await stats(page);
    // The session dropped, two reconnects found no WebTransport, and ws-nal (next in line) took over.
    expect(after.skipped).toEqual(['wt-raw/webtransport: WebTransport handshake failed: Opening handshake failed. (2 reconnects failed)']);
    expect(after.log.some((line) => line.includes('wt-raw closed: 4000 connection lost'))).toBe(true);
    expect(after.reconnects).toBeGreaterThanOrEqual(2);
    await page.close();
  });
});
