import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineCrashError, launchEngine, type Engine, type EngineName, type EnginePage } from '../helpers/engines.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startPulse, toneOnset, toneStrip, type PulseServer, type Recording } from '../helpers/pulse.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { describeStats, stats, waitForStats, type Stats } from '../helpers/engine-stats.js';

/**
 * The player in all three engines, each with its own server and publisher:
 * what auto-negotiation picks, that every transport the engine can run
 * shows a moving picture, and that a real click on unmute makes the
 * publisher's 440 Hz tone come out of the browser (recorded from a
 * PulseAudio null sink, not read from the player's own counters).
 *
 * Nothing here is skipped for being broken today: a combination that does
 * not play fails with what it did instead.
 */

interface EngineCase {
  readonly title: string;
  readonly engine: EngineName;
  readonly webkitFeatures?: readonly string[];
  /** The first transport of the registry's order that this engine can run. */
  readonly auto: string;
  /** What negotiation must have passed over on the way to `auto`, one pattern per skipped transport. */
  readonly autoSkipped?: readonly RegExp[];
  /** Serve WebTransport even though no transport under test needs it (to see how the engine fails it). */
  readonly webTransport?: boolean;
  readonly pictures: readonly string[];
  readonly sound: readonly string[];
}

const CASES: readonly EngineCase[] = [
  {
    title: 'chromium',
    engine: 'chromium',
    auto: 'wt-raw',
    pictures: ['ws-nal', 'ws-fmp4', 'jpeg', 'wt-raw', 'wt-fmp4', 'hls'],
    sound: ['ws-nal', 'ws-fmp4', 'wt-raw', 'wt-fmp4', 'hls'],
  },
  {
    title: 'firefox',
    engine: 'firefox',
    auto: 'wt-raw',
    pictures: ['ws-nal', 'ws-fmp4', 'jpeg', 'wt-raw', 'wt-fmp4', 'hls'],
    sound: ['ws-nal', 'ws-fmp4', 'wt-raw', 'wt-fmp4', 'hls'],
  },
  // WebKitGTK 2.50 as it ships: VideoDecoder and AudioDecoder, no WebTransport.
  // WebKitGTK has no native HLS (Safari has): hls plays through hls.js there.
  // wt-raw is moq-lite over QMux on a WebSocket there, as @moq/net does on Safari.
  {
    title: 'webkit',
    engine: 'webkit',
    auto: 'ws-nal',
    pictures: ['ws-nal', 'ws-fmp4', 'jpeg', 'hls', 'wt-raw'],
    sound: ['ws-nal', 'ws-fmp4', 'hls', 'wt-raw'],
  },
  // Safari 16.4–18: VideoDecoder without AudioDecoder, so ws-nal must find its sound another way.
  { title: 'webkit -WebCodecsAudio', engine: 'webkit', webkitFeatures: ['-WebCodecsAudio'], auto: 'ws-nal', pictures: ['ws-nal'], sound: ['ws-nal'] },
  // WebKit's experimental WebTransport rejects its handshake with nothing at all; negotiation must say so and move on at once.
  {
    title: 'webkit +WebTransport',
    engine: 'webkit',
    webkitFeatures: ['+WebTransport'],
    webTransport: true,
    auto: 'ws-nal',
    autoSkipped: [/^wt-raw\/webtransport: WebTransport handshake failed: the browser gave no error at all/],
    pictures: [],
    sound: [],
  },
];

const STREAM = 'live/engines';
const SERVER_YAML = 'paths:\n  ~^live/.+$:\n';
/** From the click to the tone in the null sink: decoder start-up, output latency and PulseAudio's buffers. */
const SOUND_WITHIN_MS = 6000;

let pulse: PulseServer;
let recording: Recording;
/** One line per engine × check, printed at the end: the report of what plays where. */
const summary: string[] = [];

beforeAll(async () => {
  pulse = await startPulse();
  recording = await pulse.record();
});

afterAll(async () => {
  await recording?.stop();
  await pulse?.stop();
  if (summary.length) console.log(`engines:\n  ${summary.join('\n  ')}`);
});

// Page functions: they run inside the page, so they close over nothing.

