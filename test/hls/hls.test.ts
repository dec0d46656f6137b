import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HlsTransport } from '../../transports/hls/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { CLEAN_DECODE, ffmpegPlay } from './ffmpeg-player.js';
import { followParts, parsePlaylist, partNumber, text, variantUri } from './ll-client.js';

let srv: TestServer;
let pub: Publisher;
const PATH = 'live/hls';
const hls = () => srv.server.transports.find((t) => t.name === 'hls') as HlsTransport;
const base = () => srv.httpUrl(`/${PATH}`);

async function waitLive(path: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (srv.server.paths.get(path)?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

async function playlistUrl(): Promise<string> {
  const index = await text(`${base()}/index.m3u8`);
  expect(index.status).toBe(200);
  return `${base()}/${variantUri(index.body)}`;
}

beforeAll(async () => {
  srv = await startServer('hlsMuxerCloseAfter: 3s\npaths:\n  offline/cam:\n  all_others:\n');
  pub = publish(srv.rtmpUrl(PATH), { gop: 30 });
  await waitLive(PATH);
});

afterAll(async () => {
  await pub?.stop();
  await srv?.stop();
});

describe('LL-HLS origin', () => {
  it('follows blocking reload: every part arrives once and in order, with the cache headers of each object', async () => {
    const started = Date.now();
    const index = await text(`${base()}/index.m3u8`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/application\/vnd\.apple\.mpegurl/);
    expect(index.headers.get('cache-control')).toBe('public, max-age=1');
    expect(index.headers.get('access-control-allow-origin')).toBe('*');
    expect(index.body).toMatch(/#EXT-X-STREAM-INF:BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2",RESOLUTION=640x360/);

    const url = `${base()}/${variantUri(index.body)}`;
    const plain = await text(url);
    expect(plain.headers.get('cache-control')).toBe('public, max-age=1');
    const p = parsePlaylist(plain.body);
    expect(plain.body).toMatch(/#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0\.6\d*,CAN-SKIP-UNTIL=6/);
    expect(plain.body).toMatch(/#EXT-X-PART-INF:PART-TARGET=0\.2\d*/);
    expect(plain.body).toContain('#EXT-X-PROGRAM-DATE-TIME:');
    expect(p.parts.length).toBeGreaterThan(0);
    expect(p.parts.filter((x) => x.index === 0).every((x) => x.independent)).toBe(true);

    const init = await fetch(`${base()}/${p.maps[0]}`);
    expect(init.status).toBe(200);
    expect(init.headers.get('cache-control')).toBe('public, max-age=86400, immutable');
    expect(Buffer.from(await init.arrayBuffer()).subarray(4, 8).toString()).toBe('ftyp');
    const segment = await fetch(`${base()}/${p.segments[0]!.uri}`);
    expect(segment.headers.get('cache-control')).toBe('public, max-age=86400, immutable');
    expect(Buffer.from(await segment.arrayBuffer()).subarray(4, 8).toString()).toBe('moof');

    const blocking = await text(`${url}?_HLS_msn=${p.next.msn}&_HLS_part=${p.next.part}`);
    expect(blocking.status).toBe(200);
    expect(blocking.headers.get('cache-control')).toBe('public, max-age=7');

    const { received } = await followParts(base(), 12, { deadline: Date.now() + 15_000 });
    expect(received.length).toBeGreaterThanOrEqual(12);
    expect(received).toEqual(received.map((_, i) => received[0]! + i));
    console.log(`followed 12 parts in ${Date.now() - started} ms`);
  });

  it('holds a request for the preload-hinted part until it exists', async () => {
    const p = parsePlaylist((await text(await playlistUrl())).body);
    const t0 = performance.now();
    const res = await fetch(`${base()}/${p.hint}`);
    const waited = performance.now() - t0;
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=86400, immutable');
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
    expect(waited).toBeLessThan(1000);
    // And its name now means those bytes for good.
    const again = await fetch(`${base()}/${p.hint}`);
    expect(again.status).toBe(200);
  });

  it('ffmpeg plays it: video and audio decode without errors', async () => {
    const { code, log } = await ffmpegPlay(`${base()}/index.m3u8`, 3);
    expect(code, log).toBe(0);
    expect(log).toMatch(/Stream #0:\d+.*Video: h264/);
    expect(log).toMatch(/Stream #0:\d+.*Audio: aac/);
    expect(log).toMatch(CLEAN_DECODE.progress);
    expect(log).not.toMatch(CLEAN_DECODE.problems);
  }, 40_000);

  it('answers hostile queries with 400 and unknown names with 404, never held and never cached', async () => {
    const url = await playlistUrl();
    const { next } = parsePlaylist((await text(url)).body);
    const farPart = `_HLS_msn=${next.msn}&_HLS_part=${next.part + 100_000}`;
    for (const query of ['_HLS_msn=abc', '_HLS_msn=-1', '_HLS_part=1', '_HLS_msn=99999999999999999999999', '_HLS_msn=1e400', '_HLS_msn=1&_HLS_msn=2', '_HLS_skip=maybe', '_HLS_msn=900000000', farPart]) {
      const res = await text(`${url}?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.headers.get('cache-control'), query).toBe('no-store');
    }
    const id = variantUri((await text(`${base()}/index.m3u8`)).body).split('-')[0]!;
    const cases: Array<[string, number]> = [
      [`${id}-p99999999.m4s`, 404],
      [`${id}-s99999.m4s`, 404],
      [`${id}-init9.mp4`, 404],
      [`${id}-p01.m4s`, 404],
      [`0000000000000000-p1.m4s`, 404],
      [`${id}-zz.m4s`, 404],
      [`${id}-p1.m4s%00`, 404],
    ];
    for (const [name, status] of cases) expect((await fetch(`${base()}/${name}`)).status, name).toBe(status);
    const offline = await text(srv.httpUrl('/offline/cam/index.m3u8'));
    expect(offline.status).toBe(404);
    expect(offline.headers.get('cache-control')).toBe('public, max-age=1');
    expect((await fetch(srv.httpUrl('/no/such/path/index.m3u8'))).status).toBe(404);
    expect((await fetch(srv.httpUrl('/%00/index.m3u8'))).status).toBe(404);
    expect((await fetch(srv.httpUrl(`/${'a/'.repeat(300)}index.m3u8`))).status).toBeLessThan(500);
  });

  it('bounds held requests per path with a clear 503', async () => {
    const url = await playlistUrl();
    const p = parsePlaylist((await text(url)).body);
    const transport = hls();
    transport.maxHeldPerPath = 2;
    try {
      const ahead = (k: number) => fetch(`${url}?_HLS_msn=${p.next.msn + 1}&_HLS_part=${k}`);
      const held = [ahead(1), ahead(2)];
      await new Promise((r) => setTimeout(r, 100));
      const refused = await ahead(3);
      expect(refused.status).toBe(503);
      expect(await refused.text()).toMatch(/too many held requests on this path \(2\)/);
      expect(refused.headers.get('retry-after')).toBe('1');
      for (const res of await Promise.all(held)) expect(res.status).toBe(200);
    } finally {
      transport.maxHeldPerPath = 512;
    }
  });

  it('a publisher restart continues the sequence with a discontinuity and names never seen before', async () => {
    const url = await playlistUrl();
    const before = parsePlaylist((await text(url)).body);
    const seen = new Map<string, string>();
    for (const part of before.parts) seen.set(part.uri, Buffer.from(await (await fetch(`${base()}/${part.uri}`)).arrayBuffer()).toString('base64'));
    await pub.stop();
    pub = publish(srv.rtmpUrl(PATH), { gop: 30 });
    const deadline = Date.now() + 20_000;
    let after = before;
    while (Date.now() < deadline) {
      after = parsePlaylist((await text(url)).body);
      if (after.maps.length > 1 && after.segments.length > 0 && after.segments[after.segments.length - 1]!.msn > before.segments[before.segments.length - 1]!.msn + 1) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(after.text).toContain('#EXT-X-DISCONTINUITY\n');
    expect(after.maps[after.maps.length - 1]).not.toBe(before.maps[0]);
    expect(after.mediaSequence).toBeGreaterThanOrEqual(before.mediaSequence);
    // Old names still mean the old bytes; the new stream's parts have new names.
    for (const [uri, bytes] of seen) {
      const res = await fetch(`${base()}/${uri}`);
      if (res.status === 200) expect(Buffer.from(await res.arrayBuffer()).toString('base64')).toBe(bytes);
    }
    const newest = after.parts[after.parts.length - 1]!;
    expect(seen.has(newest.uri)).toBe(false);
    expect(partNumber(newest.uri)).toBeGreaterThan(Math.max(...[...seen.keys()].map(partNumber)));
  }, 40_000);

  it('a blocking request the stream cannot satisfy gets a 503 after three target durations', async () => {
    const url = await playlistUrl();
    const p = parsePlaylist((await text(url)).body);
    await pub.stop();
    const t0 = performance.now();
    const [playlist, hinted] = await Promise.all([text(`${url}?_HLS_msn=${p.next.msn + 1}&_HLS_part=0`), fetch(`${base()}/${p.hint}`).catch(() => undefined)]);
    const waited = performance.now() - t0;
    expect(playlist.status).toBe(503);
    expect(playlist.headers.get('retry-after')).toBe('1');
    expect(playlist.body).toMatch(/did not appear in time/);
    expect(waited).toBeGreaterThan(2500);
    expect(waited).toBeLessThan(5000);
    // The hinted part was closed when the publisher left: it exists and is served.
    expect(hinted?.status).toBe(200);
  }, 20_000);

  it('an idle muxer stops; the next one has a new id, and the old names are gone', async () => {
    pub = publish(srv.rtmpUrl(PATH), { gop: 30 });
    await waitLive(PATH);
    const oldUri = variantUri((await text(`${base()}/index.m3u8`)).body);
    const deadline = Date.now() + 10_000;
    while (hls().muxers.has(PATH) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(hls().muxers.has(PATH)).toBe(false);
    expect((await fetch(`${base()}/${oldUri}`)).status).toBe(404);
    const newUri = variantUri((await text(`${base()}/index.m3u8`)).body);
    expect(newUri).not.toBe(oldUri);
    expect(newUri.split('-')[0]).not.toBe(oldUri.split('-')[0]);
  }, 20_000);
});
