/**
 * The receiving half of SRT live mode (draft-sharabayko-srt §4.5–4.8): packets
 * kept by sequence number inside a bounded window, the loss list that NAKs
 * report, the acknowledgement point, and timestamp-based delivery (TSBPD):
 * each packet leaves at sender time + time base + latency, in order, and a
 * gap whose successor is due is given up (too-late packet drop). Or, for a
 * forwarding server, as soon as it is in order (`inOrderAtOnce`).
 *
 * No sockets and no clock: callers pass `now` in microseconds.
 */
import { seqAdd, seqDiff } from './packet.js';

export interface ReceiveBufferOptions {
  readonly initialSeq: number;
  /** TSBPD latency, µs. */
  readonly latencyUs: number;
  /** Local time (µs) at which the sender's clock read zero. */
  readonly timeBaseUs: number;
  /** Packets held at most: the flow window announced to the sender. */
  readonly windowPackets: number;
  /**
   * Deliver a packet as soon as everything before it is in, rather than at
   * its TSBPD time. The latency then only bounds how long a gap is waited
   * for. A server that forwards by presentation timestamps gains nothing from
   * arrival pacing, and pays the whole latency for it on every frame.
   */
  readonly inOrderAtOnce?: boolean;
}

export type Verdict = 'stored' | 'duplicate' | 'late' | 'out-of-window';

export interface ReceiveStats {
  received: number;
  duplicates: number;
  late: number;
  outOfWindow: number;
  /** Sequence numbers found missing (NAKed). */
  lost: number;
  /** Missing packets that came after all (retransmission or reordering). */
  recovered: number;
  /** Missing packets given up because their successor was due. */
  dropped: number;
}

interface Held {
  /** undefined: the sender said this packet is gone (DROPREQ); nothing to deliver. */
  readonly payload: Uint8Array | undefined;
  readonly deliverAt: number;
}

interface LossRange {
  from: number;
  to: number;
  /** When this range was last reported (µs), so periodic NAKs do not repeat it every tick. */
  reportedAt: number;
}

const TIMESTAMP_WRAP = 2 ** 32;
/** A NAK is one datagram; this many ranges (8 bytes each) stay well under any MTU. */
export const MAX_NAK_RANGES = 128;

export class ReceiveBuffer {
  readonly stats: ReceiveStats = { received: 0, duplicates: 0, late: 0, outOfWindow: 0, lost: 0, recovered: 0, dropped: 0 };
  private readonly held = new Map<number, Held>();
  private readonly losses: LossRange[] = [];
  /** Next sequence number to deliver. */
  private next: number;
  /** Highest sequence number received (or initialSeq − 1). */
  private last: number;
  private lastTimestamp = 0;
  private wraps = 0;

  constructor(private readonly opts: ReceiveBufferOptions) {
    this.next = opts.initialSeq;
    this.last = seqAdd(opts.initialSeq, -1);
  }

  /** Packets held, delivered or not yet due. */
  get size(): number {
    return this.held.size;
  }

  /** All packets before this one are received or given up: the value of an ACK. */
  get ackSeq(): number {
    return this.losses.length > 0 ? this.losses[0]!.from : seqAdd(this.last, 1);
  }

  /** Room left in the window, for the ACK's available-buffer field. */
  get available(): number {
    return Math.max(0, this.opts.windowPackets - this.held.size);
  }

  /**
   * Stores a data packet. Returns the verdict, and the ranges this arrival
   * revealed as missing (to NAK at once).
   */
  receive(seq: number, timestamp: number, payload: Uint8Array): { verdict: Verdict; lost?: [number, number] } {
    const ahead = seqDiff(seq, this.next);
    if (ahead < 0) {
      this.stats.late++;
      return { verdict: 'late' };
    }
    if (ahead >= this.opts.windowPackets) {
      this.stats.outOfWindow++;
      return { verdict: 'out-of-window' };
    }
    if (this.held.has(seq)) {
      this.stats.duplicates++;
      return { verdict: 'duplicate' };
    }
    const sinceLast = seqDiff(seq, this.last);
    if (sinceLast <= 0 && !this.removeLoss(seq)) {
      // Below the highest received, not missing, not held: delivered already.
      this.stats.duplicates++;
      return { verdict: 'duplicate' };
    }
    this.stats.received++;
    this.held.set(seq, { payload, deliverAt: this.deliveryTime(timestamp) });
    if (sinceLast <= 0) {
      this.stats.recovered++;
      return { verdict: 'stored' };
    }
    let lost: [number, number] | undefined;
    if (sinceLast > 1) {
      lost = [seqAdd(this.last, 1), seqAdd(seq, -1)];
      this.losses.push({ from: lost[0], to: lost[1], reportedAt: Number.NEGATIVE_INFINITY });
      this.stats.lost += sinceLast - 1;
    }
    this.last = seq;
    return lost === undefined ? { verdict: 'stored' } : { verdict: 'stored', lost };
  }

