import { describe, expect, it } from 'vitest';
import { TransitClock } from '../../public/src/transports/webtransport/transit.js';

describe('TransitClock', () => {
  it('takes the soonest arrival as the fastest path and charges every other frame its extra wait', () => {
    const clock = new TransitClock();
    // Frames every 33 ms; the clocks differ by 5 s; half the RTT is 2 ms.
    const base = 5_000_000;
    expect(clock.arrived(0, base + 10_000, 2_000)).toBe(base + 8_000);
    // Arrived 3 ms sooner relative to its timestamp: the new fastest path.
    expect(clock.arrived(33_000, base + 33_000 + 7_000, 2_000)).toBe(33_000 + 5_007_000 - 2_000);
    // 40 ms of queueing somewhere: the estimate says it reached the server 40 ms later than a fast frame would have.
    const late = clock.arrived(66_000, base + 66_000 + 47_000, 2_000);
    expect(late).toBe(66_000 + 5_007_000 - 2_000);
    expect(base + 66_000 + 47_000 - late).toBe(42_000);
  });

  it('forgets the fastest arrival after the window, following clock drift', () => {
    const clock = new TransitClock({ windowUs: 1_000_000 });
    clock.arrived(0, 1_000, 0);
    // Two seconds later every frame takes 500 µs longer (the clocks drifted): that is the new normal.
    clock.arrived(2_000_000, 2_001_500, 0);
    expect(clock.arrived(2_033_000, 2_034_500, 0)).toBe(2_034_500);
  });

  it('starts over on a new timeline', () => {
    const clock = new TransitClock();
    clock.arrived(3_600_000_000, 10_000, 0);
    // A new publisher counts from 0 again.
    expect(clock.arrived(0, 20_000, 1_000)).toBe(19_000);
    clock.reset();
    expect(clock.arrived(100, 50_000, 0)).toBe(50_000);
  });
});
