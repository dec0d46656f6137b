/**
 * A token bucket for log lines a client can provoke: what a peer sends must
 * not decide how much the server writes. Up to `perSecond` lines pass (with a
 * burst of as many); the rest are counted, and one line says how many were
 * suppressed once the bucket has room again.
 */
export class LogLimiter {
  private tokens: number;
  private last: number;
  private suppressed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly perSecond: number,
    private readonly reportSuppressed: (count: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = perSecond;
    this.last = now();
  }

  /** Runs `write` if the budget allows; otherwise counts it. */
  log(write: () => void): void {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.flush();
      write();
      return;
    }
    this.suppressed++;
    // Say it even if no further line comes to carry the count.
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.refill();
      this.flush();
    }, 1000).unref();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
  }

  private flush(): void {
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    this.reportSuppressed(count);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
