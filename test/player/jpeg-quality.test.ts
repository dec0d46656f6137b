import { describe, expect, it } from 'vitest';
import { JpegQuality } from '../../public/src/live/jpeg-quality.js';

describe('JpegQuality', () => {
  it('gives up 10 % of quality per frame slower than 500 ms, down to 20', () => {
    const q = new JpegQuality({ initial: 70 });
    const seen = [];
    for (let i = 0; i < 12; i++) {
      q.record(800);
      seen.push(q.quality);
    }
    expect(seen.slice(0, 11)).toEqual([63, 56, 50, 45, 40, 36, 32, 28, 25, 22, 20]);
    expect(q.widthScale).toBe(0.75);
  });

  it('earns 5 % back per frame faster than 300 ms, at least one step, up to 90', () => {
    const q = new JpegQuality({ initial: 20 });
    q.record(100);
    expect(q.quality).toBe(21);
    for (let i = 0; i < 100; i++) q.record(100);
    expect(q.quality).toBe(90);
  });

  it('leaves quality alone between 300 and 500 ms', () => {
    const q = new JpegQuality({ initial: 50 });
    for (const ms of [300, 400, 500]) q.record(ms);
    expect(q.quality).toBe(50);
  });

  it('narrows the picture only once quality is at its floor, and widens it first on the way back', () => {
    const q = new JpegQuality({ initial: 20 });
    q.record(900);
    q.record(900);
    expect(q.quality).toBe(20);
    expect(q.widthScale).toBeCloseTo(0.5625);
    expect(q.width(1000)).toBe(563);
    q.record(100);
    expect([q.quality, q.widthScale]).toEqual([20, 0.75]);
    q.record(100);
    expect([q.quality, q.widthScale]).toEqual([20, 1]);
    q.record(100);
    expect([q.quality, q.widthScale]).toEqual([21, 1]);
  });

  it('never narrows below a quarter, and asks for no width before the element has one', () => {
    const q = new JpegQuality({ initial: 20 });
    for (let i = 0; i < 50; i++) q.record(5000);
    expect(q.widthScale).toBe(0.25);
    expect(q.width(1920)).toBe(480);
    expect(q.width(0)).toBeNull();
    expect(q.width(40)).toBe(16);
  });
});
