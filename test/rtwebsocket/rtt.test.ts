import { describe, expect, it } from 'vitest';
import { FlightController, RttEstimator } from '../../src/protocols/rtwebsocket/rtt.js';
import { connectedPair, text } from './helpers.js';

const limits = { minOutstanding: 65536, maxOutstanding: 16 * 1024 * 1024, maxAdditionalDelayMs: 50 };

describe('RttEstimator', () => {
  it('starts at 100 ms and smooths samples by 1/8', () => {
    const rtt = new RttEstimator();
    expect([rtt.smoothed, rtt.base]).toEqual([100, 100]);
    rtt.addSample(20, 0);
    expect(rtt.smoothed).toBe(90);
    expect(rtt.base).toBe(20); // the first sample replaces the guess
  });

  it('keeps the minimum over five one-minute buckets', () => {
    const rtt = new RttEstimator();
    rtt.addSample(10, 0);
    rtt.addSample(50, 30_000);
    expect(rtt.base).toBe(10);
    for (const t of [61_000, 122_000, 183_000, 244_000]) rtt.addSample(50, t);
    expect(rtt.base).toBe(10);
    rtt.addSample(50, 305_000); // the bucket holding 10 ms is now over five minutes old
    expect(rtt.base).toBe(50);
  });

  it('restartBase forgets history', () => {
    const rtt = new RttEstimator();
    rtt.addSample(10, 0);
    rtt.restartBase(80, 1000);
    expect(rtt.base).toBe(80);
  });
});

describe('FlightController', () => {
  it('times one round from the end of a pass to the ack covering it', () => {
    const flight = new FlightController(new RttEstimator(), limits);
    expect(flight.startMeasurement(0)).toBeUndefined(); // nothing sent yet
    flight.onSent(65536);
    expect(flight.canSend).toBe(false);
    // Ack window asked for: a quarter of the flight, clamped to [2800, min(11200, minOutstanding)].
    expect(flight.startMeasurement(0)).toBe(11200);
    expect(flight.startMeasurement(1)).toBeUndefined(); // one measurement at a time
    flight.onAcked(30000, 20);
    expect(flight.rtt.base).toBe(100);
    flight.onAcked(35536, 40);
    expect(flight.rtt.base).toBe(40);
    // A full cap went out in 40 ms: 1638.4 B/ms × (40 ms base + 50 ms) = 147456.
    expect(flight.threshold).toBe(147456);
    expect(flight.canSend).toBe(true);
  });

  it('ignores thin rounds for the cap, and falls back to the floor on a slow round', () => {
    const flight = new FlightController(new RttEstimator(), limits);
    flight.onSent(65536);
    flight.startMeasurement(0);
    flight.onAcked(65536, 40);
    expect(flight.threshold).toBe(147456);

    flight.onSent(1000);
    flight.startMeasurement(100);
    flight.onAcked(1000, 110);
    expect(flight.threshold).toBe(147456); // 1000 bytes say nothing about capacity
    expect(flight.rtt.base).toBe(10);

    flight.onSent(70000);
    flight.startMeasurement(200);
    flight.onAcked(70000, 2200); // 35 B/ms × 60 ms is far below the floor
    expect(flight.threshold).toBe(65536);
    expect(flight.rtt.base).toBe(2000); // history restarted from this round
  });

  it('asks for the minimum ack window when little is in flight', () => {
    const flight = new FlightController(new RttEstimator(), limits);
    flight.onSent(4000);
    expect(flight.startMeasurement(0)).toBe(2800);
  });

  it('never raises the cap above its ceiling', () => {
    const flight = new FlightController(new RttEstimator(), { ...limits, maxOutstanding: 100_000 });
    flight.onSent(65536);
    flight.startMeasurement(0);
    flight.onAcked(65536, 1);
    expect(flight.threshold).toBe(100_000);
  });
});

describe('RTT estimation over a link', () => {
  it('measures a 40 ms round trip from ack timing and grows the cap on a fast link', async () => {
    const { a, b, timing } = connectedPair({ delayMs: 20 });
    b.onRecvFlow = (f) => f.accept();
    const flow = a.openFlow(text('bulk'));
    for (let i = 0; i < 400; i++) flow.write(new Uint8Array(10_000));
    let worst = 0;
    for (let t = 0; t < 2000; t += 5) {
      await timing.advance(5);
      worst = Math.max(worst, a.bytesInFlight - a.outstandingThreshold);
    }
    expect(a.baseRtt).toBeGreaterThanOrEqual(40);
    expect(a.baseRtt).toBeLessThan(45);
    expect(a.rtt).toBeGreaterThanOrEqual(40);
    expect(a.outstandingThreshold).toBeGreaterThan(65536);
    expect(worst).toBeLessThanOrEqual(1402); // the cap is overshot by at most one fragment
  });

  it('lets the receive window, not the cap, limit a flow the receiver keeps small', async () => {
    const { a, b, timing } = connectedPair({ delayMs: 20 });
    b.onRecvFlow = (f) => {
      f.accept();
      f.rcvbuf = 20_000;
    };
    const flow = a.openFlow(text('bulk'));
    for (let i = 0; i < 100; i++) flow.write(new Uint8Array(10_000));
    await timing.advance(100); // past the first round, sent on the assumed 64 KiB window
    for (let t = 0; t < 1000; t += 5) {
      await timing.advance(5);
      expect(a.bytesInFlight).toBeLessThanOrEqual(20_000 + 2);
    }
    expect(flow.peerWindow).toBe(20_000);
  });
});
