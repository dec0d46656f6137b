import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mseMimeType } from '../../src/mux/fmp4/index.js';
import { encodeClip, loadSource, type Source } from './helpers/media.js';
import { minDts, muxPerFrame } from './helpers/mux.js';

/**
 * The page opens one SourceBuffer per stream it is given and appends the init
 * segment and then each fragment as its own appendBuffer call, as a live player
 * would, then plays muted from the start of what is buffered.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<video id="v" muted playsinline></video>
<script>
function split(body) {
  const dv = new DataView(body.buffer);
  const segments = [];
  for (let p = 0; p < body.length;) {
    const len = dv.getUint32(p);
    segments.push(body.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return segments;
}

window.runTest = async (streams) => {
  const errors = [];
  const video = document.getElementById('v');
  for (const s of streams) if (!MediaSource.isTypeSupported(s.mime)) return { errors: ['unsupported ' + s.mime] };
  const ms = new MediaSource();
  video.src = URL.createObjectURL(ms);
  video.addEventListener('error', () => errors.push('video error ' + (video.error && video.error.message)));
  await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
  const buffers = streams.map((s) => {
    const sb = ms.addSourceBuffer(s.mime);
    sb.addEventListener('error', () => errors.push('SourceBuffer error (' + s.mime + ')'));
    return sb;
  });
  let appended = 0;
  await Promise.all(streams.map(async (s, i) => {
    const sb = buffers[i];
    const segments = split(new Uint8Array(await (await fetch(s.url)).arrayBuffer()));
    for (const seg of segments) {
      if (errors.length > 0) return;
      try {
        sb.appendBuffer(seg);
      } catch (e) {
        errors.push('appendBuffer: ' + e.message);
        return;
      }
      await new Promise((r) => sb.addEventListener('updateend', r, { once: true }));
      appended++;
    }
  }));
  const ranges = [];
  for (let i = 0; i < video.buffered.length; i++) ranges.push([video.buffered.start(i), video.buffered.end(i)]);
  if (ranges.length > 0) video.currentTime = ranges[0][0];
  try {
    await video.play();
  } catch (e) {
    errors.push('play: ' + e.message);
  }
  const deadline = performance.now() + 15000;
  while (video.currentTime <= 1 && errors.length === 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    errors,
    appended,
    buffered: ranges,
    currentTime: video.currentTime,
    totalVideoFrames: video.getVideoPlaybackQuality().totalVideoFrames,
    width: video.videoWidth,
    height: video.videoHeight,
  };
};
</script>`;

interface PageResult {
  errors: string[];
  appended?: number;
  buffered?: [number, number][];
  currentTime?: number;
  totalVideoFrames?: number;
  width?: number;
  height?: number;
}

let dir: string;
let src: Source;
let server: Server;
let context: BrowserContext;
const media = new Map<string, Buffer>();

/** Segments framed as [u32 length][bytes] so the page can append them one by one. */
function framed(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts.flatMap((p) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.byteLength);
    return [len, p];
  }));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'polycast-fmp4-chromium-'));
  src = loadSource(encodeClip(dir));
  const origin = minDts(src.frames);
  media.set('/av.bin', framed(muxPerFrame({ video: src.video, audio: src.audio }, src.frames, origin)));
  // Separate SourceBuffers, each with a single-track init; the video's dts is moved
  // to its pts start so B-frames carry negative composition offsets.
  const first = src.videoPackets[0]?.frame;
  const delay = first ? first.pts - first.dts : 0;
  const videoFrames = src.videoPackets.map((p) => ({ ...p.frame, dts: p.frame.dts + delay }));
  media.set('/video.bin', framed(muxPerFrame({ video: src.video }, videoFrames, origin)));
  media.set('/audio.bin', framed(muxPerFrame({ audio: src.audio }, src.audioPackets.map((p) => p.frame), origin)));
  server = createServer((req, res) => {
    const body = req.url === undefined ? undefined : media.get(req.url);
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    } else if (body) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    ],
  });
});

afterAll(async () => {
  await context?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function play(streams: { mime: string; url: string }[]): Promise<PageResult> {
  const page = context.pages()[0] ?? (await context.newPage());
  const { port } = server.address() as AddressInfo;
  await page.goto(`http://127.0.0.1:${port}/`);
  return (await page.evaluate(
    (s) => (window as unknown as { runTest(s: unknown): Promise<unknown> }).runTest(s),
    streams,
  )) as PageResult;
}

describe('fMP4 in headless Chromium (MSE)', () => {
  it('plays one-frame fragments of H.264 + AAC through one SourceBuffer', async () => {
    const result = await play([{ mime: mseMimeType({ video: src.video, audio: src.audio }), url: '/av.bin' }]);
    expect(result.errors).toEqual([]);
    expect(result.appended).toBe(1 + src.frames.length);
    expect(result.buffered).toHaveLength(1);
    expect(result.currentTime).toBeGreaterThan(1);
    expect(result.totalVideoFrames).toBeGreaterThan(0);
    expect([result.width, result.height]).toEqual([src.video.width, src.video.height]);
  });

  it('plays single-track inits in separate SourceBuffers, with negative composition offsets', async () => {
    const result = await play([
      { mime: mseMimeType({ video: src.video }), url: '/video.bin' },
      { mime: mseMimeType({ audio: src.audio }), url: '/audio.bin' },
    ]);
    expect(result.errors).toEqual([]);
    expect(result.appended).toBe(2 + src.frames.length);
    expect(result.buffered).toHaveLength(1);
    expect(result.currentTime).toBeGreaterThan(1);
    expect(result.totalVideoFrames).toBeGreaterThan(0);
  });
});
