import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JpegTransport } from '../../transports/jpeg/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let pub: Publisher;
const jpeg = () => srv.server.transports.find((t) => t.name === 'jpeg') as JpegTransport;

async function snapshot(path: string, query = ''): Promise<Response> {
  // The first request may find the decoder starting: honour Retry-After like a player does.
  for (let i = 0; i < 10; i++) {
    const res = await fetch(srv.httpUrl(`/${path}/snapshot.jpg${query}`));
    if (res.status !== 503) return res;
    expect(res.headers.get('retry-after')).toBe('1');
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error('decoder never started');
}

beforeAll(async () => {
  srv = await startServer('paths:\n  offline/cam:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl('live/snap'), { size: '640x360' });
  const deadline = Date.now() + 20_000;
  while (srv.server.paths.get('live/snap')?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
});

afterAll(async () => {
  await pub.stop();
  await srv.stop();
});

describe('JPEG snapshots', () => {
  it('returns the current picture as a JPEG of the stream size, not cacheable', async () => {
    const res = await snapshot('live/snap');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 640, height: 360 });
    // "Now", not the last keyframe: the picture is a fraction of a second old and keeps changing.
    expect(Number(res.headers.get('x-frame-age-ms'))).toBeLessThan(1000);
    const seq1 = Number(res.headers.get('x-frame-sequence'));
    await new Promise((r) => setTimeout(r, 300));
    const again = await snapshot('live/snap');
    expect(Number(again.headers.get('x-frame-sequence'))).toBeGreaterThan(seq1 + 3);
  });

  it('scales to the requested width and follows the requested quality', async () => {
    const small = await snapshot('live/snap', '?width=320&quality=90');
    expect(await sharp(Buffer.from(await small.arrayBuffer())).metadata()).toMatchObject({ width: 320, height: 180 });
    const lo = Buffer.from(await (await snapshot('live/snap', '?quality=5')).arrayBuffer());
    const hi = Buffer.from(await (await snapshot('live/snap', '?quality=95')).arrayBuffer());
    expect(lo.length * 2).toBeLessThan(hi.length);
  });

  it('answers clear errors: unknown path, offline path, bad parameters', async () => {
    const unknown = await fetch(srv.httpUrl('/nowhere/x/snapshot.jpg'));
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toMatch(/no such path/);
    const offline = await fetch(srv.httpUrl('/offline/cam/snapshot.jpg'));
    expect(offline.status).toBe(404);
    expect(await offline.text()).toMatch(/not live/);
    const bad = await fetch(srv.httpUrl('/live/snap/snapshot.jpg?quality=500'));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/quality must be/);
  });

  it('serves 20 concurrent pollers from one decoder, then stops it when idle', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => snapshot('live/snap', '?quality=60')));
    for (const r of results) expect(r.status).toBe(200);
    const images = await Promise.all(results.map(async (r) => sharp(Buffer.from(await r.arrayBuffer())).metadata()));
    for (const m of images) expect(m.format).toBe('jpeg');
    expect(jpeg().decoderCount).toBe(1);
    jpeg().idleMs = 300;
    const deadline = Date.now() + 5000;
    while (jpeg().decoderCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(jpeg().decoderCount).toBe(0);
    jpeg().idleMs = 10_000;
    // And it comes back on demand.
    expect((await snapshot('live/snap')).status).toBe(200);
  });
});
