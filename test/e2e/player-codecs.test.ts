/**
 * AV1, VP9 and Opus from an enhanced-RTMP publish, painted and heard in
 * headless Chromium through ws-nal (WebCodecs) and ws-fmp4 (MSE); HEVC,
 * which this Chromium may not decode, ends on a transport that shows it,
 * with the reason ws-nal was left in the stats.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { encodeClip, enhancedTags, publishTags, type ClipOptions } from '../helpers/ertmp-publisher.js';
import { stats, waitForStats } from '../player/page.js';
import { useErtmpServer } from '../ertmp/fixture.js';

const fx = useErtmpServer('paths:\n  all_others:\n');
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

/** Publishes a clip long enough for the test, paced like a live encoder; resolves once the path is live. */
async function live(name: string, clip: ClipOptions): Promise<void> {
  const encoded = await encodeClip(fx.dir, `e2e-${name}`, { seconds: 20, ...clip });
  void publishTags(fx.srv.rtmpPort, 'codecs', name, encoded, enhancedTags(encoded), { paced: true }).then((p) => fx.keep(p.client));
  const deadline = Date.now() + 10_000;
  while (fx.srv.server.paths.get(`codecs/${name}`)?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

const unmute = (page: import('playwright-core').Page) =>
  page.evaluate(() => (document.querySelector('polycast-player') as unknown as { player: { unmute(): Promise<void> } }).player.unmute());

describe('every codec in Chromium', () => {
  beforeAll(async () => {
    await live('av1', { video: 'av1', audio: 'opus', size: '320x240' });
    await live('vp9', { video: 'vp9', audio: 'opus', size: '352x288' });
    await live('hevc', { video: 'hevc', audio: 'aac', size: '320x240' });
  }, 60_000);

  for (const [name, size] of [['av1', [320, 240]], ['vp9', [352, 288]]] as const) {
    for (const transport of ['ws-nal', 'ws-fmp4']) {
      it(`${name} + Opus over ${transport}: pictures of the stream's size, and sound`, async () => {
        const page = await browser.context.newPage();
        await page.goto(fx.srv.httpUrl(`/codecs/${name}/?transport=${transport}`));
        await waitForStats(page, (s) => s.transport === transport && s.framesPainted > 20, 20_000, `${name} pictures`);
        await unmute(page);
        const s = await waitForStats(page, (x) => x.audioFramesPlayed > 50, 10_000, 'Opus sound');
        expect([s.width, s.height]).toEqual(size);
        expect(s.framesDecoded).toBeGreaterThanOrEqual(s.framesPainted);
        await page.close();
      }, 40_000);
    }
  }

  it('HEVC: a transport that shows it, and the reason for each one left', async () => {
    const page = await browser.context.newPage();
    await page.goto(fx.srv.httpUrl('/codecs/hevc/'));
    // WebCodecs exists in secure contexts only: asked on the player's page (localhost), not on about:blank.
    const decodes = await page.evaluate(async () => (await VideoDecoder.isConfigSupported({ codec: 'hvc1.1.6.L63.90', codedWidth: 320, codedHeight: 240 })).supported === true);
    const s = await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 5, 40_000, 'HEVC pictures on some transport');
    expect([s.width, s.height]).toEqual([320, 240]);
    if (decodes) {
      expect(s.transport).toBe('ws-nal');
    } else {
      const after = await stats(page);
      expect(after.skipped.some((r) => /^ws-nal: this browser's VideoDecoder cannot decode hvc1\.1\.6\.L\d+/.test(r))).toBe(true);
      expect(after.transport).not.toBe('ws-nal');
    }
    await page.close();
  }, 60_000);
});
