/**
 * Audio frames are small and frequent (47 a second for 48 kHz AAC); sent
 * alone, each costs a syscall per viewer. A viewer's socket is corked on its
 * first audio frame and uncorked by the next video frame, or by this timer
 * when no video comes (audio-only streams, video paused), so audio waits at
 * most `windowMs`.
 */
export interface Flushable {
  flush(): void;
}

export class AudioCoalescer {
  private held = new Set<Flushable>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly windowMs = 25) {}

  hold(target: Flushable): void {
    this.held.add(target);
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flushAll(), this.windowMs);
    }
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
