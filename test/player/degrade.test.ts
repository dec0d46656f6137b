import { describe, expect, it } from 'vitest';
import { DegradeController } from '../../public/src/live/degrade.js';

const TICK = 250;

/** Drives the controller with one sample per tick from `from` to `to` (ms, fake clock); returns the steps taken. */
function run(
  c: DegradeController,
  from: number,
  to: number,
  sample: (t: number) => { rttMs: number | null; latencyMs: number | null },
  canKeyframesOnly = true,
): { at: number; level: string; reason: string }[] {
  const steps = [];
  for (let t = from; t <= to; t += TICK) {
    const step = c.sample(t, sample(t), canKeyframesOnly);
    if (step) steps.push({ at: t, ...step });
  }
  return steps;
}

describe('DegradeController', () => {
  it('tries keyframes only after 3 s of RTT over 150 ms, then JPEG when 5 s of that did not help', () => {
    const c = new DegradeController();
    const steps = run(c, 0, 20_000, () => ({ rttMs: 600, latencyMs: 650 }));
    expect(steps.map((s) => [s.at, s.level])).toEqual([
      [3000, 'keyframes-only'],
      [8000, 'jpeg'],
    ]);
    expect(steps[0]!.reason).toBe('RTT 600 ms > 150 ms for 3.0 s');
    expect(c.level).toBe('jpeg');
    expect(c.reason).toContain('also with keyframes only');
  });

  it('goes straight to JPEG when the transport cannot do keyframes only', () => {
    const c = new DegradeController();
    expect(run(c, 0, 5000, () => ({ rttMs: 400, latencyMs: null }), false).map((s) => [s.at, s.level])).toEqual([[3000, 'jpeg']]);
  });

  it('ignores high RTT that does not last', () => {
    const c = new DegradeController();
    // 2.5 s bad, a good sample, 2.5 s bad, forever.
    const steps = run(c, 0, 60_000, (t) => ({ rttMs: t % 2750 === 2500 ? 40 : 300, latencyMs: 100 }));
    expect(steps).toEqual([]);
    expect(c.level).toBe('video');
  });

  it('stays at keyframes only when that helped, and never goes back to video by itself', () => {
    const c = new DegradeController();
    // Our own video filled the link: with keyframes only, the queue drains.
    const steps = run(c, 0, 60_000, (t) => ({ rttMs: t < 3500 ? 500 : 40, latencyMs: 200 }));
    expect(steps.map((s) => s.level)).toEqual(['keyframes-only']);
    expect(c.level).toBe('keyframes-only');
  });

  it('stays on JPEG however good the network gets, until retry()', () => {
    const c = new DegradeController();
    run(c, 0, 10_000, () => ({ rttMs: 700, latencyMs: null }));
    expect(c.level).toBe('jpeg');
    expect(run(c, 10_250, 120_000, () => ({ rttMs: 5, latencyMs: 30 }))).toEqual([]);
    expect(c.level).toBe('jpeg');
    c.retry();
    expect(c.level).toBe('video');
    expect(c.reason).toBe('');
    // And the way down starts over from scratch.
    expect(run(c, 120_250, 123_250, () => ({ rttMs: 700, latencyMs: null })).map((s) => s.level)).toEqual(['keyframes-only']);
  });

  it('steps down when latency grows steadily for 3 s', () => {
    const c = new DegradeController();
    // 150 ms more every second: the link carries less than the stream.
    const steps = run(c, 0, 4000, (t) => ({ rttMs: 30, latencyMs: 100 + 0.15 * t }));
    expect(steps.map((s) => [s.at, s.level])).toEqual([[3000, 'keyframes-only']]);
    expect(steps[0]!.reason).toBe('latency grew 450 ms in 3.0 s');
  });

  it('does not take one stall (a jump, then a plateau) for growing latency', () => {
    const c = new DegradeController();
    expect(run(c, 0, 20_000, (t) => ({ rttMs: 30, latencyMs: t < 5000 ? 200 : 800 }))).toEqual([]);
  });

  it('does not count latency that rises and falls', () => {
    const c = new DegradeController();
    const sawtooth = (t: number) => ({ rttMs: 30, latencyMs: 100 + ((t % 2000) / 2000) * 600 });
    expect(run(c, 0, 30_000, sawtooth)).toEqual([]);
  });

  it('forgets what it measured when playback was interrupted', () => {
    const c = new DegradeController();
    run(c, 0, 2750, () => ({ rttMs: 400, latencyMs: null }));
    c.interrupt();
    expect(run(c, 3000, 5750, () => ({ rttMs: 400, latencyMs: null }))).toEqual([]);
    expect(run(c, 6000, 6000, () => ({ rttMs: 400, latencyMs: null })).map((s) => s.level)).toEqual(['keyframes-only']);
  });
});
