import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FlushCoalescer } from '../../src/protocols/flush-coalescer.js';

describe('FlushCoalescer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const target = (): { flush: () => void; flushes: number } => {
    const t = { flushes: 0, flush: () => void t.flushes++ };
    return t;
  };

  it('flushes every held target once when the window ends, however often it was held', () => {
    const c = new FlushCoalescer(25);
    const a = target();
    const b = target();
    c.hold(a);
    vi.advanceTimersByTime(10);
    c.hold(a);
    c.hold(b);
    vi.advanceTimersByTime(14);
    expect(a.flushes + b.flushes).toBe(0);
    vi.advanceTimersByTime(1);
    expect([a.flushes, b.flushes]).toEqual([1, 1]);
    vi.advanceTimersByTime(100);
    expect([a.flushes, b.flushes]).toEqual([1, 1]);
  });

  it('does not flush a target again that flushed on its own (released) before the window ended', () => {
    const c = new FlushCoalescer(25);
    const a = target();
    const b = target();
    c.hold(a);
    c.hold(b);
    c.release(a);
    vi.advanceTimersByTime(25);
    expect([a.flushes, b.flushes]).toEqual([0, 1]);
  });

  it('starts a new window for what is held after a flush', () => {
    const c = new FlushCoalescer(25);
    const a = target();
    c.hold(a);
    c.flushAll();
    expect(a.flushes).toBe(1);
    c.hold(a);
    vi.advanceTimersByTime(25);
    expect(a.flushes).toBe(2);
  });
});
