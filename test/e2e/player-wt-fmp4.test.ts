import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fragmentInfo, initTracks } from '../../public/src/protocol/fmp4-probe.js';
import type { Frame } from '../../src/stream/types.js';
import { WtFmpViewer } from '../../transports/wt-fmp4/session.js';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, pictureBrightness, stats, videoState, waitForStats, type PageStats } from '../player/page.js';

/**
 * `?transport=wt-fmp4` against a real server with WebTransport and a real
 * ffmpeg publisher: fMP4 over one QUIC stream per GOP into MSE.
 *
 * For the latency check the server's wt-fmp4 viewers are watched from the
 * inside: each video frame's receive time is kept by the media time its
 * fragment carries, and the page reports when each frame was presented
 * (`requestVideoFrameCallback`), so server receive → presented is measured
 * directly rather than estimated.
 */
let srv: TestServer;
let browser: Browser;
let pub: Publisher;
let url: string;

type Write = (this: WtFmpViewer, frame: Frame) => void;
const viewerProto = WtFmpViewer.prototype as unknown as { write: Write };
const originalWrite = viewerProto.write;
/** Media time (µs, rounded) of each video frame sent → when the server received it (ms since the epoch). */
const receivedAt = new Map<number, number>();

function watchServerFrames(): void {
  viewerProto.write = function (this: WtFmpViewer, frame: Frame) {
    originalWrite.call(this, frame);
    const segments = (this as unknown as { segments?: { id: number; combinedInit: Uint8Array } }).segments;
    if (!segments || frame.kind !== 'video') return;
    const record = frame.memo?.get(`wt-fmp4:${segments.id}`) as Uint8Array | undefined;
    // The record's 5-byte header (type, length) comes before the fragment.
    const info = record && fragmentInfo(record.subarray(5));
    const track = info && initTracks(segments.combinedInit).find((t) => t.trackId === info.trackId);
    if (info && track) receivedAt.set(Math.round((info.baseDecodeTime / track.timescale) * 1e6), frame.receivedAt);
  };
}

beforeAll(async () => {
  watchServerFrames();
  srv = await startServer('paths:\n  ~^live/.+$:\n', { webTransport: true });
  pub = publish(srv.rtmpUrl('live/wtf'), { size: '640x360' });
  browser = await launchChromium();
  url = srv.httpUrl('/live/wtf/?transport=wt-fmp4');
});

// A fresh browser per test: QUIC connections (and their flow-control windows)
// left by one test's pages must not decide the next test's outcome.
beforeEach(async () => {
  await browser?.close();
  browser = await launchChromium();
});

