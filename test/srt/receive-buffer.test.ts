import { describe, expect, it } from 'vitest';
import { SEQ_MODULO } from '../../src/protocols/srt/packet.js';
import { ReceiveBuffer } from '../../src/protocols/srt/receive-buffer.js';

const LATENCY = 120_000;
const payload = (n: number) => new Uint8Array([n & 0xff]);

function buffer(initialSeq = 100): ReceiveBuffer {
  return new ReceiveBuffer({ initialSeq, latencyUs: LATENCY, timeBaseUs: 0, windowPackets: 1000 });
}

function drain(b: ReceiveBuffer, now: number): number[] {
  const out: number[] = [];
  b.deliver(now, (p) => out.push(p[0]!));
  return out;
}

describe('SRT receive buffer', () => {
  it('delivers in order once the latency has passed, not before', () => {
    const b = buffer();
    for (let i = 0; i < 3; i++) b.receive(100 + i, i * 1000, payload(i));
    expect(drain(b, LATENCY - 1)).toEqual([]);
    expect(drain(b, LATENCY + 1000)).toEqual([0, 1]);
    expect(drain(b, LATENCY + 2000)).toEqual([2]);
    expect(b.ackSeq).toBe(103);
  });

  it('in order at once: delivers what has no gap before it now, and waits for a gap only until its successor is due', () => {
    const b = new ReceiveBuffer({ initialSeq: 100, latencyUs: LATENCY, timeBaseUs: 0, windowPackets: 1000, inOrderAtOnce: true });
    b.receive(100, 0, payload(0));
    b.receive(101, 1000, payload(1));
    expect(drain(b, 2000)).toEqual([0, 1]);
    b.receive(103, 3000, payload(3));
    expect(drain(b, 4000)).toEqual([]);
    // The retransmission fills the gap: both go at once, long before their TSBPD time.
    b.receive(102, 2000, payload(2));
    expect(drain(b, 5000)).toEqual([2, 3]);
    b.receive(105, 5000, payload(5));
    expect(drain(b, LATENCY + 4999)).toEqual([]);
    expect(drain(b, LATENCY + 5000)).toEqual([5]);
    expect(b.stats.dropped).toBe(1);
  });

  it('reports a gap at once, acknowledges only up to it, and fills it from a retransmission', () => {
    const b = buffer();
    b.receive(100, 0, payload(0));
    const { lost } = b.receive(103, 3000, payload(3));
    expect(lost).toEqual([101, 102]);
    expect(b.ackSeq).toBe(101);
    b.receive(102, 2000, payload(2));
    expect(b.ackSeq).toBe(101);
    b.receive(101, 1000, payload(1));
    expect(b.ackSeq).toBe(104);
    expect(drain(b, LATENCY + 3000)).toEqual([0, 1, 2, 3]);
    expect(b.stats).toMatchObject({ lost: 2, recovered: 2, dropped: 0 });
  });

  it('counts duplicates and packets that come after their turn, and keeps them out', () => {
    const b = buffer();
    b.receive(100, 0, payload(0));
    expect(b.receive(100, 0, payload(9)).verdict).toBe('duplicate');
    expect(drain(b, LATENCY)).toEqual([0]);
    expect(b.receive(100, 0, payload(9)).verdict).toBe('late');
    expect(b.receive(100 + 5000, 0, payload(9)).verdict).toBe('out-of-window');
    expect(b.stats).toMatchObject({ duplicates: 1, late: 1, outOfWindow: 1 });
  });

  it('gives up a missing packet when its successor is due (too-late drop), and acknowledges past it', () => {
    const b = buffer();
    b.receive(100, 0, payload(0));
    b.receive(102, 2000, payload(2));
    expect(drain(b, LATENCY + 1000)).toEqual([0]);
    expect(drain(b, LATENCY + 2000)).toEqual([2]);
    expect(b.stats.dropped).toBe(1);
    expect(b.ackSeq).toBe(103);
    expect(b.receive(101, 1000, payload(1)).verdict).toBe('late');
  });

  it('repeats a loss report only after the NAK interval', () => {
    const b = buffer();
    b.receive(100, 0, payload(0));
    b.receive(105, 0, payload(5));
    b.reported(0);
    expect(b.nakRanges(10_000, 20_000)).toEqual([]);
    expect(b.nakRanges(20_000, 20_000)).toEqual([[101, 104]]);
    b.receive(102, 0, payload(2));
    expect(b.nakRanges(40_000, 20_000)).toEqual([
      [101, 101],
      [103, 104],
    ]);
  });

  it('stops waiting for what the sender dropped (DROPREQ)', () => {
    const b = buffer();
    b.receive(100, 0, payload(0));
    b.receive(104, 4000, payload(4));
    b.senderDropped(101, 103);
    expect(b.ackSeq).toBe(105);
    expect(drain(b, LATENCY + 4000)).toEqual([0, 4]);
    expect(b.nakRanges(1e9, 0)).toEqual([]);
  });

  it('follows sequence numbers across their 31-bit wrap', () => {
    const b = buffer(SEQ_MODULO - 2);
    b.receive(SEQ_MODULO - 2, 0, payload(0));
    const { lost } = b.receive(1, 3000, payload(3));
    expect(lost).toEqual([SEQ_MODULO - 1, 0]);
    b.receive(SEQ_MODULO - 1, 1000, payload(1));
    b.receive(0, 2000, payload(2));
    expect(drain(b, LATENCY + 3000)).toEqual([0, 1, 2, 3]);
    expect(b.ackSeq).toBe(2);
  });
});
