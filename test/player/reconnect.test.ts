import { describe, expect, it } from 'vitest';
import { ReconnectBackoff } from '../../public/src/reconnect.js';

describe('ReconnectBackoff', () => {
  it('doubles from 0.5 s up to 8 s', () => {
    const backoff = new ReconnectBackoff();
    const delays = Array.from({ length: 7 }, () => backoff.nextDelayMs(0, 0));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('takes up to 20 % off each delay at random', () => {
    const low = new ReconnectBackoff();
    const mid = new ReconnectBackoff();
    expect([low.nextDelayMs(0, 0.999999), low.nextDelayMs(0, 0.999999)]).toEqual([400, 800]);
    expect(mid.nextDelayMs(0, 0.5)).toBe(450);
  });

  it('starts over after 10 s of healthy connection', () => {
    const backoff = new ReconnectBackoff();
    for (let i = 0; i < 4; i++) backoff.nextDelayMs(0, 0);
    backoff.markHealthy(100_000);
    backoff.markHealthy(105_000);
    expect(backoff.nextDelayMs(110_000, 0)).toBe(500);
  });

  it('keeps backing off when connections do not last', () => {
    const backoff = new ReconnectBackoff();
    backoff.nextDelayMs(0, 0);
    backoff.markHealthy(1000);
    expect(backoff.nextDelayMs(10_999, 0)).toBe(1000);
    // Health counts per connection: the previous one's start is forgotten.
    backoff.markHealthy(20_000);
    expect(backoff.nextDelayMs(25_000, 0)).toBe(2000);
  });
});
