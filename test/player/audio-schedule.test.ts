import { describe, expect, it } from 'vitest';
import { AudioSchedule, type Placement } from '../../public/src/render/audio-schedule.js';

const FRAME_S = 1024 / 48000;
const FRAME_US = FRAME_S * 1e6;

function at(placement: Placement): number {
  if (!placement.play) throw new Error('dropped');
  return placement.at;
}

describe('AudioSchedule', () => {
  it('anchors the first frame a little ahead of now and plays the next ones back to back by PTS', () => {
    const schedule = new AudioSchedule({ leadS: 0.05 });
    const first = schedule.place(1_000_000, FRAME_S, 10);
    expect(first).toEqual({ play: true, at: 10.05, anchored: true });
    expect(at(schedule.place(1_000_000 + FRAME_US, FRAME_S, 10.01))).toBeCloseTo(10.05 + FRAME_S, 9);
    expect(at(schedule.place(1_000_000 + 2 * FRAME_US, FRAME_S, 10.02))).toBeCloseTo(10.05 + 2 * FRAME_S, 9);
  });

  it('plays a slightly late frame at once but drops one more than 100 ms late', () => {
    const schedule = new AudioSchedule({ leadS: 0.05, maxLateS: 0.1 });
    schedule.place(0, FRAME_S, 0); // anchored at 0.05
    // Ideal time of the frame at pts 0.2 s is 0.25; at 0.3 it is 50 ms late: played now.
    expect(at(schedule.place(200_000, FRAME_S, 0.3))).toBeCloseTo(0.3, 9);
    // Ideal 0.27; now 0.4 → 130 ms late: dropped.
    expect(schedule.place(220_000, FRAME_S, 0.4)).toEqual({ play: false });
  });

  it('drains a backlog by dropping instead of letting the delay accumulate', () => {
    const schedule = new AudioSchedule({ leadS: 0.05, maxLateS: 0.1, lateStreakS: 10 });
    schedule.place(0, FRAME_S, 0);
    // A 300 ms stall, then 20 frames arrive at once.
    const now = 0.35;
    const results = Array.from({ length: 20 }, (_, i) => schedule.place((i + 1) * FRAME_US, FRAME_S, now));
    const played = results.filter((r) => r.play);
    expect(results.length - played.length).toBeGreaterThan(0);
    // Whatever plays is never more than 100 ms behind its ideal time.
    results.forEach((r, i) => {
      if (r.play) expect(r.at - (0.05 + (i + 1) * FRAME_S)).toBeLessThanOrEqual(0.1 + 1e-9);
    });
  });

  it('re-anchors after a gap in the timestamps', () => {
    const schedule = new AudioSchedule({ leadS: 0.05, gapS: 0.5 });
    schedule.place(0, FRAME_S, 0);
    const afterGap = schedule.place(5_000_000, FRAME_S, 0.1);
    expect(afterGap).toMatchObject({ play: true, anchored: true });
    expect(at(afterGap)).toBeCloseTo(0.15, 9);
  });

  it('re-anchors when frames keep arriving late', () => {
    const schedule = new AudioSchedule({ leadS: 0.05, maxLateS: 0.1, lateStreakS: 0.3 });
    schedule.place(0, FRAME_S, 0);
    // From now on every frame arrives 200 ms after its ideal time.
    let now = 0;
    let reanchored: Placement | null = null;
    for (let i = 1; i < 40 && !reanchored; i++) {
      now = 0.05 + i * FRAME_S + 0.2;
      const p = schedule.place(i * FRAME_US, FRAME_S, now);
      if (p.play) reanchored = p;
    }
    expect(reanchored).toMatchObject({ play: true, anchored: true });
    expect(now).toBeLessThan(0.05 + 0.2 + 0.3 + 2 * FRAME_S + 0.01);
  });

  it('re-anchors when audio would be scheduled too far ahead', () => {
    const schedule = new AudioSchedule({ leadS: 0.05, maxAheadS: 0.3, gapS: 10 });
    schedule.place(0, FRAME_S, 0);
    // The publisher's clock ran 0.5 s ahead of the sound card's.
    expect(schedule.place(1_000_000, FRAME_S, 0.5)).toEqual({ play: true, at: 0.55, anchored: true });
  });

  it('re-anchors on request', () => {
    const schedule = new AudioSchedule({ leadS: 0.05 });
    schedule.place(0, FRAME_S, 0);
    schedule.reanchor();
    expect(schedule.place(FRAME_US, FRAME_S, 3)).toEqual({ play: true, at: 3.05, anchored: true });
  });
});
