/**
 * Small writes that can wait a few milliseconds for company. A target is
 * held on its first small write and flushed by its next urgent one (which
 * takes everything held with it), or by this timer when none comes, so a held
 * write waits at most `windowMs`.
 *
 * Audio is the case: 47 frames a second of a few hundred bytes for 48 kHz
 * AAC. Sent alone, each costs a WebSocket viewer a syscall and a WebTransport
 * session a flush of its own, packets and their acknowledgements; held, it
 * leaves with the next video frame (every 33 ms at 30 fps).
 */
export interface Flushable {
  flush(): void;
}

export class FlushCoalescer {
  private held = new Set<Flushable>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly windowMs = 25) {}

  hold(target: Flushable): void {
    this.held.add(target);
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flushAll(), this.windowMs);
    }
  }

  /** The target flushed on its own: the timer need not flush it again. */
  release(target: Flushable): void {
    this.held.delete(target);
  }

  flushAll(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const held = this.held;
    this.held = new Set();
    for (const target of held) target.flush();
  }
}
