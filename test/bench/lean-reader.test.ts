import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARRIVAL_STRIDE, LeanReader } from '../../bench/lean-reader.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let publisher: Publisher;

beforeAll(async () => {
  srv = await startServer();
  publisher = publish(srv.rtmpUrl('live/bench'), { size: '320x180', gop: 15 });
});

afterAll(async () => {
  await publisher.stop();
  await srv.stop();
});

describe('lean reader on a real Polycast /ws/nal', () => {
  it('sees the same keyframes, by DTS, as a full ws client', async () => {
    const full = new NalClient(srv.wsUrl('live/bench'));
    const lean = new LeanReader({ host: '127.0.0.1', port: srv.webPort, path: '/live/bench/ws/nal', format: 'ws-nal' });
    try {
      const keyframes = (): number[] => full.video.filter((m) => m.flags & 1).map((m) => Math.round(m.dts / 1000));
      await full.until(() => keyframes().length >= 4, 20_000, 'four keyframes');
      const wanted = keyframes();
      const leanKeyframes = (): number[] => lean.arrivals.filter((_, i) => i % ARRIVAL_STRIDE === 0);
      // Both joined at a cached keyframe, a moment apart: after the first, every keyframe must be the same.
      await full.until(() => wanted.slice(1).every((ms) => leanKeyframes().includes(ms)), 5000, 'the same keyframes on the lean reader');
      expect(lean.state).toBe('open');
      expect(lean.error).toBeUndefined();
      expect(lean.messages).toBeGreaterThan(wanted.length * 15);
      const at = lean.arrivals.filter((_, i) => i % ARRIVAL_STRIDE === 1);
      expect(at).toEqual([...at].sort((a, b) => a - b));
      expect(Math.abs(at.at(-1)! - Date.now())).toBeLessThan(5000);
      // The server's receive time comes before the arrival here, on the same clock.
      const serverAt = lean.arrivals.filter((_, i) => i % ARRIVAL_STRIDE === 2);
      serverAt.forEach((s, i) => {
        expect(s).toBeLessThanOrEqual(at[i]! + 1);
        expect(at[i]! - s).toBeLessThan(1000);
      });
    } finally {
      full.close();
      lean.close();
    }
  });
});
