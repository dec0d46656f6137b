import { describe, expect, it } from 'vitest';
import { SessionTimeline, type PlacedSample } from '../../src/mux/fmp4/timeline.js';
import { ticksToUsCeil, usToTicks } from '../../src/mux/fmp4/timescale.js';
import type { Frame, TrackKind } from '../../src/stream/types.js';

/** Reference conversion in exact integer arithmetic: round half up of us·ts/1e6. */
function refTicks(us: number, timescale: number): number {
  const n = 2n * BigInt(us) * BigInt(timescale) + 1_000_000n;
  const d = 2_000_000n;
  const q = n / d;
  return Number(n % d !== 0n && n < 0n ? q - 1n : q);
}

function f(kind: TrackKind, dts: number, pts = dts, key = true): Frame {
  return { kind, dts, pts, key, data: new Uint8Array(1), receivedAt: 0 };
}

const VIDEO = { kind: 'video' as const, timescale: 90_000 };
const AUDIO_48K = { kind: 'audio' as const, timescale: 48_000, fixedDuration: 1024 };
const AUDIO_44K = { kind: 'audio' as const, timescale: 44_100, fixedDuration: 1024 };

function one(t: SessionTimeline, frame: Frame): PlacedSample {
  return t.place(frame.kind, [frame])[0] as PlacedSample;
}

describe('usToTicks / ticksToUsCeil', () => {
  it('rounds exactly, halves up, for negative and huge values', () => {
    const cases = [0, 1, 5, 6, 11, 33_333, 33_334, -1, -5, -6, -33_333, 2 ** 40 + 7, 2 ** 45 + 3, -(2 ** 45) - 3, 4_294_967_295_000];
    for (const us of cases) {
      for (const ts of [90_000, 48_000, 44_100, 22_050, 1000]) expect(usToTicks(us, ts), `${us} @ ${ts}`).toBe(refTicks(us, ts));
    }
    expect(usToTicks(50, 10_000)).toBe(1); // exactly half a tick rounds up
    expect(usToTicks(-50, 10_000)).toBe(0);
  });

  it('converts ticks back to the first microsecond at or after them', () => {
    expect(ticksToUsCeil(1, 90_000)).toBe(12);
    expect(ticksToUsCeil(90, 90_000)).toBe(1000);
    expect(ticksToUsCeil(1024, 44_100)).toBe(23_220);
    expect(ticksToUsCeil(2 ** 50, 90_000)).toBe(Number((2n ** 50n * 1_000_000n + 89_999n) / 90_000n));
  });
});

