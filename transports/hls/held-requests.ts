/**
 * Requests held until what they ask for exists (blocking playlist reload,
 * the preload-hinted part, a playlist before the first segment). Bounded
 * per muxer: past `max` a request is refused at once, so a flood of held
 * requests costs a 503 each and not memory or timers.
 */

export type HoldOutcome = 'ready' | 'timeout' | 'closed';

/** What ends a hold early: the client's response closing (it went away). */
export interface Closable {
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

interface Waiter {
  readonly ready: () => boolean;
  readonly settle: (outcome: HoldOutcome) => void;
}

export class HeldRequests {
  private readonly waiters = new Set<Waiter>();

  constructor(public max: number) {}

  get size(): number {
    return this.waiters.size;
  }

  /**
   * Waits until `ready()` holds, `timeoutMs` passes, or the muxer stops;
   * undefined when `max` requests are held already. A client that goes away
   * frees its place at once.
   */
  hold(ready: () => boolean, timeoutMs: number, client: Closable): Promise<HoldOutcome> | undefined {
    if (this.waiters.size >= this.max) return undefined;
    return new Promise<HoldOutcome>((resolve) => {
      const settle = (outcome: HoldOutcome) => {
        if (!this.waiters.delete(waiter)) return;
        clearTimeout(timer);
        client.off('close', gone);
        resolve(outcome);
      };
      const waiter: Waiter = { ready, settle };
      const gone = () => settle('closed');
      const timer = setTimeout(() => settle('timeout'), timeoutMs);
      this.waiters.add(waiter);
      client.once('close', gone);
    });
  }

  /** Something new exists: releases every request it satisfies. */
  wake(): void {
    for (const waiter of [...this.waiters]) if (waiter.ready()) waiter.settle('ready');
  }

  /** The muxer stopped: nothing held will ever be satisfied. */
  closeAll(): void {
    for (const waiter of [...this.waiters]) waiter.settle('closed');
  }
}
