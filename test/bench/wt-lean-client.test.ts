import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARRIVAL_STRIDE } from '../../bench/lean-reader.js';
import { MoqReader } from '../../bench/moq-reader.js';
import { measureNgtcp2Floor } from '../../bench/ngtcp2-floor.js';
import { measureQuicheFloor } from '../../bench/quiche-floor.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let publisher: Publisher;

beforeAll(async () => {
  srv = await startServer('paths:\n  all_others:\n', { webTransport: true });
  publisher = publish(srv.rtmpUrl('live/lean'), { size: '320x180', gop: 15 });
});

afterAll(async () => {
  await publisher?.stop();
  await srv?.stop();
});

describe.each(['ngtcp2', 'quiche'] as const)('lean WebTransport client on a real Polycast, client on %s', (quic) => {
  it('wt-raw: reads group streams once per event-loop turn and stamps the same keyframes as a full ws-nal client', async () => {
    const hash = (await (await fetch(srv.httpUrl('/certificate.sha256'))).text()).trim();
    const full = new NalClient(srv.wsUrl('live/lean'));
    const lean = new MoqReader({ host: '127.0.0.1', port: srv.webPort, path: '/moq', broadcast: 'live/lean', certificateSha256: hash, quic });
    try {
      const keyframes = (): number[] => full.video.filter((m) => m.flags & 1).map((m) => Math.round(m.dts / 1000));
      await full.until(() => keyframes().length >= 4, 20_000, 'four keyframes');
      const wanted = keyframes();
      const leanKeyframes = (): number[] => lean.arrivals.filter((_, i) => i % ARRIVAL_STRIDE === 0).map(Math.round);
      // Both joined at a group boundary a moment apart: after the first, every keyframe must be on both.
      await full.until(() => wanted.slice(1).every((ms) => leanKeyframes().includes(ms)), 5000, 'the same keyframes on the lean client');
      expect(lean.state).toBe('open');
      expect(lean.audioFrames).toBeGreaterThan(0);
      expect(lean.packetsIn).toBeGreaterThan(0);
      // ngtcp2's client takes the server's GSO sends whole (UDP_GRO), as a NIC's GRO would hand them over; quiche's reads one by one.
      if (quic === 'ngtcp2') expect(lean.datagramsIn).toBeLessThan(lean.packetsIn);
      else expect(lean.datagramsIn).toBe(lean.packetsIn);
    } finally {
      lean.close();
      full.close();
    }
  });
});

describe("quiche's binding floor", () => {
  it('times the server side of a real in-memory QUIC connection per packet', () => {
    const r = measureQuicheFloor({ seconds: 0.3 });
    // Packets are full (the stream always has more queued) and the client answered some of them.
    expect(r.packets).toBeGreaterThan(100);
    expect(r.packetBytes).toBeGreaterThan(1200);
    expect(r.acks).toBeGreaterThan(0);
    expect(r.sendUs).toBeGreaterThan(r.crossingUs);
    expect(r.totalUs).toBeCloseTo(r.sendUs + r.recvUs + r.streamSendUs + r.timeoutUs, 6);
  });
});

describe("the ngtcp2 stack's floor", () => {
  it('times the server side of real in-memory connections per packet, frame by frame to each session', () => {
    const r = measureNgtcp2Floor({ seconds: 0.3, connections: 3 });
    if ('error' in r) throw new Error(r.error);
    expect(r.stack).toBe('ngtcp2');
    expect(r.packets).toBeGreaterThan(100);
    // ngtcp2 shapes its packets to 1,200 bytes; a frame's last packet is shorter.
    expect(r.packetBytes).toBeGreaterThan(900);
    expect(r.acks).toBeGreaterThan(0);
    expect(r.totalUs).toBeCloseTo(r.sendUs + r.recvUs + r.streamSendUs, 6);
  });

  it('does not leave a pacing wake-up behind a frame once nothing is queued', () => {
    const r = measureNgtcp2Floor({ seconds: 0.3, connections: 3 });
    if ('error' in r) throw new Error(r.error);
    expect(r.bursts).toBeGreaterThan(100);
    // Without the deferral every frame leaves ngtcp2's pacing gap in the expiry (a timer within a millisecond).
    expect(r.idleWakeups).toBeLessThan(r.bursts / 2);
  });
});