describe('SessionTimeline', () => {
  it('does not drift: 10 h of 29.97 fps one-frame fragments land on the exact tick of each dts', () => {
    const t = new SessionTimeline([VIDEO], { originUs: 0 });
    const frames = Math.round(10 * 3600 * 30_000 / 1001);
    let worst = 0;
    for (let i = 0; i < frames; i++) {
      const dts = Math.round((i * 1_001_000) / 30);
      const s = one(t, f('video', dts));
      worst = Math.max(worst, Math.abs(s.decodeTime - refTicks(dts, 90_000)));
    }
    expect(worst).toBe(0);
  });

  it('stays exact past 2^53 / 90000 µs (FLV timestamps near their 32-bit ms wrap)', () => {
    const base = 4_000_000_000_000; // 46 days in µs; dts·90000 exceeds 2^53
    const t = new SessionTimeline([VIDEO], { originUs: 0 });
    for (let i = 0; i < 100; i++) {
      const dts = base + i * 33_367;
      expect(one(t, f('video', dts)).decodeTime).toBe(refTicks(dts, 90_000));
    }
  });

  it('guesses the last sample duration from the previous delta (video) or the frame size (audio)', () => {
    const t = new SessionTimeline([VIDEO, AUDIO_48K], { originUs: 0 });
    expect(one(t, f('video', 0)).duration).toBe(3000); // nothing observed yet: 1/30 s
    expect(one(t, f('video', 40_000)).duration).toBe(3600); // 25 fps observed
    expect(one(t, f('video', 60_000)).duration).toBe(1800);
    const run = t.place('video', [f('video', 100_000), f('video', 200_000)]);
    expect(run.map((s) => s.duration)).toEqual([9000, 9000]);
    expect(one(t, f('audio', 0)).duration).toBe(1024);
    expect(one(t, f('audio', 21_333)).duration).toBe(1024);
  });

  it('keeps AAC on its sample grid despite millisecond-rounded FLV timestamps, without drift', () => {
    const t = new SessionTimeline([AUDIO_44K], { originUs: 0 });
    const n = 100_000; // 38 minutes
    let offGrid = 0;
    for (let i = 0; i < n; i++) {
      const dts = Math.round((i * 1024 * 1000) / 44_100) * 1000;
      if (one(t, f('audio', dts)).decodeTime !== i * 1024) offGrid++;
    }
    expect(offGrid).toBe(0);
  });

  it('follows a real audio gap instead of snapping across it', () => {
    const t = new SessionTimeline([AUDIO_48K], { originUs: 0 });
    one(t, f('audio', 0));
    one(t, f('audio', 21_333));
    expect(one(t, f('audio', 21_333 * 12)).decodeTime).toBe(refTicks(21_333 * 12, 48_000));
  });

  it('writes composition offsets from the absolute pts, signed', () => {
    const t = new SessionTimeline([VIDEO], { originUs: 1_000_000 });
    const run = t.place('video', [f('video', 1_000_000, 1_066_667), f('video', 1_033_333, 1_000_000)]);
    expect(run.map((s) => s.compositionOffset)).toEqual([6000, -3000]);
  });

  it('after a publisher restart (timestamps back to 0) continues after the furthest track, keeping A/V in step', () => {
    const t = new SessionTimeline([VIDEO, AUDIO_48K], { originUs: 0 });
    let lastV = -1;
    let lastA = -1;
    let endUs = 0;
    for (let ms = 0; ms < 10_000; ms += 40) {
      lastV = one(t, f('video', ms * 1000)).decodeTime;
      endUs = Math.max(endUs, ms * 1000 + 40_000);
    }
    for (let i = 0; i * 21_333 < 10_000_000; i++) lastA = one(t, f('audio', i * 21_333)).decodeTime;

    // New publisher: video and audio start again near 0, audio 10 ms after video.
    const v0 = one(t, f('video', 0));
    const a0 = one(t, f('audio', 10_000));
    expect(v0.decodeTime).toBeGreaterThan(lastV);
    expect(a0.decodeTime).toBeGreaterThan(lastA);
    const vEndSec = (lastV + 3600) / 90_000;
    const aEndSec = (lastA + 1024) / 48_000;
    expect(v0.decodeTime / 90_000).toBeCloseTo(Math.max(vEndSec, aEndSec), 4);
    // The new session's 10 ms A/V offset survives (within the audio snap tolerance).
    expect(a0.decodeTime / 48_000 - v0.decodeTime / 90_000).toBeCloseTo(0.010, 2);
    const v1 = one(t, f('video', 40_000));
    expect(v1.decodeTime - v0.decodeTime).toBe(3600);
  });

  it('collapses a forward jump beyond maxGapUs, keeps smaller gaps', () => {
    const t = new SessionTimeline([VIDEO], { originUs: 0, maxGapUs: 5_000_000 });
    one(t, f('video', 0));
    one(t, f('video', 40_000));
    expect(one(t, f('video', 2_040_000)).decodeTime).toBe(refTicks(2_040_000, 90_000)); // 2 s gap kept
    const afterJump = one(t, f('video', 3_600_000_000));
    // Continues at the end of the last sample, whose duration is the last frame interval (40 ms), not the 2 s gap.
    expect(afterJump.decodeTime).toBe(refTicks(2_040_000, 90_000) + 3600);
    expect(one(t, f('video', 3_600_040_000)).decodeTime).toBe(afterJump.decodeTime + 3600);
  });

  it('does not take a gap for the frame rate: the sample after it lasts one frame, not the gap', () => {
    // A writer shared by all viewers muxes only frames somebody reads: viewers gone for 8 s, then a new one.
    const t = new SessionTimeline([VIDEO], { originUs: 0 });
    for (let i = 0; i <= 120; i++) one(t, f('video', i * 33_333));
    const afterGap = one(t, f('video', 4_000_000 + 8_000_000));
    expect(afterGap.decodeTime).toBe(refTicks(12_000_000, 90_000)); // placed at its real time: the gap stays a gap
    expect(afterGap.duration).toBe(3000); // 33.3 ms, not 8 s
    expect(one(t, f('video', 12_033_333)).decodeTime - afterGap.decodeTime).toBe(3000);
  });

  it('never goes negative or backwards, even for duplicate or reordered dts', () => {
    const t = new SessionTimeline([VIDEO, AUDIO_48K]);
    const dts = [500_000, 533_333, 533_333, 520_000, 566_666, 566_667, 0, 600_000];
    let prev = -1;
    for (const d of dts) {
      const s = one(t, f('video', d));
      expect(s.decodeTime).toBeGreaterThan(prev);
      expect(s.decodeTime).toBeGreaterThanOrEqual(0);
      prev = s.decodeTime;
    }
    expect(t.originUs).not.toBe(500_000);
  });

  it('defaults the origin to the first frame and pulls it back for a second track that starts earlier', () => {
    const t = new SessionTimeline([VIDEO, AUDIO_48K]);
    expect(one(t, f('video', 5_000_000)).decodeTime).toBe(0);
    expect(t.originUs).toBe(5_000_000);
    // Audio starts 30 ms before the first video frame.
    expect(one(t, f('audio', 4_970_000)).decodeTime).toBe(0);
    expect(t.originUs).toBe(4_970_000);
    // Video's next frame keeps its true offset from audio.
    expect(one(t, f('video', 5_033_333)).decodeTime).toBe(refTicks(63_333, 90_000));
  });
});
