import { describe, expect, it } from 'vitest';
import { MovingMedian } from '../../public/src/stats/moving-median.js';
import { createStats, StatsRecorder } from '../../public/src/stats/player-stats.js';
import { RateMeter } from '../../public/src/stats/rate-meter.js';

describe('MovingMedian', () => {
  it('is the median of the last N samples', () => {
    const median = new MovingMedian(3);
    expect(median.value).toBeNull();
    median.add(10);
    median.add(1000);
    expect(median.value).toBe(505);
    median.add(20);
    expect(median.value).toBe(20);
    median.add(30); // 10 falls out: 1000, 20, 30
    expect(median.value).toBe(30);
  });
});

describe('RateMeter', () => {
  it('counts events in the last second', () => {
    const meter = new RateMeter();
    for (let t = 0; t < 1000; t += 40) meter.tick(t);
    expect(meter.rate(999)).toBe(25);
    expect(meter.rate(2000)).toBe(0);
  });
});

describe('StatsRecorder', () => {
  it('records paints for the test hook', () => {
    const stats = createStats('live/cam1');
    const recorder = new StatsRecorder(stats);
    recorder.framePainted(100, 640, 360, null);
    recorder.framePainted(133, 640, 360, 40);
    expect(stats).toMatchObject({ framesPainted: 2, firstPaintAt: 100, lastPaintAt: 133, width: 640, height: 360, latencyMs: 40 });
  });

  it('adds up server drops across connections and player drops', () => {
    const stats = createStats('p');
    const recorder = new StatsRecorder(stats);
    recorder.serverDropped(3);
    recorder.serverDropped(5); // cumulative within a connection
    recorder.connectionEnded();
    recorder.serverDropped(2);
    recorder.framesDroppedByPlayer(4);
    expect(stats.droppedByServer).toBe(7);
    expect(stats.dropped).toBe(11);
  });

  it('keeps the log bounded', () => {
    const stats = createStats('p');
    const recorder = new StatsRecorder(stats);
    for (let i = 0; i < 250; i++) recorder.log(`line ${i}`);
    expect(stats.log).toHaveLength(200);
    expect(stats.log.at(-1)).toMatch(/line 249$/);
  });
});
