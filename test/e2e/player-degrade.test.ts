import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startDelayProxy, type DelayProxy } from '../player/delay-proxy.js';
import { openPlayer, stats, videoState, waitForStats } from '../player/page.js';

/**
 * A slow network, made by loading the page through a proxy that holds every
 * WebSocket message 300 ms each way (RTT ≈ 600 ms): the player steps down to
 * keyframes only, then to JPEG, stays there when the network recovers, and
 * returns to video only when the viewer asks.
 */
let srv: TestServer;
let browser: Browser;
let pub: Publisher;
let proxy: DelayProxy;

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl('live/slow'), { size: '640x360' });
  browser = await launchChromium();
  proxy = await startDelayProxy(srv.webPort, 300);
});

afterAll(async () => {
  await proxy?.close();
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

const sent = (text: string) => proxy.sentByPages.filter((m) => m === text).length;

describe('adaptive degrade', () => {
  it('steps down to keyframes, then JPEG, never back by itself, and back to video on "retry video"', async () => {
    const page = await openPlayer(browser.context, proxy.url('/live/slow/'));
    await waitForStats(page, (s) => s.transport === 'ws-nal' && s.state === 'playing', 20_000, 'ws-nal through the proxy');
    await waitForStats(page, (s) => s.rttMs !== null && s.rttMs > 500, 10_000, 'RTT of the slow path');

    let s = await waitForStats(page, (x) => x.degraded === 'keyframes-only', 10_000, 'keyframes only');
    expect(s.degradedReason).toMatch(/^RTT \d+ ms > 150 ms for 3\.\d s$/);
    expect(sent('{"set_keyframes_only":true}')).toBe(1);

    s = await waitForStats(page, (x) => x.degraded === 'jpeg', 10_000, 'JPEG');
    expect(s.transport).toBe('jpeg');
    expect(s.degradedReason).toContain('also with keyframes only');
    // Video is off on the ws-nal socket, which stays open for sound and input.
    // At least once: a ws-nal socket that reconnects re-applies it after the new hello (CI once saw two).
    await expect.poll(() => sent('{"set_video_enabled":false}'), { timeout: 2000 }).toBeGreaterThanOrEqual(1);
    const jpegFrames = (await waitForStats(page, (x) => x.jpegQuality !== null && x.framesPainted > 0, 15_000, 'JPEG pictures')).framesPainted;
    await waitForStats(page, (x) => x.framesPainted > jpegFrames + 5, 10_000, 'more JPEG pictures');
    const indicator = await page.evaluate(() => {
      const el = document.querySelector('polycast-player')!.shadowRoot!.querySelector<HTMLElement>('.degrade')!;
      return { hidden: el.hidden, text: el.textContent ?? '' };
    });
    expect(indicator.hidden).toBe(false);
    expect(indicator.text).toContain('JPEG only: RTT');
    expect(indicator.text).toContain('Retry video');

    // The network recovers; the player does not switch back on its own.
    proxy.delayMs = 0;
    await waitForStats(page, (x) => x.rttMs !== null && x.rttMs < 100, 10_000, 'RTT of the fast path');
    await page.waitForTimeout(6000);
    s = await stats(page);
    expect(s.degraded).toBe('jpeg');
    expect(s.transport).toBe('jpeg');
    expect(sent('{"set_video_enabled":true}')).toBe(0);

    await page.getByRole('button', { name: 'Retry video' }).click();
    s = await waitForStats(page, (x) => x.transport === 'ws-nal' && x.degraded === null, 5000, 'video again');
    await expect.poll(() => sent('{"set_video_enabled":true}'), { timeout: 2000 }).toBe(1);
    expect(sent('{"set_keyframes_only":false}')).toBe(1);
    expect(s.jpegQuality).toBeNull();
    // Full frame rate again (ws-nal at 30 fps, not one keyframe a second), and it stays.
    await waitForStats(page, (x) => x.fps >= 20, 10_000, 'ws-nal at full frame rate');
    await page.waitForTimeout(4000);
    s = await stats(page);
    expect(s.transport).toBe('ws-nal');
    expect(s.degraded).toBeNull();
    expect(s.state).toBe('playing');
    expect(await page.evaluate(() => document.querySelector('polycast-player')!.shadowRoot!.querySelector<HTMLElement>('.degrade')!.hidden)).toBe(true);
    await page.close();
  }, 90_000);

  it('over MSE, keeps the ws-fmp4 socket playing the sound alone under JPEG, and brings the video back on "retry video"', async () => {
    proxy.delayMs = 300;
    proxy.sentByPages.length = 0;
    const page = await openPlayer(browser.context, proxy.url('/live/slow/'), { without: ['WebTransport', 'VideoDecoder'] });
    await waitForStats(page, (s) => s.transport === 'ws-fmp4' && s.state === 'playing', 20_000, 'ws-fmp4 through the proxy');
    await page.evaluate(() => (document.querySelector('polycast-player') as unknown as { player: { unmute(): Promise<void> } }).player.unmute());
    let s = await waitForStats(page, (x) => x.degraded === 'jpeg', 25_000, 'JPEG');
    expect(s.log.some((line) => line.includes('degrading to keyframes-only: RTT'))).toBe(true);
    // ws-fmp4 over RTWebSocket carries control messages on its return flow, which the proxy sees as binary.
    await waitForStats(page, (x) => x.framesPainted > s.framesPainted + 5, 15_000, 'JPEG pictures');

    // The video element lets go of its MediaSource; the sound, played apart from it, goes on.
    const before = await stats(page);
    await page.waitForTimeout(2000);
    const after = await stats(page);
    expect((await videoState(page)).videoWidth).toBe(0);
    expect(after.soundPath).toBe('webcodecs');
    expect(after.audioFramesPlayed - before.audioFramesPlayed).toBeGreaterThan(60);

    proxy.delayMs = 0;
    await page.getByRole('button', { name: 'Retry video' }).click();
    s = await waitForStats(page, (x) => x.transport === 'ws-fmp4' && x.degraded === null, 5000, 'ws-fmp4 video again');
    const painted = s.framesPainted;
    await waitForStats(page, (x) => x.framesPainted > painted + 30, 15_000, 'MSE pictures again');
    expect((await videoState(page)).videoWidth).toBe(640);
    await page.close();
  }, 90_000);
});
