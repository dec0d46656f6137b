/**
 * Connections that have bytes to send, flushed together in one microtask
 * once the current turn's synchronous work is done. A frame fanned out to N
 * sessions queued N microtasks (and N closures) before; now it queues one,
 * and the packets of all N flushes leave in the batch the output sends after.
 */
export interface QueuedFlush {
  /** Flushes; must not throw (a connection's own failure stays with it). */
  runQueuedFlush(): void;
}

export class FlushQueue {
  private pending: QueuedFlush[] = [];
  private queued = false;
  private readonly run = (): void => {
    this.queued = false;
    const list = this.pending;
    this.pending = [];
    for (const c of list) c.runQueuedFlush();
  };

  add(c: QueuedFlush): void {
    this.pending.push(c);
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(this.run);
  }
}
