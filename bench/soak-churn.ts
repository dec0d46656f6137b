/**
 * Reader churn for the soak: short-lived ws-nal readers opened at a steady
 * rate, each reading about a second after its first keyframe, and every few
 * an upgrade abandoned half-way (a client that connects and goes away). A
 * reader counts as failed when the server closes it early or when its first
 * keyframe takes longer than the deadline while the publisher is on air.
 */
import net from 'node:net';
import { LeanReader, type ReaderTarget } from './lean-reader.js';
import { handshakeRequest } from './ws-wire.js';

export interface ChurnOptions {
  target: ReaderTarget;
  perSecond: number;
  /** Every `abortEvery`-th client abandons its upgrade instead of reading (0: never). */
  abortEvery: number;
  /** How long a reader reads after its first keyframe. */
  readMs: number;
  /** Longest wait for the first keyframe, counted from when the publisher is on air. */
  firstKeyframeMs: number;
  /** When the publisher (re)started, and whether it is off air now: a restart does not count against a reader. */
  onAirSince(): number | undefined;
}

interface Pending {
  reader: LeanReader;
  openedAt: number;
  gotKeyframe: boolean;
  closing: boolean;
}

export class Churn {
  opened = 0;
  aborted = 0;
  completed = 0;
  readonly failures: string[] = [];
  private failedCount = 0;
  private readonly live = new Set<Pending>();
  private readonly sockets = new Set<net.Socket>();
  private readonly timer: NodeJS.Timeout;
  private readonly judge: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: ChurnOptions) {
    this.timer = setInterval(() => this.openOne(), 1000 / o.perSecond);
    this.judge = setInterval(() => this.checkDeadlines(), 250);
  }

  get failed(): number {
    return this.failedCount;
  }

  get open(): number {
    return this.live.size;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.judge);
    for (const p of this.live) {
      p.closing = true;
      p.reader.close();
    }
    this.live.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private fail(reason: string): void {
    this.failedCount++;
    // The first failures say what went wrong; a hundred more of the same say nothing new.
    if (this.failures.length < 20) this.failures.push(reason);
  }

  private openOne(): void {
    if (this.stopped) return;
    this.opened++;
    if (this.o.abortEvery > 0 && this.opened % this.o.abortEvery === 0) {
      this.abortHandshake(this.opened / this.o.abortEvery);
      return;
    }
    const p: Pending = { reader: undefined as unknown as LeanReader, openedAt: performance.now(), gotKeyframe: false, closing: false };
    p.reader = new LeanReader(this.o.target, {
      keyframe: () => {
        if (p.gotKeyframe) return;
        p.gotKeyframe = true;
        setTimeout(() => {
          p.closing = true;
          this.live.delete(p);
          this.completed++;
          p.reader.close();
        }, this.o.readMs);
      },
      end: (r) => {
        if (p.closing || this.stopped) return;
        this.live.delete(p);
        this.fail(`churn reader ${r.state}: ${r.error ?? 'no reason'}`);
      },
    });
    this.live.add(p);
  }

  /**
   * Two ways of walking away from an upgrade, alternately: half the request
   * then gone, or the whole request and gone before the answer.
   */
  private abortHandshake(n: number): void {
    this.aborted++;
    const { host, port, path } = this.o.target;
    const { request } = handshakeRequest(host, port, path);
    const socket = net.connect({ host, port });
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('connect', () => {
      if (n % 2 === 0) {
        socket.write(request.slice(0, request.length >> 1));
        setTimeout(() => socket.destroy(), 200);
      } else socket.end(request, () => socket.destroy());
    });
  }

  private checkDeadlines(): void {
    const since = this.o.onAirSince();
    if (since === undefined) return;
    const now = performance.now();
    for (const p of this.live) {
      if (p.gotKeyframe) continue;
      if (now - Math.max(p.openedAt, since) <= this.o.firstKeyframeMs) continue;
      p.closing = true;
      this.live.delete(p);
      p.reader.close();
      this.fail(`churn reader without a keyframe ${Math.round(now - p.openedAt)} ms after opening (state ${p.reader.state})`);
    }
  }
}
