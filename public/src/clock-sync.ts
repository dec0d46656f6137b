/**
 * Estimates the server clock from ping/pong round trips (NTP's idea, kept
 * small): the sample with the smallest RTT of the recent ones has the least
 * queueing in it, so its midpoint is the best guess of when the server
 * stamped `serverTime`.
 */

export interface ClockSample {
  readonly rttUs: number;
  /** serverTime − local midpoint of the round trip. */
  readonly offsetUs: number;
}

export class ClockSync {
  private readonly samples: ClockSample[] = [];
  private best: ClockSample | null = null;
  private latest: ClockSample | null = null;

  constructor(private readonly window = 10) {}

  /** All three times in µs; `sentUs` and `receivedUs` on the local clock. */
  addSample(sentUs: number, receivedUs: number, serverTimeUs: number): void {
    const rttUs = receivedUs - sentUs;
    if (!(rttUs >= 0)) return;
    const sample = { rttUs, offsetUs: serverTimeUs - (sentUs + receivedUs) / 2 };
    this.samples.push(sample);
    if (this.samples.length > this.window) this.samples.shift();
    this.latest = sample;
    this.best = this.samples.reduce((a, b) => (b.rttUs < a.rttUs ? b : a));
  }

  /** Add to a local µs timestamp to get the server's; null until a pong arrived. */
  get offsetUs(): number | null {
    return this.best?.offsetUs ?? null;
  }

  get lastRttUs(): number | null {
    return this.latest?.rttUs ?? null;
  }

  get minRttUs(): number | null {
    return this.best?.rttUs ?? null;
  }

  reset(): void {
    this.samples.length = 0;
    this.best = null;
    this.latest = null;
  }
}
