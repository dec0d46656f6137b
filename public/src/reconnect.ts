/**
 * When to reconnect: exponential back-off so a restarting server is not
 * hammered by every viewer at once, jitter so viewers that dropped together
 * do not come back together, and a reset once a connection has proven itself
 * by playing for a while (a flapping one keeps backing off). Waiting for a
 * publisher on an open socket counts as healthy too: the server is fine.
 */

export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  /** Fraction of each delay taken off at random: 0.2 → between 80 % and 100 %. */
  readonly jitter?: number;
  /** Staying healthy this long resets the back-off. */
  readonly healthyAfterMs?: number;
}

export class ReconnectBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly jitter: number;
  private readonly healthyAfterMs: number;
  private attempt = 0;
  private healthySince: number | null = null;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.maxMs = options.maxMs ?? 8000;
    this.jitter = options.jitter ?? 0.2;
    this.healthyAfterMs = options.healthyAfterMs ?? 10_000;
  }

  /** The un-jittered delay before reconnect attempt `n` (0-based). */
  baseDelayMs(n: number): number {
    return Math.min(this.maxMs, this.initialMs * 2 ** Math.min(n, 30));
  }

  /** The connection is playing or waiting for a publisher; repeated calls keep the first time. */
  markHealthy(now: number): void {
    this.healthySince ??= now;
  }

  /** The connection closed: how long to wait before the next attempt. `random` ∈ [0, 1). */
  nextDelayMs(now: number, random: number): number {
    if (this.healthySince !== null && now - this.healthySince >= this.healthyAfterMs) this.attempt = 0;
    this.healthySince = null;
    const base = this.baseDelayMs(this.attempt);
    this.attempt++;
    return Math.round(base * (1 - this.jitter * random));
  }
}
