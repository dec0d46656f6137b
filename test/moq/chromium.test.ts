/**
 * The "done" criterion: the MoQ reference player (`<moq-watch>` of
 * @moq/watch, bundled here with esbuild) plays a Polycast path in headless
 * Chromium over WebTransport, and over a WebSocket (QMux) when the page has
 * no WebTransport, fed by a real ffmpeg RTMP publisher. Frames are checked
 * on the canvas itself. While it plays, malformed sessions from Node are
 * closed without disturbing it.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoqErrorCode } from '../../transports/moq/messages.js';
import type { MoqTransport } from '../../transports/moq/server.js';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { RawMoqClient } from './raw-client.js';
import { startWatchPages, type Sample, type WatchPages } from './watch-page.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let pages: WatchPages;
let srv: TestServer;
let pub: Publisher;
let browser: Browser;
let page: Page;
let moq: MoqTransport;

type Binding = 'webtransport' | 'websocket';

/** A page playing live/cam; without WebTransport @moq/net has only its WebSocket path left, as on Safari. */
async function openPage(binding: Binding): Promise<Page> {
  const p = await browser.context.newPage();
  if (binding === 'websocket') await p.addInitScript('delete globalThis.WebTransport;');
  await p.goto(pages.url);
  return p;
}

beforeAll(async () => {
  srv = await startServer('paths:\n  live/cam:\n', { webTransport: true });
  moq = srv.server.transports.find((t) => t.name === 'moq') as MoqTransport;
  pub = publish(srv.rtmpUrl('live/cam'), { gop: 30 });
  pages = await startWatchPages(srv.webPort, 'live/cam');
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await pub?.stop();
  await srv?.stop();
});

const sample = (): Promise<Sample> => page.evaluate('window.sample()') as Promise<Sample>;

async function waitFor(pred: (s: Sample) => boolean, what: string, ms = 30_000): Promise<Sample> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await sample();
    if (pred(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await sleep(250);
  }
}

describe('<moq-watch> in headless Chromium', () => {
  it.each<Binding>(['websocket', 'webtransport'])('plays a Polycast path over %s: pictures on the canvas, in real time, with audio', async (binding) => {
    await page?.close();
    page = await openPage(binding);
    await waitFor((s) => s.status === 'live' && s.frames >= 30, 'the first second of video');
    const sessions = [...moq.sessions];
    expect(sessions.map((s) => [s.binding, s.negotiatedVersion])).toEqual([[binding, 'moq-lite-05']]);
    expect(moq.stats.subscriptions).toBe(3);

    const samples: Sample[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 6; i++) {
      samples.push(await sample());
      await sleep(500);
    }
    const wall = Date.now() - t0 - 500;
    const first = samples[0]!;
    const last = samples.at(-1)!;
    // ffmpeg's testsrc is bright all over and changes every frame.
    expect([first.width, first.height]).toEqual([640, 360]);
    for (const s of samples) expect(s.litFraction).toBeGreaterThan(0.8);
    expect(new Set(samples.map((s) => s.hash)).size).toBeGreaterThanOrEqual(5);
    // About 30 frames a second, and the picture on screen keeps pace with the clock: no growing latency.
    expect((last.frames - first.frames) / (wall / 1000)).toBeGreaterThan(20);
    expect(last.videoMs! - first.videoMs!).toBeGreaterThan(wall * 0.7);
    // Media time may run ahead of the clock by what <moq-watch> skips to catch up with live just after its
    // start (seen up to 0.94 s in CI), but not further: timestamps in a wrong unit would.
    expect(last.videoMs! - first.videoMs!).toBeLessThan(wall * 1.3 + 1000);
    expect(last.audioBytes).toBeGreaterThan(first.audioBytes);
  });

  it('keeps playing while malformed sessions from other clients are closed', async () => {
    const playing = [...moq.sessions];
    const before = await sample();
    const errors = moq.stats.protocolErrors;
    for (const bytes of [Uint8Array.of(0x3f, 0x00, 0xff, 0xee), Uint8Array.of(0x20, 0xff, 0xff, 0x01)]) {
      const c = await RawMoqClient.connect(srv.wtUrl('/moq'));
      await c.raw(bytes);
      expect(await c.wt.closed).toMatchObject({ closeCode: MoqErrorCode.ProtocolViolation });
      c.close();
    }
    const bad = await RawMoqClient.connect(srv.wtUrl('/moq'));
    await bad.setup();
    await bad.raw(Uint8Array.of(0x02, 0x03, 0x00, 0x80, 0x61));
    expect(await bad.wt.closed).toMatchObject({ closeCode: MoqErrorCode.ProtocolViolation });
    bad.close();
    expect(moq.stats.protocolErrors - errors).toBe(3);

    const after = await waitFor((s) => s.frames >= before.frames + 45, 'more frames after the malformed sessions', 10_000);
    expect(after.litFraction).toBeGreaterThan(0.8);
    // The page never had to reconnect: its session is the one that was playing.
    expect([...moq.sessions]).toEqual(playing);
  });

  it.each<Binding>(['websocket', 'webtransport'])('@moq/net 0.3.4 connects by itself over %s and reads keyframe groups', async (binding) => {
    const p = await browser.context.newPage();
    try {
      if (binding === 'websocket') await p.addInitScript('delete globalThis.WebTransport;');
      await p.goto(pages.netUrl);
      await p.waitForFunction('window.netResult !== undefined', null, { timeout: 30_000 });
      expect(await p.evaluate('window.netResult')).toEqual({ version: 'moq-lite-05', groups: 3 });
      expect([...moq.sessions].map((s) => s.binding)).toContain(binding);
    } finally {
      await p.close();
    }
  });
});