/** Mean brightness (0–765) of what the player shows now: its canvas, or its video while MSE plays. */
const PICTURE_BRIGHTNESS = (): number | string => {
  const root = document.querySelector('polycast-player')?.shadowRoot;
  const stage = root?.querySelector('.stage') as HTMLElement | null | undefined;
  const tag = stage?.dataset['surface'] === 'video' ? 'video' : 'canvas';
  const element = root?.querySelector(tag) as HTMLCanvasElement | HTMLVideoElement | null | undefined;
  if (!element) return `no ${tag} in the player`;
  const probe = document.createElement('canvas');
  probe.width = 64;
  probe.height = 36;
  const ctx = probe.getContext('2d');
  if (!ctx) return 'no 2d context';
  ctx.drawImage(element, 0, 0, 64, 36);
  const px = ctx.getImageData(0, 0, 64, 36).data;
  let sum = 0;
  for (let i = 0; i < px.length; i += 4) sum += px[i]! + px[i + 1]! + px[i + 2]!;
  return sum / (px.length / 4);
};

/** The player's `<video>` as the page sees it, for failures of MSE transports. */
const VIDEO_STATE = (): unknown => {
  const video = document.querySelector('polycast-player')?.shadowRoot?.querySelector('video');
  if (!video) return null;
  const buffered: string[] = [];
  for (let i = 0; i < video.buffered.length; i++) buffered.push(`${video.buffered.start(i).toFixed(3)}-${video.buffered.end(i).toFixed(3)}`);
  const quality = video.getVideoPlaybackQuality?.();
  return {
    currentTime: video.currentTime,
    buffered,
    readyState: video.readyState,
    paused: video.paused,
    seeking: video.seeking,
    playbackRate: video.playbackRate,
    muted: video.muted,
    volume: video.volume,
    error: video.error ? `${video.error.code} ${video.error.message}` : null,
    totalVideoFrames: quality?.totalVideoFrames,
    droppedVideoFrames: quality?.droppedVideoFrames,
  };
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the sound check itself', () => {
  /** Plays a lavfi source into the null sink with a short buffer (PulseAudio's default 2 s prebuffer would hold it back). */
  async function play(source: string, seconds: number): Promise<void> {
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', source, '-t', String(seconds), '-buffer_duration', '50', '-f', 'pulse', 'check'], {
      env: { ...process.env, ...pulse.env },
      stdio: 'ignore',
    });
    await new Promise((resolve) => child.on('exit', resolve));
  }

  it('reads silence, another tone and noise as no tone, and a 440 Hz sine as one', async () => {
    const start = recording.mark();
    await sleep(700);
    const silenceEnd = recording.mark();
    await play('sine=frequency=1000:sample_rate=48000', 1);
    await play('anoisesrc=amplitude=0.2:sample_rate=48000', 1);
    const othersEnd = recording.mark();
    await play('sine=frequency=440:sample_rate=48000', 1.5);
    await sleep(200);
    const windows = recording.windows(start);
    const strip = toneStrip(windows, start);
    expect(windows.filter((w) => w.atMs >= start && w.atMs < silenceEnd - 100).every((w) => w.dbfs === -Infinity), strip).toBe(true);
    expect(toneOnset(windows, start, 1) ?? Infinity, strip).toBeGreaterThanOrEqual(othersEnd - 100);
    const onset = toneOnset(windows, othersEnd);
    expect(onset, strip).not.toBeNull();
    expect(onset! - othersEnd, strip).toBeLessThan(1000);
  });
});

