/**
 * The "done" criterion: the MoQ reference player (`<moq-watch>` of
 * @moq/watch, bundled here with esbuild) plays a Polycast path in headless
 * Chromium over WebTransport, fed by a real ffmpeg RTMP publisher. Frames
 * are checked on the canvas itself. While it plays, malformed sessions from
 * Node are closed without disturbing it.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoqErrorCode } from '../../transports/moq/messages.js';
import type { MoqTransport } from '../../transports/moq/server.js';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { bundleForBrowser, type Bundle } from './bundle.js';
import { RawMoqClient } from './raw-client.js';

interface Sample {
  width: number;
  height: number;
  /** Share of canvas pixels that are not (near) black. */
  litFraction: number;
  hash: number;
  status: string;
  frames: number;
  /** Media time of the frame on screen, ms. */
  videoMs: number | null;
  audioBytes: number;
}

/** Runs in the page: reads the canvas back and the element's own stats. */
const SAMPLER = `
window.sample = () => {
  const el = document.querySelector('moq-watch');
  const c = el.querySelector('canvas');
  let lit = 0, hash = 0;
  if (c.width > 0 && c.height > 0) {
    const o = new OffscreenCanvas(c.width, c.height);
    const ctx = o.getContext('2d');
    ctx.drawImage(c, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] + d[i + 1] + d[i + 2] > 60) lit++;
      hash = (Math.imul(hash, 31) + d[i] + d[i + 1] * 7 + d[i + 2] * 13) >>> 0;
    }
  }
  const v = el.video.out, a = el.audio.out;
  return {
    width: c.width, height: c.height, litFraction: c.width ? lit / (c.width * c.height) : 0, hash,
    status: el.broadcast.out.status.peek(),
    frames: v.stats.peek()?.frameCount ?? 0,
    videoMs: v.timestamp.peek() ?? null,
    audioBytes: a.stats.peek()?.bytesReceived ?? 0,
  };
};`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let bundle: Bundle;
let pages: Server;
let srv: TestServer;
let pub: Publisher;
let browser: Browser;
let page: Page;
let moq: MoqTransport;

beforeAll(async () => {
  bundle = await bundleForBrowser("import '@moq/watch/element';");
  srv = await startServer('paths:\n  live/cam:\n', { webTransport: true });
  moq = srv.server.transports.find((t) => t.name === 'moq') as MoqTransport;
  pub = publish(srv.rtmpUrl('live/cam'), { gop: 30 });
  pages = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      // The http:// URL makes @moq/net fetch /certificate.sha256 and pin it for https:// on the same port.
      res.end(
        `<!doctype html><meta charset="utf-8"><script type="module" src="/${bundle.entry}"></script>` +
          `<moq-watch url="http://127.0.0.1:${srv.webPort}/moq" name="live/cam"><canvas></canvas></moq-watch><script>${SAMPLER}</script>`,
      );
      return;
    }
    const file = normalize(join(bundle.dir, url.slice(1)));
    if (!file.startsWith(bundle.dir) || !file.endsWith('.js')) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r));
  browser = await launchChromium();
  page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${(pages.address() as AddressInfo).port}/`);
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => pages?.close(r));
  await pub?.stop();
  await srv?.stop();
  bundle?.remove();
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
  it('plays a Polycast path: pictures on the canvas, in real time, with audio', async () => {
    await waitFor((s) => s.status === 'live' && s.frames >= 30, 'the first second of video');
    const [session] = [...moq.sessions];
    expect(session?.negotiatedVersion).toBe('moq-lite-04');
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
    expect(last.videoMs! - first.videoMs!).toBeLessThan(wall * 1.3);
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
});
