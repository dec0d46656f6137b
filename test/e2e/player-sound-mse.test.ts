import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, stats, waitForStats } from '../player/page.js';

/**
 * The MSE sound path of the WebCodecs transports (public/src/render/audio-mse.ts),
 * the one every WebKit takes, run in Chromium where it can be forced
 * (`?sound=mse`) or reached the Safari 16.4–18 way (no `AudioDecoder`).
 * Whether the sound is really heard is checked with PulseAudio in the
 * cross-engine tests; here: that the frames reach a playing audio element
 * near the live edge, and that nothing is appended while muted.
 */
let srv: TestServer;
let browser: Browser;
let pub: Publisher;

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl('live/snd'), { size: '640x360' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

async function unmute(page: Page): Promise<void> {
  await page.evaluate(() => (document.querySelector('polycast-player') as unknown as { player: { unmute(): Promise<void> } }).player.unmute());
}

describe('sound through an audio-only SourceBuffer', () => {
  it('ws-nal with ?sound=mse: nothing while muted, then frames played near the live edge', async () => {
    const page = await openPlayer(browser.context, srv.httpUrl('/live/snd/?transport=ws-nal&sound=mse'));
    const muted = await waitForStats(page, (s) => s.framesPainted > 30, 20_000, 'ws-nal frames');
    expect(muted.soundPath).toBe('mse');
    expect(muted.audioFramesPlayed).toBe(0);
    await unmute(page);
    const playing = await waitForStats(page, (s) => s.audioFramesPlayed > 100 && s.soundLagMs !== null, 10_000, 'sound through MSE');
    expect(playing.log.some((l) => l.includes('through MediaSource (audio-only SourceBuffer)'))).toBe(true);
    // Held near the newest audio by jumps: never more than the jump threshold plus a check interval behind.
    await page.waitForTimeout(2000);
    const later = await stats(page);
    console.log(`MSE sound path in Chromium: ${later.soundLagMs} ms buffered ahead of the audio playhead`);
    expect(later.soundLagMs!).toBeLessThan(700);
    expect(later.audioFramesDropped).toBe(0);
    expect(later.framesPainted).toBeGreaterThan(playing.framesPainted + 40);
    await page.close();
  });

  it('takes the MSE path by itself where AudioDecoder is missing (Safari 16.4–18)', async () => {
    const page = await openPlayer(browser.context, srv.httpUrl('/live/snd/?transport=ws-nal'), { without: ['AudioDecoder', 'AudioData', 'EncodedAudioChunk'] });
    await waitForStats(page, (s) => s.framesPainted > 30, 20_000, 'ws-nal frames');
    await unmute(page);
    const s = await waitForStats(page, (x) => x.audioFramesPlayed > 50 && x.soundLagMs !== null, 10_000, 'sound through MSE');
    expect(s.soundPath).toBe('mse');
    expect(s.log.some((l) => l.includes('sound for WebCodecs transports: mse (no AudioDecoder)'))).toBe(true);
    await page.close();
  });

  it('ws-fmp4 where WebCodecs is missing altogether (Safari before 16.4): video-only SourceBuffer, sound on its own element', async () => {
    const page = await openPlayer(browser.context, srv.httpUrl('/live/snd/?transport=ws-fmp4'), {
      without: ['VideoDecoder', 'AudioDecoder', 'AudioData', 'EncodedAudioChunk', 'WebTransport'],
    });
    const muted = await waitForStats(page, (s) => s.framesPainted > 30, 20_000, 'ws-fmp4 frames');
    expect(muted.transportDetail).toMatch(/ · sound apart \(mse\)$/);
    expect(muted.log.some((l) => l.includes('ws-fmp4 audio track: audio/mp4; codecs="mp4a.40.2", played apart'))).toBe(true);
    await unmute(page);
    const s = await waitForStats(page, (x) => x.audioFramesPlayed > 50 && x.soundLagMs !== null, 10_000, 'ws-fmp4 sound through its own element');
    expect(s.soundPath).toBe('mse');
    const painted = s.framesPainted;
    await waitForStats(page, (x) => x.framesPainted > painted + 30, 5000, 'pictures go on beside the sound');
    await page.close();
  });
});
