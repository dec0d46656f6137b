import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HlsTransport } from '../../transports/hls/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { CLEAN_DECODE, ffmpegPlay } from './ffmpeg-player.js';
import { parsePlaylist, text, variantUri } from './ll-client.js';

let srv: TestServer;
let pub: Publisher;
const PATH = 'old/player';
const base = () => srv.httpUrl(`/${PATH}`);

beforeAll(async () => {
  srv = await startServer('hlsVariant: fmp4\nhlsAlwaysRemux: yes\nhlsAllowOrigins: [https://site.example]\npaths:\n  all_others:\n');
  pub = publish(srv.rtmpUrl(PATH), { gop: 30 });
  const deadline = Date.now() + 15_000;
  while (srv.server.paths.get(PATH)?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
});

afterAll(async () => {
  await pub?.stop();
  await srv?.stop();
});

describe('hlsVariant: fmp4, hlsAlwaysRemux: yes', () => {
  it('muxes before anyone asks, and serves plain HLS: no parts, no blocking, directives ignored', async () => {
    const hls = srv.server.transports.find((t) => t.name === 'hls') as HlsTransport;
    expect(hls.muxers.has(PATH)).toBe(true);
    const index = await text(`${base()}/index.m3u8`);
    expect(index.status).toBe(200);
    expect(index.body).toContain('#EXT-X-VERSION:7');
    const url = `${base()}/${variantUri(index.body)}`;
    const playlist = await text(url);
    expect(playlist.body).not.toMatch(/#EXT-X-(PART|SERVER-CONTROL|PRELOAD-HINT|PART-INF)/);
    expect(parsePlaylist(playlist.body).segments.length).toBeGreaterThan(0);
    const t0 = performance.now();
    const ignored = await text(`${url}?_HLS_msn=999999&_HLS_part=0`);
    expect(ignored.status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(500);
    const id = variantUri(index.body).split('-')[0];
    expect((await fetch(`${base()}/${id}-p0.m4s`)).status).toBe(404);
  });

  it('CORS follows hlsAllowOrigins', async () => {
    const allowed = await fetch(`${base()}/index.m3u8`, { headers: { origin: 'https://site.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://site.example');
    expect(allowed.headers.get('vary')).toMatch(/Origin/);
    const other = await fetch(`${base()}/index.m3u8`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('ffmpeg plays it', async () => {
    const log = await ffmpegPlay(`${base()}/index.m3u8`, 2);
    expect(log.code, log.log).toBe(0);
    expect(log.log).toMatch(CLEAN_DECODE.progress);
    expect(log.log).not.toMatch(CLEAN_DECODE.problems);
  }, 40_000);
});
