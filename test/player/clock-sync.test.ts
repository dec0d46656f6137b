import { describe, expect, it } from 'vitest';
import { ClockSync } from '../../public/src/clock-sync.js';

describe('ClockSync', () => {
  it('knows nothing before the first pong', () => {
    const clock = new ClockSync();
    expect(clock.offsetUs).toBeNull();
    expect(clock.lastRttUs).toBeNull();
  });

  it('computes offset = serverTime − (t_send + t_recv) / 2', () => {
    const clock = new ClockSync();
    clock.addSample(1_000_000, 1_004_000, 6_002_000);
    expect(clock.offsetUs).toBe(5_000_000);
    expect(clock.lastRttUs).toBe(4000);
  });

  it('uses the minimum-RTT sample, not the latest', () => {
    const clock = new ClockSync();
    clock.addSample(0, 2000, 5_001_000); // rtt 2 ms, offset 5 s
    clock.addSample(10_000, 60_000, 5_055_000); // rtt 50 ms, queued on the way back: offset 5.02 s
    expect(clock.offsetUs).toBe(5_000_000);
    expect(clock.lastRttUs).toBe(50_000);
    expect(clock.minRttUs).toBe(2000);
  });

  it('forgets samples older than the last 10', () => {
    const clock = new ClockSync(10);
    clock.addSample(0, 1000, 1_000_500); // the best, offset 1 s
    for (let i = 1; i <= 10; i++) clock.addSample(i * 1e6, i * 1e6 + 8000, i * 1e6 + 4000 + 2_000_000);
    expect(clock.minRttUs).toBe(8000);
    expect(clock.offsetUs).toBe(2_000_000);
  });

  it('ignores samples with a negative round trip', () => {
    const clock = new ClockSync();
    clock.addSample(5000, 4000, 1);
    expect(clock.offsetUs).toBeNull();
  });
});
