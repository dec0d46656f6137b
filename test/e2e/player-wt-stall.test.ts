import type { WebSocketRoute } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startLoopbackRelay, type LoopbackRelay } from '../helpers/loopback-relay.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, stats, waitForStats } from '../player/page.js';
import { withoutMoq } from './without-moq.js';

/**
 * A WebTransport session that stays open while nothing arrives, the way
 * WebKit's does when its flow-control window never refills (WebKit bug
 * 319818): the page plays through a relay on 127.0.0.2 that then drops
 * every datagram back to the browser. The player must notice within a few
 * seconds and move on to the next transport instead of showing a frozen
 * picture, and keep a transport the page asked for by name.
 */
let srv: TestServer;
let relay: LoopbackRelay;
let browser: Browser;
let pub: Publisher;
const STREAM = 'live/stall';

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n', { webTransport: true });
  relay = await startLoopbackRelay(srv.webPort);
  pub = publish(srv.rtmpUrl(STREAM), { size: '640x360' });
  browser = await launchChromium();
});

afterEach(() => {
  relay.blackhole = false;
});

afterAll(async () => {
  await browser?.close();
  await relay?.close();
  await pub?.stop();
  await srv?.stop();
});

describe('a WebTransport session that stalls while the stream is live', () => {
  it('wt-raw: the player moves on to ws-nal within seconds, without a reload', async () => {
    const page = await openPlayer(browser.context, relay.url(`/${STREAM}/`));
    try {
      await waitForStats(page, (x) => x.transport === 'wt-raw' && x.framesPainted > 20, 20_000, 'wt-raw frames through the relay');
      await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
      relay.blackhole = true;
      const stalledAt = Date.now();
      const s = await waitForStats(page, (x) => x.transport === 'ws-nal' && x.state === 'playing', 15_000, 'ws-nal after the stall');
      const tookMs = Date.now() - stalledAt;
      const painted = s.framesPainted;
      await waitForStats(page, (x) => x.framesPainted > painted + 20, 10_000, 'frames from ws-nal');
      const after = await stats(page);
      console.log(`wt-raw stall → ws-nal playing after ${tookMs} ms (${relay.dropped} datagrams dropped)`);
      expect(after.skipped).toHaveLength(1);
      expect(after.skipped[0]).toMatch(/^wt-raw\/webtransport: WebTransport stalled: no media for \d+\.\d s while the broadcast is live$/);
      expect(after.reconnects, 'moved on at once, no reconnect to the stalled transport').toBe(0);
      expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
      expect(relay.dropped).toBeGreaterThan(0);
    } finally {
      await page.close();
    }
  });

  it('wt-fmp4: the player moves on to ws-fmp4', async () => {
    // Without /moq and with ws-nal refused, wt-fmp4 is the first candidate that plays.
    const restore = withoutMoq(srv.server);
    const page = await browser.context.newPage();
    try {
      await page.routeWebSocket(/\/ws\/nal(\?.*)?$/, (ws: WebSocketRoute) => void ws.close({ code: 1011, reason: 'refused by the test' }));
      await page.addInitScript(() => localStorage.clear());
      await page.goto(relay.url(`/${STREAM}/`));
      await waitForStats(page, (x) => x.transport === 'wt-fmp4' && x.state === 'playing' && x.framesPainted > 20, 20_000, 'wt-fmp4 frames');
      relay.blackhole = true;
      const stalledAt = Date.now();
      const s = await waitForStats(page, (x) => x.transport === 'ws-fmp4' && x.state === 'playing', 12_000, 'ws-fmp4 after the stall');
      console.log(`wt-fmp4 stall → ws-fmp4 playing after ${Date.now() - stalledAt} ms`);
      expect(s.skipped.at(-1)).toMatch(/^wt-fmp4: WebTransport stalled: no media for \d+\.\d s while the stream is live$/);
    } finally {
      await page.close();
      restore();
    }
  });

  it('a transport asked for by name is reconnected, not left, and plays again once the network does', async () => {
    const page = await openPlayer(browser.context, relay.url(`/${STREAM}/?transport=wt-raw`));
    try {
      await waitForStats(page, (x) => x.transport === 'wt-raw' && x.framesPainted > 20, 20_000, 'wt-raw frames');
      relay.blackhole = true;
      await waitForStats(page, (x) => x.state === 'reconnecting' && x.log.some((l) => l.includes('WebTransport stalled')), 10_000, 'a reconnect after the stall');
      relay.blackhole = false;
      const s = await waitForStats(page, (x) => x.state === 'playing' && x.reconnects >= 1, 20_000, 'wt-raw playing again');
      const painted = s.framesPainted;
      await waitForStats(page, (x) => x.framesPainted > painted + 20, 10_000, 'frames again');
      expect(s.transport).toBe('wt-raw');
      expect(s.skipped).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
