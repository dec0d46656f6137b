import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, pictureBrightness, stats, videoState, waitForStats } from '../player/page.js';

/**
 * Which transport the player picks when the browser lacks what the better
 * ones need, each time against a real server and a real RTMP publisher.
 */
let srv: TestServer;
let browser: Browser;
let pub: Publisher;
let url: string;

const NO_WEBCODECS = ['WebTransport', 'VideoDecoder'];
const NO_MSE = [...NO_WEBCODECS, 'MediaSource', 'ManagedMediaSource'];
/** A browser without HLS in its media element. */
const withoutNativeHls = (): void => {
  const canPlayType = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (this: HTMLMediaElement, type: string): CanPlayTypeResult {
    return /mpegurl/i.test(type) ? '' : canPlayType.call(this, type);
  };
};

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl('live/neg'), { size: '640x360' });
  browser = await launchChromium();
  url = srv.httpUrl('/live/neg/');
});

afterAll(async () => {
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

/** The video element plays: its clock advances and frames reach the screen. */
async function expectMsePlayback(page: Awaited<ReturnType<typeof openPlayer>>): Promise<void> {
  await waitForStats(page, (s) => s.framesPainted > 30, 25_000, 'MSE frames');
  const before = await videoState(page);
  const painted = (await stats(page)).framesPainted;
  await page.waitForTimeout(2000);
  const after = await videoState(page);
  const s = await stats(page);
  expect(after.currentTime - before.currentTime).toBeGreaterThan(1.2);
  expect(s.framesPainted - painted).toBeGreaterThan(30);
  expect(s.framesDecoded).toBeGreaterThanOrEqual(s.framesPainted);
  expect([s.width, s.height]).toEqual([640, 360]);
  expect(s.bufferAheadMs).not.toBeNull();
  expect(s.playbackRate).toBeGreaterThanOrEqual(0.95);
  // Catching up is allowed (up to 1.5 for a video-only element, live-video.ts), fast-forwarding beyond the steering is not.
  expect(s.playbackRate).toBeLessThanOrEqual(1.5);
  expect(s.latencyMs).not.toBeNull();
  expect(await pictureBrightness(page, 'video')).toBeGreaterThan(50);
}

describe('transport negotiation in headless Chromium', () => {
  it('without WebTransport picks ws-nal ahead of moq over a WebSocket, and says why wt-raw/webtransport was skipped', async () => {
    const page = await openPlayer(browser.context, url, { without: ['WebTransport'] });
    const s = await waitForStats(page, (x) => x.framesPainted > 20, 20_000, 'ws-nal frames');
    expect(s.transport).toBe('ws-nal');
    expect(s.state).toBe('playing');
    // Everything unsupported is listed up front, also what comes after the winner.
    expect(s.skipped).toEqual(['wt-raw/webtransport: no WebTransport', 'wt-fmp4: no WebTransport']);
    expect(s.log.some((line) => line.includes('transports: ws-nal → wt-raw/websocket → ws-fmp4/rtwebsocket'))).toBe(true);
    // The overlay names the transport and each skipped one with its reason.
    const overlay = await page.evaluate(() => document.querySelector('polycast-player')!.shadowRoot!.querySelector('.overlay')!.textContent);
    expect(overlay).toContain('ws-nal');
    expect(overlay).toContain('wt-raw/webtransport: no WebTransport');
    await page.close();
  });

  it('with WebTransport in the browser but not on the server, fails over to ws-nal at once', async () => {
    const page = await openPlayer(browser.context, url);
    const s = await waitForStats(page, (x) => x.framesPainted > 5, 20_000, 'ws-nal frames');
    expect(s.transport).toBe('ws-nal');
    expect(s.skipped).toEqual(['wt-raw/webtransport: not available on this server']);
    // Well inside the 4 s connect timeout: the slot fails fast instead of timing out.
    expect(s.firstPaintAt!).toBeLessThan(4000);
    await page.close();
  });

  it('without WebCodecs plays ws-fmp4 over RTWebSocket through MSE', async () => {
    const page = await openPlayer(browser.context, url, { without: NO_WEBCODECS });
    await expectMsePlayback(page);
    const s = await stats(page);
    expect(s.transport).toBe('ws-fmp4');
    // Its tracks come apart: video alone in the SourceBuffer, the sound through WebCodecs (AudioDecoder is still there).
    expect(s.transportDetail).toBe('rtwebsocket · WebSocketStream · MediaSource · sound apart (webcodecs)');
    expect(s.skipped).toEqual(['wt-raw: no VideoDecoder', 'ws-nal: no VideoDecoder', 'wt-fmp4: no WebTransport']);
    // The RTWebSocket connection's own RTT, measured with its pings.
    await waitForStats(page, (x) => x.rttMs !== null && x.rttMs < 150, 5000, 'RTWebSocket RTT');
    expect(s.abandoned).toBe(0);
    await page.close();
  });

  it('with ?protocol=standard plays the plain ws-fmp4 variant through one SourceBuffer', async () => {
    const page = await openPlayer(browser.context, `${url}?protocol=standard`, { without: NO_WEBCODECS });
    await expectMsePlayback(page);
    const s = await stats(page);
    expect(s.transport).toBe('ws-fmp4');
    expect(s.transportDetail).toBe('standard · WebSocketStream · MediaSource');
    expect(s.log.some((line) => line.includes('combined track: video/mp4; codecs="avc1.'))).toBe(true);
    await page.close();
  });

  it('uses the classic WebSocket for RTWebSocket where WebSocketStream is missing', async () => {
    const page = await openPlayer(browser.context, url, { without: [...NO_WEBCODECS, 'WebSocketStream'] });
    await expectMsePlayback(page);
    expect((await stats(page)).transportDetail).toBe('rtwebsocket · WebSocket · MediaSource · sound apart (webcodecs)');
    await page.close();
  });

  it('sends input over a ws-nal input channel while MSE shows the pictures', async () => {
    const input = new NalClient(srv.wsUrl('live/neg', 'ws/input'));
    await input.opened;
    const page = await openPlayer(browser.context, url, { without: NO_WEBCODECS });
    await waitForStats(page, (s) => s.framesPainted > 5 && s.transport === 'ws-fmp4', 20_000, 'MSE frames');
    expect((await stats(page)).log.some((line) => line.includes('input channel over ws-nal (video off, sound ignored)'))).toBe(true);
    const box = await page.evaluate(() => {
      const r = document.querySelector('polycast-player')!.getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
    });
    await page.mouse.click(box.x, box.y);
    await page.keyboard.press('KeyM');
    await input.until(() => input.binaries.some((b) => b[0] === 0x10 && b.subarray(4).toString() === 'KeyM'), 5000, 'KeyM');
    // The click landed on the picture: an absolute position inside it.
    await input.until(() => input.binaries.some((b) => b[0] === 0x12), 5000, 'mouse position');
    input.close();
    await page.close();
  });

  it('without MediaSource either, shows JPEG frames', async () => {
    const page = await openPlayer(browser.context, url, { without: NO_MSE, beforeLoad: withoutNativeHls });
    const s = await waitForStats(page, (x) => x.framesPainted > 10, 25_000, 'JPEG frames');
    expect(s.transport).toBe('jpeg');
    expect(s.state).toBe('playing');
    expect(s.skipped.slice(0, 4)).toEqual([
      'wt-raw: no VideoDecoder',
      'ws-nal: no VideoDecoder',
      'wt-fmp4: no WebTransport',
      'ws-fmp4: MediaSource missing',
    ]);
    // Chromium 156 says it plays HLS itself, and its built-in player sometimes plays this stream and sometimes fails on
    // it; the page says it has no native HLS, as Chromium before 156 and Firefox do, so HLS is skipped and JPEG follows.
    expect(s.skipped.slice(4)).toEqual([expect.stringMatching(/^hls: /)]);
    expect(s.latencyMs).not.toBeNull();
    expect(s.jpegQuality).not.toBeNull();
    expect(await pictureBrightness(page, 'canvas')).toBeGreaterThan(50);
    await page.close();
  });

  it('remembers the winner per origin and tries it first next time', async () => {
    const first = await openPlayer(browser.context, url, { without: NO_WEBCODECS });
    await waitForStats(first, (s) => s.state === 'playing', 20_000, 'ws-fmp4 playing');
    const origin = new URL(url).origin;
    expect(await first.evaluate((o) => localStorage.getItem(`polycast.transport:${o}`), origin)).toBe('ws-fmp4/rtwebsocket');
    await first.close();
    // Everything supported now, yet the remembered transport goes first.
    const second = await openPlayer(browser.context, url, { keepMemory: true });
    const s = await waitForStats(second, (x) => x.framesPainted > 5, 20_000, 'frames');
    expect(s.transport).toBe('ws-fmp4');
    expect(s.log.some((line) => line.includes('transports: ws-fmp4/rtwebsocket → wt-raw/webtransport → ws-nal → wt-raw/websocket'))).toBe(true);
    await second.evaluate(() => localStorage.clear());
    await second.close();
  });
});
