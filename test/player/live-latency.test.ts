import { describe, expect, it } from 'vitest';
import { LiveLatencyController, type BufferedRange, type Playhead } from '../../public/src/live/live-latency.js';

function head(now: number, currentTime: number, ranges: BufferedRange[], extra: Partial<Playhead> = {}): Playhead {
  return { now, currentTime, ranges, paused: false, seeking: false, ...extra };
}

describe('LiveLatencyController', () => {
  it('starts at the beginning of what is buffered, which is on the stream timeline, not at 0', () => {
    const c = new LiveLatencyController();
    expect(c.update(head(0, 0, []))).toEqual([]);
    expect(c.update(head(250, 0, [[3600.5, 3601.2]], { paused: true }))).toEqual([
      { kind: 'seek', to: 3600.5, why: 'start' },
      { kind: 'rate', rate: 1 },
      { kind: 'play' },
    ]);
  });

  it('nudges the rate toward 100 ms ahead, within 0.95 and 1.1, and leaves small errors alone', () => {
    const c = new LiveLatencyController();
    c.update(head(0, 0, [[10, 10.5]]));
    expect(c.rateFor(0.11)).toBe(1);
    expect(c.rateFor(0.2)).toBeCloseTo(1.05);
    expect(c.rateFor(0.9)).toBe(1.1);
    expect(c.rateFor(0.02)).toBeCloseTo(0.96);
    expect(c.rateFor(0)).toBe(0.95);
    expect(c.update(head(250, 10.1, [[10, 10.5]]))).toEqual([{ kind: 'rate', rate: 1.1 }]);
  });

  it('jumps to the live edge when more than a second behind', () => {
    const c = new LiveLatencyController({ targetMs: 100 });
    c.update(head(0, 0, [[5, 6]]));
    expect(c.update(head(250, 5.2, [[5, 6.5]]))[0]).toEqual({ kind: 'seek', to: 6.4, why: 'behind' });
  });

  it('with the rate fixed, trims a lead that stayed over the target for a whole window, and not one a burst made', () => {
    const c = new LiveLatencyController({ targetMs: 40, minRate: 1, maxRate: 1, jumpBehindMs: 300, trimWindowMs: 1500, trimMarginMs: 50 });
    c.update(head(0, 0, [[10, 10.2]]));
    // Playing at rate 1 with 150 ms ahead, the lead set by the start: it never shrinks, so after a window it is trimmed.
    let t = 10;
    const actions = [];
    for (let now = 250; now <= 2000; now += 250) {
      t += 0.25;
      actions.push(c.update(head(now, t, [[10, t + 0.15]])));
    }
    const seeks = actions.flat().filter((a) => a.kind === 'seek');
    expect(seeks).toEqual([{ kind: 'seek', to: expect.closeTo(t - 0.25 + 0.15 - 0.04, 5), why: 'behind' }]);

    // 60 ms ahead, with one late frame and a burst that briefly makes it 200 ms: the window's least lead is under the margin.
    const d = new LiveLatencyController({ targetMs: 40, minRate: 1, maxRate: 1, jumpBehindMs: 300, trimWindowMs: 1500, trimMarginMs: 50 });
    d.update(head(0, 0, [[10, 10.2]]));
    t = 10;
    for (let now = 250; now <= 4000; now += 250) {
      t += 0.25;
      const ahead = now === 1000 ? 0.2 : 0.06;
      expect(d.update(head(now, t, [[10, t + ahead]])).some((a) => a.kind === 'seek'), `at ${now} ms`).toBe(false);
    }
  });

  it('skips a gap in the buffer (dropped frames, keyframes only)', () => {
    const c = new LiveLatencyController();
    c.update(head(0, 0, [[1, 1.2], [1.8, 2]]));
    expect(c.update(head(250, 1.5, [[1, 1.2], [1.8, 2]]))[0]).toEqual({ kind: 'seek', to: 1.8, why: 'gap' });
  });

  it('moves on to the next range when the playhead sits at the end of one', () => {
    const c = new LiveLatencyController({ stallMs: 500 });
    c.update(head(0, 0, [[1, 1.2], [1.8, 2]]));
    const ranges: BufferedRange[] = [[1.4, 1.433], [2.4, 2.433]];
    expect(c.update(head(250, 1.433, ranges))[0]).toEqual({ kind: 'rate', rate: expect.any(Number) });
    expect(c.update(head(500, 1.433, ranges))[0]!.kind).toBe('rate');
    expect(c.update(head(800, 1.433, ranges))[0]).toEqual({ kind: 'seek', to: 2.4, why: 'gap' });
  });

  it('unsticks a playhead that stopped with data ahead, and asks for play() while paused', () => {
    const c = new LiveLatencyController({ stallMs: 500 });
    c.update(head(0, 0, [[1, 2]]));
    c.update(head(250, 1.3, [[1, 2]]));
    expect(c.update(head(500, 1.3, [[1, 2]]))).toEqual([{ kind: 'rate', rate: 1.1 }]);
    // The standstill also counted as an underflow: the target is now 150 ms, so the seek lands that far from the edge.
    expect(c.update(head(800, 1.3, [[1, 2]]))[0]).toEqual({ kind: 'seek', to: expect.closeTo(1.85, 5), why: 'stall' });
    expect(c.update(head(1050, 1.9, [[1, 2]], { paused: true }))).toContainEqual({ kind: 'play' });
  });

  it('does nothing while a seek is under way', () => {
    const c = new LiveLatencyController();
    c.update(head(0, 0, [[1, 5]]));
    expect(c.update(head(250, 1, [[1, 5]], { seeking: true }))).toEqual([]);
  });

  it('aims further ahead after each underflow, up to 400 ms more, and comes back down while playback is smooth', () => {
    const c = new LiveLatencyController({ targetMs: 100, stallBoostMs: 50, maxBoostMs: 400, boostDecayMs: 10_000 });
    let now = 0;
    let time = 10;
    c.update(head(now, 0, [[10, 10.2]]));
    const play = (ms: number) => {
      for (let end = now + ms; now < end; ) {
        now += 250;
        time += 0.25;
        c.update(head(now, time, [[time - 1, time + 0.1]]));
      }
    };
    const underflow = () => {
      now += 250;
      c.update(head(now, time, [[time - 1, time + 0.01]]));
    };
    play(1000);
    expect(c.targetS).toBeCloseTo(0.1);
    underflow();
    expect(c.targetS).toBeCloseTo(0.15);
    underflow();
    expect(c.targetS).toBeCloseTo(0.15);
    for (let i = 0; i < 12; i++) {
      play(500);
      underflow();
    }
    expect(c.targetS).toBeCloseTo(0.5);
    play(10_250);
    expect(c.targetS).toBeCloseTo(0.45);
    play(30_000);
    expect(c.targetS).toBeCloseTo(0.3);
  });

  it('starts over on a new timeline', () => {
    const c = new LiveLatencyController();
    c.update(head(0, 0, [[1, 2]]));
    c.reset();
    expect(c.update(head(250, 1.5, [[7, 8]]))[0]).toEqual({ kind: 'seek', to: 7, why: 'start' });
  });
});
