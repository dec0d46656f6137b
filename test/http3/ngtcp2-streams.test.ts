import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { InMemoryQuic, PAIR_SETTINGS, type InMemoryPair } from '../../bench/ngtcp2-pair.js';

// The addon is built by `npm run build` on every machine CI runs on; a missing one is a failure here, not a skip.
function quic(settings = PAIR_SETTINGS): InMemoryQuic {
  const q = InMemoryQuic.open(settings);
  if ('error' in q) throw new Error(q.error);
  return q;
}

/** Server-initiated unidirectional stream ids, in the order they must be opened. */
const uni = (k: number): number => 3 + 4 * k;

/** Everything the client has read, per stream, and which streams ended. */
function readAll(p: InMemoryPair, into: Map<number, Buffer[]>, ended: Set<number>): void {
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (const id of p.client.readable()) {
    for (;;) {
      const r = p.client.streamRecv(id, buf);
      if (r === null) break;
      const [n, fin] = r;
      if (n > 0) into.set(id, [...(into.get(id) ?? []), Buffer.from(buf.subarray(0, n))]);
      if (fin) ended.add(id);
      if (n === 0) break;
    }
  }
}

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('native/quic-ngtcp2 streams', () => {
  it('queues one shared payload by reference on many streams of many connections, intact after JavaScript lets go of it', () => {
    const q = quic();
    const pairs = [q.pair(51_001), q.pair(51_002), q.pair(51_003)];
    const frame = randomBytes(30_000);
    let shared: ReturnType<typeof q.binding.share> | undefined = q.binding.share(frame);
    for (const p of pairs) for (let k = 0; k < 4; k++) expect(p.server.streamSend(uni(k), shared, true)).toBe(frame.length);
    // Only the streams' references keep the bytes now; nothing has left yet.
    shared = undefined;
    collectGarbage();
    for (const p of pairs) {
      const got = new Map<number, Buffer[]>();
      const ended = new Set<number>();
      for (let i = 0; i < 200 && ended.size < 4; i++) {
        q.settle(p, 1);
        readAll(p, got, ended);
      }
      expect([...ended].sort((a, b) => a - b)).toEqual([0, 1, 2, 3].map(uni));
      for (let k = 0; k < 4; k++) expect(Buffer.concat(got.get(uni(k)) ?? []).equals(frame)).toBe(true);
    }
  });

  it('takes only what flow control allows of a shared payload, and the rest follows as a copy', () => {
    const q = quic({ ...PAIR_SETTINGS, initialMaxStreamData: 4096 });
    const p = q.pair(51_010);
    const frame = randomBytes(20_000);
    const taken = p.server.streamSend(uni(0), q.binding.share(frame), false);
    expect(taken).toBe(4096);
    let off = taken ?? 0;
    const got = new Map<number, Buffer[]>();
    const ended = new Set<number>();
    for (let i = 0; i < 500 && !ended.has(uni(0)); i++) {
      q.settle(p, 1);
      readAll(p, got, ended);
      if (off < frame.length) off += p.server.streamSend(uni(0), frame.subarray(off), false) ?? 0;
      else if (i % 2 === 0) p.server.streamSend(uni(0), new Uint8Array(0), true);
    }
    expect(Buffer.concat(got.get(uni(0)) ?? []).equals(frame)).toBe(true);
  });

  it('lets go of a stream once its data and FIN are acknowledged, however many groups went by', () => {
    const q = quic();
    const p = q.pair(51_020);
    const frame = Buffer.alloc(10_400, 7);
    const got = new Map<number, Buffer[]>();
    const ended = new Set<number>();
    let most = 0;
    for (let k = 0; k < 60; k++) {
      p.server.streamSend(uni(k), frame, false);
      p.server.streamSend(uni(k), frame, true);
      q.settle(p);
      readAll(p, got, ended);
      q.settle(p);
      most = Math.max(most, p.server.streamCount());
    }
    expect(ended.size).toBe(60);
    // One group at a time, as a session sends them: never more than it and the one before it.
    expect(most).toBeLessThanOrEqual(2);
    expect(p.server.streamCount()).toBe(0);
  });

  it("packs an audio frame written with a video frame into the video frame's packets (why audio rides with video)", () => {
    const q = quic();
    const audio = randomBytes(341);
    const video = randomBytes(5000);
    // Video alone, for the packet count.
    const alone = q.pair(51_030);
    q.settle(alone);
    alone.server.streamSend(uni(0), video, false);
    const videoPackets = q.deliver(alone.server, alone.client);

    const p = q.pair(51_031);
    q.settle(p);
    // Audio first, as the stream delivers it, on its own stream; one flush for both.
    p.server.streamSend(uni(0), audio, false);
    p.server.streamSend(uni(1), video, false);
    // The audio frame fills the room the video frame's last packet had: no packet of its own.
    expect(q.deliver(p.server, p.client)).toBe(videoPackets);
    const got = new Map<number, Buffer[]>();
    readAll(p, got, new Set<number>());
    expect(Buffer.concat(got.get(uni(0)) ?? []).equals(audio)).toBe(true);
    expect(Buffer.concat(got.get(uni(1)) ?? []).equals(video)).toBe(true);
  });

  it('says a datagram may be as large as the packets it actually writes carry, and sends one that large', () => {
    const q = quic();
    const p = q.pair(51_040);
    q.settle(p);
    const max = p.server.dgramMaxWritableLen();
    expect(max).not.toBeNull();
    const datagram = randomBytes(max!);
    p.server.dgramSend(datagram);
    expect(q.deliver(p.server, p.client)).toBeGreaterThan(0);
    expect(Buffer.from(p.client.dgramRecvVec() ?? []).equals(datagram)).toBe(true);
  });
});
