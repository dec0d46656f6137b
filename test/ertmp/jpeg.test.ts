/**
 * JPEG snapshots of HEVC, AV1 and VP9 publishes: the snapshot decoder feeds
 * each codec to ffmpeg in its own elementary form (Annex B, IVF) and the
 * picture comes back at the stream's size, showing the test pattern.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeClip, enhancedTags, publishTags, type ClipVideo } from '../helpers/ertmp-publisher.js';
import { useErtmpServer } from './fixture.js';

const fx = useErtmpServer();

async function snapshot(path: string): Promise<Response> {
  // The first request may find the decoder starting: honour Retry-After like a player does.
  for (let i = 0; i < 10; i++) {
    const res = await fetch(fx.srv.httpUrl(`/${path}/snapshot.jpg`));
    if (res.status !== 503) return res;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('decoder never gave a picture');
}

describe('JPEG snapshots of every video codec', () => {
  const cases: { codec: ClipVideo; size: [number, number] }[] = [
    { codec: 'hevc', size: [352, 288] },
    { codec: 'av1', size: [320, 240] },
    { codec: 'vp9', size: [256, 144] },
  ];
  for (const c of cases) {
    it(`${c.codec}: a JPEG of the stream's size with the test pattern's colours`, async () => {
      // Long enough to outlast the first request and the decoder's start.
      const clip = await encodeClip(fx.dir, `jpeg-${c.codec}`, { video: c.codec, size: c.size.join('x'), seconds: 6 });
      const publishing = publishTags(fx.srv.rtmpPort, 'snap', c.codec, clip, enhancedTags(clip), { paced: true });
      const deadline = Date.now() + 10_000;
      while (fx.srv.server.paths.get(`snap/${c.codec}`)?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const res = await snapshot(`snap/${c.codec}`);
      fx.keep((await publishing).client);
      expect(res.status).toBe(200);
      const jpeg = sharp(Buffer.from(await res.arrayBuffer()));
      expect(await jpeg.metadata()).toMatchObject({ format: 'jpeg', width: c.size[0], height: c.size[1] });
      // testsrc is colourful: a decoded picture has saturated channels, a grey or black failure has none.
      const { channels } = await jpeg.stats();
      expect(Math.max(...channels.slice(0, 3).map((ch) => ch.max - ch.min))).toBeGreaterThan(150);
      expect(channels.slice(0, 3).some((ch) => ch.stdev > 40)).toBe(true);
    }, 60_000);
  }
});
