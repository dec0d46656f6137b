/** Exponential back-off between reconnection attempts: `initialMs`, doubled each time, at most `maxMs`. */
export class Backoff {
  private nextMs: number;

  constructor(
    private readonly initialMs = 500,
    private readonly maxMs = 5000,
  ) {
    this.nextMs = initialMs;
  }

  next(): number {
    const delay = this.nextMs;
    this.nextMs = Math.min(this.maxMs, this.nextMs * 2);
    return delay;
  }

  /** A connection worked: the next loss is retried quickly again. */
  reset(): void {
    this.nextMs = this.initialMs;
  }
}
