import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, stats, waitForStats } from '../player/page.js';

/**
 * WebKit's MSE traps, reproduced in Chromium by giving the page the shape
 * that triggers them (the real engine runs in the cross-engine tests):
 * a `requestVideoFrameCallback` that never fires, and a WebKit user agent,
 * under which the player must never write `playbackRate` (WebKit unmutes and
 * re-buffers on rate changes).
 */
let srv: TestServer;
let browser: Browser;
let pub: Publisher;

const WEBKIT_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl('live/traps'), { size: '640x360' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

describe('WebKit traps on the MSE path', () => {
  it('counts frames by polling when requestVideoFrameCallback never fires', async () => {
    const page = await browser.context.newPage();
    await page.addInitScript(() => {
      HTMLVideoElement.prototype.requestVideoFrameCallback = () => 0;
    });
    await page.goto(srv.httpUrl('/live/traps/?transport=ws-fmp4'));
    const s = await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 30, 20_000, 'frames counted without frame callbacks');
    expect(s.log.some((l) => l.includes('requestVideoFrameCallback never fires here: counting frames by polling'))).toBe(true);
    // And it stays on ws-fmp4: no reconnect loop for want of counted frames.
    await page.waitForTimeout(3000);
    const later = await stats(page);
    expect(later.transport).toBe('ws-fmp4');
    expect(later.reconnects).toBe(0);
    expect(later.framesPainted).toBeGreaterThan(s.framesPainted + 45);
    await page.close();
  });

  it('never changes playbackRate under a WebKit user agent, and the element stays muted', async () => {
    const page = await openPlayer(browser.context, 'about:blank');
    await page.addInitScript((ua: string) => {
      Object.defineProperty(Navigator.prototype, 'userAgent', { get: () => ua });
      const desc = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'playbackRate')!;
      const w = window as unknown as { __rateWrites: number[] };
      w.__rateWrites = [];
      Object.defineProperty(HTMLMediaElement.prototype, 'playbackRate', {
        get() { return desc.get!.call(this); },
        set(v: number) { w.__rateWrites.push(v); desc.set!.call(this, v); },
      });
    }, WEBKIT_UA);
    try {
      // A 1 s buffer setting (400 ms for the video-only SourceBuffer): elsewhere the controller steers the rate
      // toward it as arrival jitter moves the lead; the jumps-only one must never touch it.
      await page.goto(srv.httpUrl('/live/traps/?transport=ws-fmp4&buffer=1000'));
      await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 30, 20_000, 'ws-fmp4');
      await page.waitForTimeout(5000);
      const result = await page.evaluate(() => {
        const video = document.querySelector('polycast-player')!.shadowRoot!.querySelector('video')!;
        const muted = video.muted;
        // The hook itself must see writes, or an empty list would prove nothing: this one is the test's own.
        video.playbackRate = 1;
        return { writes: (window as unknown as { __rateWrites: number[] }).__rateWrites, muted };
      });
      expect(result.writes, 'only the test itself wrote playbackRate').toEqual([1]);
      expect(result.muted).toBe(true);
    } finally {
      await page.close();
    }
  });
  it('hls under a WebKit user agent: hls.js never steers the rate, and an element the engine unmutes is muted again', async () => {
    const page = await openPlayer(browser.context, 'about:blank');
    await page.addInitScript((ua: string) => {
      Object.defineProperty(Navigator.prototype, 'userAgent', { get: () => ua });
      const rate = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'playbackRate')!;
      const muted = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'muted')!;
      const w = window as unknown as { __rateWrites: number[] };
      w.__rateWrites = [];
      // Chromium's own HLS fails on fMP4 parts; a WebKit without native HLS (a GStreamer with no hlsdemux) takes hls.js too.
      const canPlayType = HTMLMediaElement.prototype.canPlayType;
      HTMLMediaElement.prototype.canPlayType = function (type: string) {
        return /mpegurl/i.test(type) ? '' : canPlayType.call(this, type);
      };
      // What WebKitGTK 2.50 does: a rate change unmutes the element.
      Object.defineProperty(HTMLMediaElement.prototype, 'playbackRate', {
        get() { return rate.get!.call(this); },
        set(v: number) {
          w.__rateWrites.push(v);
          rate.set!.call(this, v);
          muted.set!.call(this, false);
        },
      });
    }, WEBKIT_UA);
    try {
      await page.goto(srv.httpUrl('/live/traps/?transport=hls'));
      await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 30, 30_000, 'hls');
      await page.waitForTimeout(3000);
      const writes = await page.evaluate(() => (window as unknown as { __rateWrites: number[] }).__rateWrites.slice());
      expect(writes, 'nothing in the player wrote playbackRate').toEqual([]);
      const mutedAfter = await page.evaluate(async () => {
        const video = document.querySelector('polycast-player')!.shadowRoot!.querySelector('video')!;
        video.playbackRate = 1;
        const unmutedByEngine = !video.muted;
        await new Promise((r) => setTimeout(r, 100));
        return { unmutedByEngine, muted: video.muted };
      });
      expect(mutedAfter).toEqual({ unmutedByEngine: true, muted: true });
    } finally {
      await page.close();
    }
  });
});
