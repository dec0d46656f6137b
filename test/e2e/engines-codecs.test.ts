/**
 * AV1 and VP9 with Opus, from an enhanced-RTMP publish of real encoder
 * output, painted and heard in Chromium and in Firefox: through ws-nal
 * (WebCodecs), ws-fmp4 (MSE over a WebSocket) and wt-fmp4 (MSE over
 * WebTransport). Sound is the publisher's 440 Hz tone in a
 * PulseAudio null sink after a real click on unmute, as in engines.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchEngine, type Engine, type EngineName, type EnginePage } from '../helpers/engines.js';
import { describeStats, stats, waitForStats } from '../helpers/engine-stats.js';
import { encodeClip, enhancedTags, publishTags, type Clip } from '../helpers/ertmp-publisher.js';
import { startPulse, toneOnset, toneStrip, type PulseServer, type Recording } from '../helpers/pulse.js';
import { useErtmpServer } from '../ertmp/fixture.js';

const fx = useErtmpServer('paths:\n  all_others:\n', { webTransport: true });
const SOUND_WITHIN_MS = 6000;
const CODECS = [
  { video: 'av1', size: [320, 240] },
  { video: 'vp9', size: [352, 288] },
] as const;

let pulse: PulseServer;
let recording: Recording;
const clips = new Map<string, Clip>();
const summary: string[] = [];

beforeAll(async () => {
  pulse = await startPulse();
  recording = await pulse.record();
  for (const c of CODECS) clips.set(c.video, await encodeClip(fx.dir, `engines-${c.video}`, { video: c.video, audio: 'opus', size: `${c.size[0]}x${c.size[1]}`, seconds: 20 }));
}, 120_000);

afterAll(async () => {
  await recording?.stop();
  await pulse?.stop();
  if (summary.length) console.log(`codecs in engines:\n  ${summary.join('\n  ')}`);
});

/** A path of its own, live from now: each page starts at the clip's first keyframe. */
async function live(path: string, clip: Clip): Promise<void> {
  const [app, name] = path.split('/') as [string, string];
  void publishTags(fx.srv.rtmpPort, app, name, clip, enhancedTags(clip), { paced: true }).then((p) => fx.keep(p.client));
  const deadline = Date.now() + 10_000;
  while (fx.srv.server.paths.get(path)?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

for (const engineName of ['chromium', 'firefox'] as const satisfies readonly EngineName[]) {
  describe(engineName, () => {
    let engine: Engine;

    beforeAll(async () => {
      engine = await launchEngine(engineName, { env: pulse.env });
    });

    afterAll(async () => {
      await engine?.close();
    });

    for (const c of CODECS) {
      for (const transport of ['ws-nal', 'ws-fmp4', 'wt-fmp4'] as const) {
        it(`${c.video} + Opus over ${transport}: pictures of the stream's size, and the tone after a click on unmute`, async () => {
          const path = `codecs/${engineName}-${c.video}-${transport}`;
          await live(path, clips.get(c.video)!);
          let page: EnginePage | undefined;
          try {
            page = await engine.open(fx.srv.httpUrl(`/${path}/?transport=${transport}`));
            const p = page;
            const s = await waitForStats(p, (x) => x.transport === transport && x.state === 'playing' && x.framesPainted > 20, 20_000, `${c.video} pictures`);
            expect([s.width, s.height]).toEqual([...c.size]);
            expect(s.muted).toBe(true);
            const clickedAt = recording.mark();
            await p.click('button.mute');
            let onset: number | null = null;
            for (const deadline = Date.now() + SOUND_WITHIN_MS; onset === null && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
              await stats(p);
              onset = toneOnset(recording.windows(clickedAt), clickedAt);
            }
            const after = await stats(p);
            if (onset === null) {
              throw new Error(`no 440 Hz tone within ${SOUND_WITHIN_MS} ms of the click: ${toneStrip(recording.windows(clickedAt), clickedAt)}\n${describeStats(after, p)}`);
            }
            summary.push(`${engineName.padEnd(9)} ${c.video} + Opus ${transport.padEnd(8)} ${s.width}x${s.height}, tone ${(onset - clickedAt).toFixed(0)} ms after the click`);
            expect(after.muted).toBe(false);
          } finally {
            await page?.close();
          }
        }, 60_000);
      }
    }
  });
}
