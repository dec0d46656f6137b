/**
 * When did a frame reach the server? moq-lite and the hang container carry
 * only the publisher's timestamp, so this estimates it from arrivals: the
 * frame of the last few seconds that arrived soonest after its timestamp is
 * taken to have spent only the one-way network time on the way (half the
 * RTT), and every other frame to have waited longer by the difference. The
 * estimate thus includes what queues in the server and the network, which
 * is what the degrade controller needs to see growing, and it follows the
 * slow drift between the publisher's clock and ours. Pure.
 */

export interface TransitOptions {
  /** How long the soonest arrival is remembered, µs. */
  readonly windowUs?: number;
  /** A timestamp this far off the others is a new timeline (another publisher, a restart), µs. */
  readonly jumpUs?: number;
}

interface Sample {
  readonly arrivalUs: number;
  /** arrival − timestamp. */
  readonly offsetUs: number;
}

export class TransitClock {
  private readonly windowUs: number;
  private readonly jumpUs: number;
  /** Increasing offsets, oldest first: the front is the window's minimum. */
  private samples: Sample[] = [];

  constructor(options: TransitOptions = {}) {
    this.windowUs = options.windowUs ?? 10_000_000;
    this.jumpUs = options.jumpUs ?? 5_000_000;
  }

  reset(): void {
    this.samples = [];
  }

  /**
   * Notes a frame that carried `timestampUs` and arrived at `arrivalUs`
   * (local wall clock); returns the estimated local wall-clock time at
   * which the server received it.
   */
  arrived(timestampUs: number, arrivalUs: number, oneWayUs: number): number {
    const offsetUs = arrivalUs - timestampUs;
    const front = this.samples[0];
    if (front && Math.abs(offsetUs - front.offsetUs) > this.jumpUs) this.samples = [];
    while (this.samples.length > 0 && this.samples[this.samples.length - 1]!.offsetUs >= offsetUs) this.samples.pop();
    this.samples.push({ arrivalUs, offsetUs });
    while (this.samples.length > 1 && arrivalUs - this.samples[0]!.arrivalUs > this.windowUs) this.samples.shift();
    return timestampUs + this.samples[0]!.offsetUs - oneWayUs;
  }
}