for (const c of CASES) {
  describe(c.title, () => {
    let srv: TestServer;
    let pub: Publisher;
    let engine: Engine;
    /** The page the last picture check left open, reused by the sound check of the same transport. */
    let open: { transport: string; page: EnginePage; quietFrom: number; quietTo: number } | null = null;
    const note = (line: string): void => {
      summary.push(`${c.title.padEnd(24)} ${line}`);
    };
    const playerUrl = (transport: string | null): string => srv.httpUrl(`/${STREAM}/${transport ? `?transport=${transport}` : ''}`);

    async function closeOpen(): Promise<void> {
      await open?.page.close();
      open = null;
    }

    beforeAll(async () => {
      const webTransport = c.webTransport ?? c.pictures.some((t) => t.startsWith('wt-'));
      srv = await startServer(SERVER_YAML, { webTransport });
      pub = publish(srv.rtmpUrl(STREAM), { size: '640x360' });
      engine = await launchEngine(c.engine, { env: pulse.env, webkitFeatures: c.webkitFeatures });
      note(`version: ${engine.version}`);
    });

    afterAll(async () => {
      await closeOpen().catch(() => undefined);
      await engine?.close();
      await pub?.stop();
      await srv?.stop();
    });

    it(`auto-negotiation picks ${c.auto} and paints`, async () => {
      // Each engine starts with a clean profile, but a remembered winner would decide instead of negotiation.
      const page = await engine.open(srv.httpUrl('/'));
      try {
        await page.evaluate(() => localStorage.clear());
        await page.goto(playerUrl(null));
        const s = await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 5, 30_000, 'a transport to paint');
        note(`auto: ${s.transport}${s.transportDetail ? ` (${s.transportDetail})` : ''}; skipped: ${s.skipped.join('; ') || 'none'}`);
        await waitForStats(page, (x) => x.framesPainted > s.framesPainted + 10, 10_000, 'frames to keep coming');
        expect(s.transport).toBe(c.auto);
        if (c.autoSkipped) {
          expect(s.skipped).toHaveLength(c.autoSkipped.length);
          c.autoSkipped.forEach((pattern, i) => expect(s.skipped[i]).toMatch(pattern));
        }
      } finally {
        await page.close();
      }
    });

    for (const transport of c.pictures) {
      it(`${transport}: the picture moves`, async () => {
        await closeOpen();
        const page = await engine.open(playerUrl(transport));
        try {
          // hls.js moves to its live-sync point once the first parts are in (a seek, a pause): the count starts after it.
          const settled = transport === 'hls' ? 45 : 5;
          const s = await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > settled, 25_000, `${transport} frames`);
          expect(s.transport).toBe(transport);
          if (transport !== 'jpeg') expect([s.width, s.height]).toEqual([640, 360]);
          const quietFrom = recording.mark();
          const before = s.framesPainted;
          const t0 = Date.now();
          await sleep(2000);
          const after = await stats(page);
          const quietTo = recording.mark();
          const painted = after.framesPainted - before;
          const fps = (painted * 1000) / (Date.now() - t0);
          const brightness = await page.evaluate(PICTURE_BRIGHTNESS);
          const ms = (v: number | null): string => (v === null ? '-' : v.toFixed(0));
          note(
            `${transport.padEnd(8)} picture: ${fps.toFixed(1)} fps painted, brightness ${typeof brightness === 'number' ? brightness.toFixed(0) : brightness}, ` +
              `latency ${ms(after.latencyMs)} ms, RTT ${ms(after.rttMs)} ms${after.bufferAheadMs === null ? '' : `, MSE buffer ${ms(after.bufferAheadMs)} ms`}`,
          );
          // testsrc at 30 fps; JPEG is polled, as fast as round trips allow.
          const video = after.bufferAheadMs === null ? '' : `\n<video>: ${JSON.stringify(await page.evaluate(VIDEO_STATE))}`;
          expect(painted, `frames painted in 2 s\n${describeStats(after, page)}${video}\n`).toBeGreaterThan(transport === 'jpeg' ? 3 : 20);
          expect(brightness, 'testsrc is colourful, not black').toBeGreaterThan(50);
          expect(after.state).toBe('playing');
          open = { transport, page, quietFrom, quietTo };
        } catch (err) {
          note(`${transport.padEnd(8)} picture: FAILED: ${(err as Error).message.split('\n')[0]}${(err as Error).message.match(/: expected .*/)?.[0] ?? ''}`);
          await page.close();
          throw err;
        }
      });

      if (!c.sound.includes(transport)) continue;
      it(`${transport}: the 440 Hz tone plays after a click on unmute`, async () => {
        let page: EnginePage;
        let quietFrom: number;
        let quietTo: number;
        if (open?.transport === transport) {
          ({ page, quietFrom, quietTo } = open);
        } else {
          await closeOpen();
          page = await engine.open(playerUrl(transport));
          await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 5, 25_000, `${transport} frames`);
          quietFrom = recording.mark();
          await sleep(1000);
          quietTo = recording.mark();
        }
        open = null;
        try {
          const before = await stats(page);
          expect(before.muted, 'the player starts muted').toBe(true);
          const quiet = recording.windows(quietFrom).filter((w) => w.atMs < quietTo);
          const onsetWhileMuted = toneOnset(quiet, quietFrom, 2);
          if (onsetWhileMuted !== null) {
            // Whose sound it was decides the fix: this page's element (muted or not), or a page that should have gone.
            const detail = `${describeStats(before, page)}\n<video>: ${JSON.stringify(await page.evaluate(VIDEO_STATE))}`;
            expect.fail(`a tone while muted: ${toneStrip(quiet)}\n${detail}`);
          }

          const clickedAt = recording.mark();
          await page.click('button.mute');
          // Polling the page meanwhile turns a crashed page into an error now rather than after the wait.
          let onset: number | null = null;
          let after: Stats | null = null;
          for (const deadline = Date.now() + SOUND_WITHIN_MS; onset === null && Date.now() < deadline; await sleep(200)) {
            after = await stats(page);
            onset = toneOnset(recording.windows(clickedAt), clickedAt);
          }
          after = await stats(page);
          const heard = toneStrip(recording.windows(clickedAt), clickedAt);
          if (onset === null) {
            throw new Error(`no 440 Hz tone within ${SOUND_WITHIN_MS} ms of the click (+ tone, . silence, ~ other sound, per 100 ms): ${heard}\n${describeStats(after, page)}`);
          }
          // How steady it is once it started: dropouts and glitches show as windows without the tone.
          while (recording.mark() < onset + 1100) await sleep(100);
          const steady = recording.windows(onset).filter((w) => w.atMs >= onset && w.atMs < onset + 1000);
          const path = after?.log.find((line) => line.includes('sound for WebCodecs transports'))?.replace(/^\S+ /, '');
          note(
            `${transport.padEnd(8)} sound: tone ${(onset - clickedAt).toFixed(0)} ms after the click, then in ${steady.filter((w) => w.tone).length}/${steady.length} windows of 100 ms (${toneStrip(steady)})${path ? `; ${path}` : ''}`,
          );
          expect(after?.muted).toBe(false);
        } catch (err) {
          note(`${transport.padEnd(8)} sound: FAILED: ${(err as Error).message.split('\n')[0]}`);
          throw err;
        } finally {
          await page.close();
        }
      });
    }

    if (c.pictures.includes('ws-nal') && !c.webkitFeatures?.length) {
      // Safari's VideoDecoder is reported to refuse in-band parameter sets, so WebKit gets avc1 + avcC (h264-form.ts); both forms must decode here.
      const expected = c.engine === 'webkit' ? 'avcc' : 'annexb';
      it(`ws-nal: H.264 decodes as avc1 + avcC and as Annex B (auto: ${expected})`, async () => {
        await closeOpen();
        for (const form of [null, 'annexb', 'avcc'] as const) {
          const page = await engine.open(`${playerUrl('ws-nal')}${form ? `&h264=${form}` : ''}`);
          try {
            const s = await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 5, 25_000, `ws-nal frames, h264=${form ?? 'auto'}`);
            await waitForStats(page, (x) => x.framesPainted > s.framesPainted + 20, 10_000, `frames to keep coming, h264=${form ?? 'auto'}`);
            // The player logs its default choice when it starts, then the page's ?h264= if there is one: the last word counts.
            const chosen = [...s.log].reverse().find((line) => line.includes('H.264 for ws-nal:'))?.replace(/^\S+ /, '') ?? '';
            const configured = s.log.find((line) => / \d+x\d+ \(/.test(line) && line.includes(' video avc1'))?.replace(/^\S+ /, '') ?? '';
            note(`ws-nal   h264=${(form ?? 'auto').padEnd(6)} ${configured}; ${chosen}`);
            expect(chosen).toContain(`H.264 for ws-nal: ${form ?? expected}`);
            expect(configured).toContain((form ?? expected) === 'avcc' ? 'avc1 + avcC, rewritten from Annex B' : 'Annex B, parameter sets in band');
          } finally {
            await page.close();
          }
        }
      });
    }

    if (c.engine === 'webkit' && !c.webkitFeatures?.length) {
      // Why sound-path.ts keeps every WebKit off WebCodecs sound; and the harness's promise not to hang on a crash.
      it('?sound=webcodecs crashes the web process in AudioData.copyTo(); that fails fast, and the next page gets a new MiniBrowser', async () => {
        await closeOpen();
        const page = await engine.open(`${playerUrl('ws-nal')}&sound=webcodecs`);
        await waitForStats(page, (x) => x.state === 'playing' && x.framesPainted > 5, 25_000, 'ws-nal frames');
        const clicked = Date.now();
        await page.click('button.mute');
        const outcome = await waitForStats(page, (x) => x.audioFramesPlayed > 50, 10_000, 'WebCodecs sound').catch((err: unknown) => err);
        note(`ws-nal   ?sound=webcodecs: ${outcome instanceof Error ? `${outcome.name} after ${Date.now() - clicked} ms` : 'plays, no crash'}`);
        expect(outcome, 'WebKitGTK plays AudioDecoder output now: WebKit could take the webcodecs sound path again').toBeInstanceOf(EngineCrashError);
        expect(Date.now() - clicked).toBeLessThan(10_000);
        await page.close();
        const next = await engine.open(playerUrl('ws-nal'));
        try {
          await waitForStats(next, (x) => x.state === 'playing' && x.framesPainted > 5, 25_000, 'ws-nal frames in the new MiniBrowser');
        } finally {
          await next.close();
        }
      });
    }
  });
}
