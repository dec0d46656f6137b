/**
 * Brute-force protection: an IP whose authentications fail `maxFailures`
 * times within `windowMs` is refused everything for `blockMs`, without its
 * credentials even being checked (so a blocked guesser learns nothing).
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly blocked = new Map<string, number>();

  constructor(
    public maxFailures: number,
    public windowMs: number,
    public blockMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Milliseconds `ip` remains blocked, or 0. */
  blockedFor(ip: string): number {
    const until = this.blocked.get(ip);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left > 0) return left;
    this.blocked.delete(ip);
    return 0;
  }

  /** Records a failure; true when it makes the IP blocked. */
  fail(ip: string): boolean {
    if (this.maxFailures === 0) return false;
    const now = this.now();
    const recent = (this.failures.get(ip) ?? []).filter((t) => now - t < this.windowMs);
    recent.push(now);
    if (recent.length < this.maxFailures) {
      this.failures.set(ip, recent);
      if (this.failures.size > 10_000) this.sweep(now);
      return false;
    }
    this.failures.delete(ip);
    this.blocked.set(ip, now + this.blockMs);
    return true;
  }

  get blockedCount(): number {
    const now = this.now();
    let n = 0;
    for (const until of this.blocked.values()) if (until > now) n++;
    return n;
  }

  private sweep(now: number): void {
    for (const [ip, times] of this.failures) if (times.every((t) => now - t >= this.windowMs)) this.failures.delete(ip);
    for (const [ip, until] of this.blocked) if (until <= now) this.blocked.delete(ip);
  }
}
