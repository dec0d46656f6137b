/**
 * LL-HLS as a CDN serves it: two nginx edges, each in a network namespace
 * of its own with the shipped configuration, in front of one Polycast
 * origin, and 200 viewers spread over the edges. The origin must see each
 * part at most twice per edge however many viewers there are, every viewer
 * must get every part, and the Polycast player (hls.js in Chromium) loaded
 * through an edge must stay within 2 s of live.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HlsTransport } from '../../transports/hls/server.js';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { createNamespace, netnsUnavailable, type Namespace } from '../helpers/netns.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, stats, waitForStats } from '../player/page.js';
import { CLEAN_DECODE, ffmpegPlay } from './ffmpeg-player.js';
import { followParts } from './ll-client.js';

const PATH = 'live/cdn';
const VIEWERS = 200;
const PARTS = 10;
const EDGE_PORT = 8080;

let srv: TestServer;
let pub: Publisher;
const edges: Array<{ ns: Namespace; nginx: Nginx }> = [];
const namespaces: Namespace[] = [];
/** Origin requests: by edge (the veth address they came from), then by file and query. */
const origin = new Map<string, Map<string, number>>();

beforeAll(async () => {
  const why = netnsUnavailable();
  if (why) throw new Error(why);
  // The origin listens on every address: each edge reaches it over its own veth.
  srv = await startServer('hlsPartDuration: 200ms\npaths:\n  all_others:\n', { webHost: '0.0.0.0' });
  pub = publish(srv.rtmpUrl(PATH), { size: '640x360', gop: 30 });
  const deadline = Date.now() + 15_000;
  while (srv.server.paths.get(PATH)?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  (srv.server.transports.find((t) => t.name === 'hls') as HlsTransport).onRequest = (_path, file, search, from) => {
    const byFile = origin.get(from) ?? new Map<string, number>();
    origin.set(from, byFile);
    byFile.set(file + search, (byFile.get(file + search) ?? 0) + 1);
  };
  for (const index of [1, 2]) {
    const ns = createNamespace('cdn', index);
    // Kept before nginx starts, so that a failed start still removes the namespace.
    namespaces.push(ns);
    edges.push({ ns, nginx: await startNginx({ listen: `${ns.address}:${EDGE_PORT}`, origin: `${ns.hostAddress}:${srv.webPort}`, spawn: ns.spawn }) });
  }
}, 60_000);

afterAll(async () => {
  for (const { nginx } of edges) await nginx.stop().catch(() => undefined);
  for (const ns of namespaces) ns.remove();
  await pub?.stop();
  await srv?.stop();
});

describe('LL-HLS through two nginx edges in their own network namespaces', () => {
  it(`${VIEWERS} viewers over two edges each get every part; the origin sees each part at most twice per edge`, async () => {
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: VIEWERS }, (_, i) => followParts(`${edges[i % 2]!.nginx.url}/${PATH}`, PARTS, { deadline: Date.now() + 40_000, useHint: true })),
    );
    for (const { received } of results) expect(received).toEqual(received.map((_, i) => received[0]! + i));
    // A playlist answer that lists several new parts (one held behind nginx's lock, say) makes a viewer fetch past PARTS.
    for (const { received } of results) expect(received.length).toBeGreaterThanOrEqual(PARTS);
    const perEdge = edges.map(({ ns }) => {
      const byFile = origin.get(ns.address) ?? new Map<string, number>();
      const parts = [...byFile].filter(([key]) => /-p\d+\.m4s$/.test(key)).map(([, n]) => n);
      const blocking = [...byFile].filter(([key]) => key.includes('_HLS_msn=')).map(([, n]) => n);
      return { edge: ns.address, partRequests: parts.reduce((a, b) => a + b, 0), maxPerPart: Math.max(0, ...parts), maxPerBlockingQuery: Math.max(0, ...blocking) };
    });
    console.log(`CDN: ${VIEWERS} viewers, ${Math.round(performance.now() - started)} ms, ${JSON.stringify(perEdge)}; other origin clients: ${[...origin.keys()].filter((a) => !edges.some(({ ns }) => ns.address === a)).join(', ') || 'none'}`);
    for (const edge of perEdge) {
      expect(edge.partRequests, `${edge.edge} fetched parts from the origin`).toBeGreaterThan(0);
      expect(edge.maxPerPart, `${edge.edge}: origin requests per part`).toBeLessThanOrEqual(2);
      expect(edge.maxPerBlockingQuery, `${edge.edge}: origin requests per blocking playlist query`).toBeLessThanOrEqual(2);
    }
    // Nobody reached the origin but the two edges.
    expect([...origin.keys()].sort()).toEqual(edges.map(({ ns }) => ns.address).sort());
  }, 60_000);

  it('ffmpeg plays the stream through an edge', async () => {
    const { code, log } = await ffmpegPlay(`${edges[1]!.nginx.url}/${PATH}/index.m3u8`, 2);
    expect(code, log).toBe(0);
    expect(log).toMatch(CLEAN_DECODE.progress);
    expect(log).not.toMatch(CLEAN_DECODE.problems);
  }, 40_000);

  describe('the player through an edge', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it('hls.js in Chromium stays within 2 s of live', async () => {
      const page = await openPlayer(browser.context, `${edges[0]!.nginx.url}/${PATH}/?transport=hls`);
      try {
        await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 30, 30_000, 'hls frames through the edge');
        await new Promise((resolve) => setTimeout(resolve, 5000));
        const samples: number[] = [];
        for (let i = 0; i < 10; i++) {
          const s = await stats(page);
          if (s.latencyMs !== null) samples.push(s.latencyMs);
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        console.log(`hls.js through the edge: ${samples.map((v) => v.toFixed(0)).join(' ')} ms behind live`);
        expect(samples.length).toBeGreaterThan(5);
        expect(Math.max(...samples)).toBeLessThan(2000);
      } finally {
        await page.close();
      }
    }, 60_000);
  });
});
