import { describe, expect, it } from 'vitest';
import { encodeButton } from '../../public/src/input/messages.js';
import { InputThrottle } from '../../public/src/input/throttle.js';

function harness(options: { burst?: number; ratePerSecond?: number; maxQueued?: number } = {}) {
  let now = 0;
  const sent: string[] = [];
  const timers: { at: number; run: () => void }[] = [];
  const throttle = new InputThrottle({
    ...options,
    send: (bytes) => sent.push(Buffer.from(bytes).toString('hex')),
    now: () => now,
    schedule: (run, delayMs) => {
      const timer = { at: now + delayMs, run };
      timers.push(timer);
      return () => timers.splice(timers.indexOf(timer), 1);
    },
  });
  const advance = (ms: number) => {
    now += ms;
    for (const timer of timers.filter((t) => t.at <= now)) {
      timers.splice(timers.indexOf(timer), 1);
      timer.run();
    }
  };
  return { throttle, sent, advance, timers };
}

describe('InputThrottle', () => {
  it('sends immediately within the burst', () => {
    const { throttle, sent } = harness({ burst: 3 });
    throttle.push({ kind: 'position', x: 1, y: 1 });
    throttle.push({ kind: 'position', x: 2, y: 2 });
    expect(sent).toEqual(['1200010001', '1200020002']);
  });

  it('coalesces moves waiting for the budget, keeping only the latest position', () => {
    const { throttle, sent, advance } = harness({ burst: 1, ratePerSecond: 250 });
    throttle.push({ kind: 'position', x: 1, y: 1 });
    for (let i = 2; i <= 10; i++) throttle.push({ kind: 'position', x: i, y: i });
    expect(sent).toEqual(['1200010001']);
    advance(4);
    expect(sent).toEqual(['1200010001', '12000a000a']);
  });

  it('sums relative movement and wheel deltas while they wait', () => {
    const { throttle, sent, advance } = harness({ burst: 1 });
    throttle.push({ kind: 'movement', dx: 1, dy: 1 });
    throttle.push({ kind: 'movement', dx: 3, dy: -2 });
    throttle.push({ kind: 'movement', dx: 4, dy: -2 });
    throttle.push({ kind: 'wheel', dx: 0, dy: 100 });
    throttle.push({ kind: 'wheel', dx: 0, dy: 20 });
    advance(4);
    advance(4);
    expect(sent).toEqual(['1300010001', '130007fffc', '1400000078']);
  });

  it('never merges across a button press, so the click lands where the pointer was', () => {
    const { throttle, sent, advance } = harness({ burst: 1 });
    throttle.push({ kind: 'position', x: 0, y: 0 });
    throttle.push({ kind: 'position', x: 5, y: 5 });
    throttle.push({ kind: 'discrete', bytes: encodeButton(true, 0)! });
    throttle.push({ kind: 'position', x: 9, y: 9 });
    for (let i = 0; i < 4; i++) advance(4);
    expect(sent).toEqual(['1200000000', '1200050005', '110100', '1200090009']);
  });

  it('stays at 250 messages per second under a flood of distinct events', () => {
    const { throttle, sent, advance } = harness();
    for (let ms = 0; ms < 1000; ms++) {
      throttle.push({ kind: 'discrete', bytes: encodeButton(ms % 2 === 0, 0)! });
      advance(1);
    }
    // 25 of burst, then 250/s for the second.
    expect(sent.length).toBeGreaterThanOrEqual(270);
    expect(sent.length).toBeLessThanOrEqual(276);
  });

  it('drops discrete events beyond the queue bound and forgets everything on clear', () => {
    const { throttle, sent, timers } = harness({ burst: 0, maxQueued: 2 });
    for (let i = 0; i < 5; i++) throttle.push({ kind: 'discrete', bytes: encodeButton(true, 0)! });
    expect(throttle.pending).toBe(2);
    expect(throttle.dropped).toBe(3);
    throttle.clear();
    expect(throttle.pending).toBe(0);
    expect(timers).toHaveLength(0);
    expect(sent).toHaveLength(0);
  });
});
