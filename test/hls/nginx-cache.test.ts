/**
 * The shipped nginx configuration in front of a real Polycast: 100 viewers
 * follow LL-HLS through it, and the origin must see each part at most twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HlsTransport } from '../../transports/hls/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { CLEAN_DECODE, ffmpegPlay } from './ffmpeg-player.js';
import { followParts } from './ll-client.js';

const PATH = 'live/cached';
const VIEWERS = 100;
const PARTS = 10;

let srv: TestServer;
let pub: Publisher;
let nginx: Nginx | undefined;
/** Origin requests by file and query, as the HLS transport saw them. */
const origin = new Map<string, number>();

beforeAll(async () => {
  srv = await startServer('paths:\n  all_others:\n');
  pub = publish(srv.rtmpUrl(PATH), { gop: 30 });
  const deadline = Date.now() + 15_000;
  while (srv.server.paths.get(PATH)?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  (srv.server.transports.find((t) => t.name === 'hls') as HlsTransport).onRequest = (_path, file, search) => origin.set(file + search, (origin.get(file + search) ?? 0) + 1);
  nginx = await startNginx({ listen: `127.0.0.1:${await freePort()}`, origin: `127.0.0.1:${srv.webPort}` });
}, 40_000);

afterAll(async () => {
  await nginx?.stop();
  await pub?.stop();
  await srv?.stop();
});

describe('LL-HLS behind the shipped nginx cache', () => {
  it(`${VIEWERS} viewers each get every part; the origin sees each part at most twice`, async () => {
    const base = `${nginx!.url}/${PATH}`;
    // The muxer starts on the first request; it reaches the origin through nginx like any other.
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: VIEWERS }, () => followParts(base, PARTS, { deadline: Date.now() + 30_000, useHint: true })));
    const elapsed = Math.round(performance.now() - started);
    for (const { received } of results) {
      expect(received.length).toBeGreaterThanOrEqual(PARTS);
      expect(received).toEqual(received.map((_, i) => received[0]! + i));
    }
    const partCounts = [...origin].filter(([key]) => /-p\d+\.m4s$/.test(key)).map(([, n]) => n);
    const playlistCounts = [...origin].filter(([key]) => key.includes('_HLS_msn=')).map(([, n]) => n);
    const distinctParts = new Set(results.flatMap((r) => r.received)).size;
    const summary = {
      elapsedMs: elapsed,
      partsFetchedByViewers: VIEWERS * PARTS,
      distinctParts,
      originPartRequests: partCounts.reduce((a, b) => a + b, 0),
      maxOriginRequestsPerPart: Math.max(...partCounts),
      originBlockingPlaylistRequests: playlistCounts.reduce((a, b) => a + b, 0),
      maxOriginRequestsPerBlockingQuery: Math.max(...playlistCounts),
      originIndexRequests: origin.get('index.m3u8') ?? 0,
    };
    console.log(`nginx cache: ${JSON.stringify(summary)}`);
    expect(partCounts.length).toBeGreaterThanOrEqual(distinctParts - 1);
    expect(summary.maxOriginRequestsPerPart).toBeLessThanOrEqual(2);
    expect(summary.maxOriginRequestsPerBlockingQuery).toBeLessThanOrEqual(2);
  }, 40_000);

  it('ffmpeg plays it through the cache', async () => {
    const { code, log } = await ffmpegPlay(`${nginx!.url}/${PATH}/index.m3u8`, 2);
    expect(code, log).toBe(0);
    expect(log).toMatch(CLEAN_DECODE.progress);
    expect(log).not.toMatch(CLEAN_DECODE.problems);
  }, 40_000);
});
