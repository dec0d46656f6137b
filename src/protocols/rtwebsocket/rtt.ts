/**
 * Round-trip time and the bytes-in-flight cap, measured from ack timing the
 * way the reference implementation does (see docs/protocols/rtwebsocket.md,
 * "Outstanding-bytes cap", for the exact rule).
 */

/** The spec's initial ack window, and the least one a receiver honours. */
export const MIN_ACK_WINDOW = 2800;
/** Largest ack window a sender asks for when it starts an RTT measurement. */
export const MAX_REQUESTED_ACK_WINDOW = 11200;

/** Base RTT is the minimum over this many buckets of this length: 5 minutes of history. */
const BUCKET_MS = 60_000;
const BUCKETS = 5;
/** Before any sample: the reference implementation's 100 ms guess. */
const INITIAL_RTT_MS = 100;
/** Floor for a sample, so bandwidth never divides by zero on a loopback. */
const MIN_SAMPLE_MS = 0.1;

export class RttEstimator {
  #smoothed = INITIAL_RTT_MS;
  #base = INITIAL_RTT_MS;
  /** Newest first; at most BUCKETS + 1 entries. */
  #buckets: { start: number; min: number }[] = [];

  /** Exponentially weighted (1/8) mean of samples, ms. */
  get smoothed(): number {
    return this.#smoothed;
  }

  /** Least sample over the last five minutes, ms. */
  get base(): number {
    return this.#base;
  }

  addSample(rtt: number, now: number): void {
    const sample = Math.max(rtt, MIN_SAMPLE_MS);
    this.#smoothed = (this.#smoothed * 7 + sample) / 8;
    this.#record(sample, now);
  }

  /** Forgets the history so a path that got slower is believed at once. */
  restartBase(rtt: number, now: number): void {
    this.#buckets = [];
    this.#record(Math.max(rtt, MIN_SAMPLE_MS), now);
  }

  #record(rtt: number, now: number): void {
    const newest = this.#buckets[0];
    if (newest === undefined || now - newest.start > BUCKET_MS) {
      this.#buckets.unshift({ start: now, min: rtt });
      while (now - this.#buckets[this.#buckets.length - 1]!.start > BUCKET_MS * BUCKETS) this.#buckets.pop();
      this.#base = Math.min(...this.#buckets.map((b) => b.min));
    } else {
      newest.min = Math.min(newest.min, rtt);
      this.#base = Math.min(this.#base, rtt);
    }
  }
}

export interface FlightLimits {
  /** Floor and starting value of the cap, bytes. */
  readonly minOutstanding: number;
  /** Ceiling of the cap, bytes: bounds what can sit in socket buffers. */
  readonly maxOutstanding: number;
  /** Queueing delay the cap allows on top of the base RTT, ms. */
  readonly maxAdditionalDelayMs: number;
}

/**
 * Counts user-data bytes sent and acknowledged across all flows and keeps at
 * most `threshold` of them unacknowledged. One RTT measurement runs at a time:
 * it starts when new data has gone out and ends when the peer has acked all
 * of it.
 */
export class FlightController {
  #sent = 0;
  #acked = 0;
  #threshold: number;
  #anchorTime: number | null = null;
  #anchorPosition = 0;
  #previousPosition = 0;

  constructor(
    readonly rtt: RttEstimator,
    private readonly limits: FlightLimits,
  ) {
    this.#threshold = limits.minOutstanding;
  }

  get bytesInFlight(): number {
    return this.#sent - this.#acked;
  }

  get threshold(): number {
    return this.#threshold;
  }

  get canSend(): boolean {
    return this.bytesInFlight < this.#threshold;
  }

  onSent(bytes: number): void {
    this.#sent += bytes;
  }

  /**
   * Called after a transmission pass. Starts a measurement if none is running
   * and data went out since the last one; answers the ack window to ask the
   * peer for, so acks come often enough to time it.
   */
  startMeasurement(now: number): number | undefined {
    if (this.#anchorTime !== null || this.#sent <= this.#previousPosition) return undefined;
    this.#anchorTime = now;
    this.#anchorPosition = this.#sent;
    const wanted = Math.max(MIN_ACK_WINDOW, this.bytesInFlight / 4);
    return Math.floor(Math.min(wanted, Math.min(MAX_REQUESTED_ACK_WINDOW, this.limits.minOutstanding)));
  }

  onAcked(bytes: number, now: number): void {
    this.#acked += bytes;
    if (this.#anchorTime === null || this.#acked < this.#anchorPosition) return;
    const rtt = Math.max(now - this.#anchorTime, MIN_SAMPLE_MS);
    const sentDuringRound = this.#sent - this.#previousPosition;
    this.#anchorTime = null;
    this.#previousPosition = this.#sent;
    this.rtt.addSample(rtt, now);

    // Only a round that kept close to a full cap in flight says anything about capacity.
    const { minOutstanding, maxOutstanding, maxAdditionalDelayMs } = this.limits;
    if (sentDuringRound < Math.max(2 * MIN_ACK_WINDOW, minOutstanding) - MIN_ACK_WINDOW) return;
    const bytesPerMs = sentDuringRound / rtt;
    const target = bytesPerMs * (this.rtt.base + maxAdditionalDelayMs);
    this.#threshold = Math.floor(Math.min(maxOutstanding, Math.max(minOutstanding, target)));
    if (this.#threshold === minOutstanding) this.rtt.restartBase(rtt, now);
  }
}
