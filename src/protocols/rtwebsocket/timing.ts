/**
 * Time and timers, injectable so tests can drive a connection through
 * deadlines, delayed acks and RTT samples without waiting. All times are
 * milliseconds on a monotonic clock.
 */
export interface Timing {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** `performance.now()` and the global timers: present in browsers and in Node alike. */
export const realTiming: Timing = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
};

/** A one-shot timer that is either armed or not, so callers never stack duplicates. */
export class OneShot {
  #handle: unknown = undefined;
  #armed = false;

  constructor(
    private readonly timing: Timing,
    private readonly callback: () => void,
  ) {}

  get armed(): boolean {
    return this.#armed;
  }

  arm(ms: number): void {
    if (this.#armed) return;
    this.#armed = true;
    this.#handle = this.timing.setTimeout(() => {
      this.#armed = false;
      this.callback();
    }, ms);
  }

  cancel(): void {
    if (!this.#armed) return;
    this.#armed = false;
    this.timing.clearTimeout(this.#handle);
  }
}