  /**
   * Hands every due packet to `out` in sequence order. A missing packet is
   * given up when a later one is due: live mode never waits past the latency.
   */
  deliver(now: number, out: (payload: Uint8Array) => void): void {
    for (;;) {
      const h = this.held.get(this.next);
      if (h !== undefined) {
        if (h.deliverAt > now && this.opts.inOrderAtOnce !== true) return;
        this.held.delete(this.next);
        this.next = seqAdd(this.next, 1);
        if (h.payload !== undefined) out(h.payload);
        continue;
      }
      if (seqDiff(this.next, this.last) > 0) return;
      // Missing: the first loss range starts here (everything up to `last` is held or lost).
      const gap = this.losses[0];
      if (gap === undefined || gap.from !== this.next) return this.resync();
      const after = this.held.get(seqAdd(gap.to, 1));
      if (after === undefined || after.deliverAt > now) return;
      this.losses.shift();
      this.stats.dropped += seqDiff(gap.to, gap.from) + 1;
      this.next = seqAdd(gap.to, 1);
    }
  }

  /** The earliest time (µs) something may become deliverable, for the caller's timer; undefined when nothing is held. */
  nextDue(): number | undefined {
    const h = this.held.get(this.next);
    if (h !== undefined) return this.opts.inOrderAtOnce === true ? Number.NEGATIVE_INFINITY : h.deliverAt;
    const gap = this.losses[0];
    if (gap === undefined) return undefined;
    return this.held.get(seqAdd(gap.to, 1))?.deliverAt;
  }

  /** The sender gave up on these packets (DROPREQ): stop asking for them, deliver past them. */
  senderDropped(from: number, to: number): void {
    const span = seqDiff(to, from);
    if (span < 0 || span >= this.opts.windowPackets) return;
    for (let s = from, i = 0; i <= span; i++, s = seqAdd(s, 1)) {
      if (seqDiff(s, this.next) < 0 || seqDiff(s, this.last) > 0) continue;
      if (this.removeLoss(s)) this.held.set(s, { payload: undefined, deliverAt: Number.NEGATIVE_INFINITY });
    }
  }

  /**
   * Loss ranges to report now: those never reported, or reported longer ago
   * than `interval` (µs), at most MAX_NAK_RANGES.
   */
  nakRanges(now: number, intervalUs: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const range of this.losses) {
      if (out.length === MAX_NAK_RANGES) break;
      if (now - range.reportedAt < intervalUs) continue;
      range.reportedAt = now;
      out.push([range.from, range.to]);
    }
    return out;
  }

  /** Marks a freshly detected range as reported (it was NAKed on arrival). */
  reported(now: number): void {
    const newest = this.losses[this.losses.length - 1];
    if (newest !== undefined) newest.reportedAt = now;
  }

  private deliveryTime(timestamp: number): number {
    // Timestamps are 32-bit microseconds: they wrap every 71 minutes.
    let wraps = this.wraps;
    if (timestamp < this.lastTimestamp && this.lastTimestamp - timestamp > TIMESTAMP_WRAP / 2) {
      wraps = ++this.wraps;
      this.lastTimestamp = timestamp;
    } else if (timestamp > this.lastTimestamp && timestamp - this.lastTimestamp > TIMESTAMP_WRAP / 2) {
      wraps--; // a retransmission from before the last wrap
    } else if (timestamp > this.lastTimestamp) {
      this.lastTimestamp = timestamp;
    }
    return this.opts.timeBaseUs + wraps * TIMESTAMP_WRAP + timestamp + this.opts.latencyUs;
  }

  /** Removes one sequence number from the loss list; false if it was not there. */
  private removeLoss(seq: number): boolean {
    for (let i = 0; i < this.losses.length; i++) {
      const r = this.losses[i]!;
      if (seqDiff(seq, r.from) < 0) return false;
      if (seqDiff(seq, r.to) > 0) continue;
      if (r.from === r.to) this.losses.splice(i, 1);
      else if (seq === r.from) r.from = seqAdd(seq, 1);
      else if (seq === r.to) r.to = seqAdd(seq, -1);
      else {
        this.losses.splice(i + 1, 0, { from: seqAdd(seq, 1), to: r.to, reportedAt: r.reportedAt });
        r.to = seqAdd(seq, -1);
      }
      return true;
    }
    return false;
  }

  /** Cannot happen while the invariant holds; if it ever broke, skip to what is held rather than stall the publisher. */
  private resync(): void {
    for (let i = 0, s = this.next; i < this.opts.windowPackets && seqDiff(s, this.last) <= 0; i++, s = seqAdd(s, 1)) {
      if (this.held.has(s)) {
        this.next = s;
        return;
      }
    }
    this.next = seqAdd(this.last, 1);
  }
}
