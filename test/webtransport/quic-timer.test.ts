import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { QuicTimer } from '../../src/protocols/webtransport/quic-timer.js';

/** A connection whose timeout is what the test says. */
const conn = (ms: number | null) => ({ timeout: () => ms });

describe('QuicTimer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires once the deadline has passed', () => {
    let fired = 0;
    const t = new QuicTimer(() => fired++);
    t.arm(conn(20));
    vi.advanceTimersByTime(19);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(5);
    expect(fired).toBe(1);
  });

  it('does not wake the connection at a deadline that moved later, and fires at the later one', () => {
    let fired = 0;
    const t = new QuicTimer(() => fired++);
    t.arm(conn(20));
    vi.advanceTimersByTime(10);
    // An ACK pushed loss detection back: due 30 ms from now, 40 from the start.
    t.arm(conn(30));
    vi.advanceTimersByTime(15);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(10);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(7);
    expect(fired).toBe(1);
  });

  it('comes earlier when the deadline does', () => {
    let fired = 0;
    const t = new QuicTimer(() => fired++);
    t.arm(conn(100));
    t.arm(conn(5));
    vi.advanceTimersByTime(7);
    expect(fired).toBe(1);
    vi.advanceTimersByTime(200);
    expect(fired).toBe(1);
  });

  it('never fires once cancelled, or when the connection wants no timer', () => {
    let fired = 0;
    const t = new QuicTimer(() => fired++);
    t.arm(conn(10));
    t.cancel();
    const u = new QuicTimer(() => fired++);
    u.arm(conn(10));
    u.arm(conn(null));
    vi.advanceTimersByTime(100);
    expect(fired).toBe(0);
  });
});