afterAll(async () => {
  viewerProto.write = originalWrite;
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

/** Calls a method of the page's PolycastPlayer, as a page script would. */
async function call(page: Page, method: 'unmute' | 'setKeyframesOnly' | 'setVideoEnabled', ...args: unknown[]): Promise<void> {
  await page.evaluate(
    ({ method, args }) => {
      const player = (document.querySelector('polycast-player') as unknown as { player: Record<string, (...a: unknown[]) => unknown> }).player;
      return player[method]!(...args) as Promise<void> | undefined;
    },
    { method, args },
  );
}

/**
 * The element plays: its clock advances and frames reach the screen. With
 * sound in the SourceBuffer, Chromium stalls for 200 ms and more after an
 * underflow (docs/browsers.md), hence the lower bar there.
 */
async function expectPlaying(page: Page, minimum = { seconds: 1.5, frames: 45 }): Promise<void> {
  await waitForStats(page, (s) => s.framesPainted > 30, 20_000, 'MSE frames over WebTransport');
  const before = await videoState(page);
  const painted = (await stats(page)).framesPainted;
  await page.waitForTimeout(2000);
  const after = await videoState(page);
  const s = await stats(page);
  expect(after.currentTime - before.currentTime).toBeGreaterThan(minimum.seconds);
  expect(s.framesPainted - painted).toBeGreaterThan(minimum.frames);
  expect(s.state).toBe('playing');
  expect(s.transport).toBe('wt-fmp4');
  expect([s.width, s.height]).toEqual([640, 360]);
  expect(s.latencyMs).not.toBeNull();
  expect(s.rttMs).not.toBeNull();
  expect(await pictureBrightness(page, 'video')).toBeGreaterThan(50);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

describe('wt-fmp4 in the player', () => {
  it('plays the video through MSE and the sound through WebCodecs', async () => {
    const page = await openPlayer(browser.context, url);
    await expectPlaying(page);
    const s = await stats(page);
    expect(s.transportDetail).toBe('WebTransport · MediaSource · AudioDecoder');
    expect(s.skipped).toEqual([]);
    expect(s.log.some((line) => /wt-fmp4 generation \d+: video\/mp4; codecs="avc1\.[0-9a-f]{6}", sound mp4a\.40\.2 apart \(webcodecs\)/.test(line))).toBe(true);
    // The sound plays once unmuted (in the page, as a click would).
    await call(page, 'unmute');
    await waitForStats(page, (x) => (x as PageStats & { audioFramesPlayed: number }).audioFramesPlayed > 50, 10_000, 'sound decoded by WebCodecs');
    await page.close();
  });

  it('presents frames within 80 ms of the server receiving them (p50, loopback)', async () => {
    const page = await openPlayer(browser.context, url);
    await waitForStats(page, (s) => s.framesPainted > 30, 20_000, 'MSE frames');
    // Past the start, where the first GOP's burst is still being caught up with.
    await page.waitForTimeout(3000);
    let clock = { rttMs: Infinity, offsetMs: 0 };
    for (let i = 0; i < 10; i++) {
      const sent = performance.timeOrigin + performance.now();
      const there = await page.evaluate(() => performance.timeOrigin + performance.now());
      const back = performance.timeOrigin + performance.now();
      if (back - sent < clock.rttMs) clock = { rttMs: back - sent, offsetMs: there - (sent + back) / 2 };
    }
    const presented = (await page.evaluate(
      (ms) =>
        new Promise<{ mediaTime: number; at: number }[]>((resolve) => {
          const video = document.querySelector('polycast-player')!.shadowRoot!.querySelector('video')!;
          const out: { mediaTime: number; at: number }[] = [];
          const until = performance.now() + ms;
          const frame = (_now: number, meta: VideoFrameCallbackMetadata): void => {
            out.push({ mediaTime: meta.mediaTime, at: performance.timeOrigin + meta.expectedDisplayTime });
            if (performance.now() < until) video.requestVideoFrameCallback(frame);
            else resolve(out);
          };
          video.requestVideoFrameCallback(frame);
        }),
      8000,
    )) as { mediaTime: number; at: number }[];
    const latencies: number[] = [];
    for (const { mediaTime, at } of presented) {
      const key = Math.round(mediaTime * 1e6);
      const received = receivedAt.get(key) ?? receivedAt.get(key - 1) ?? receivedAt.get(key + 1);
      if (received !== undefined) latencies.push(at - clock.offsetMs - received);
    }
    expect(latencies.length).toBeGreaterThan(150);
    const p50 = percentile(latencies, 0.5);
    const p90 = percentile(latencies, 0.9);
    console.log(`wt-fmp4 server receive → presented: p50 ${p50.toFixed(0)} ms, p90 ${p90.toFixed(0)} ms over ${latencies.length} frames`);
    expect(p50).toBeLessThanOrEqual(80);
    await page.close();
  });

  it('without AudioDecoder keeps the video SourceBuffer video-only and plays the sound on an audio element of its own', async () => {
    const page = await openPlayer(browser.context, url, { without: ['AudioDecoder'] });
    await expectPlaying(page, { seconds: 1, frames: 30 });
    await call(page, 'unmute');
    const s = await waitForStats(page, (x) => x.audioFramesPlayed > 50 && x.soundLagMs !== null, 10_000, 'sound through MSE');
    expect(s.transportDetail).toBe('WebTransport · MediaSource · sound on its own audio element');
    expect(s.soundPath).toBe('mse');
    expect(s.log.some((line) => /wt-fmp4 generation \d+: video\/mp4; codecs="avc1\.[0-9a-f]{6}"/.test(line))).toBe(true);
    await page.close();
  });

  it('follows a new publisher with another picture size into a new generation', async () => {
    let other = publish(srv.rtmpUrl('live/wtgen'), { size: '320x180' });
    try {
      const page = await openPlayer(browser.context, srv.httpUrl('/live/wtgen/?transport=wt-fmp4'));
      await waitForStats(page, (s) => s.framesPainted > 20 && s.width === 320, 20_000, 'frames of the first publisher');
      await other.stop();
      await waitForStats(page, (s) => s.state === 'waiting', 10_000, 'offline');
      other = publish(srv.rtmpUrl('live/wtgen'), { size: '640x360' });
      const s = await waitForStats(page, (x) => x.state === 'playing' && x.width === 640, 20_000, 'frames of the second publisher');
      await waitForStats(page, (x) => x.framesPainted > s.framesPainted + 30, 10_000, 'more frames of the second publisher');
      const generations = s.log.filter((line) => / wt-fmp4 generation \d+: /.test(line));
      expect(generations).toHaveLength(2);
      expect((await videoState(page)).videoWidth).toBe(640);
      await page.close();
    } finally {
      await other.stop();
    }
  });

  it('asks the server for keyframes only and back over its control stream', async () => {
    const page = await openPlayer(browser.context, url);
    await waitForStats(page, (s) => s.framesPainted > 30, 20_000, 'MSE frames');
    await call(page, 'setKeyframesOnly', true);
    await page.waitForTimeout(2500);
    const before = (await stats(page)).framesPainted;
    await page.waitForTimeout(3000);
    // A keyframe a second (ffmpeg's GOP is 30 frames at 30 fps).
    expect((await stats(page)).framesPainted - before).toBeLessThanOrEqual(8);
    await call(page, 'setKeyframesOnly', false);
    const s = await stats(page);
    await waitForStats(page, (x) => x.framesPainted > s.framesPainted + 45, 20_000, 'every frame again');
    await page.close();
  });
});
