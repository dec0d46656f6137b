/**
 * Newest group first, without tearing a GOP. Each group (one GOP, on a QUIC
 * stream of its own) starts with a keyframe; a decoder or SourceBuffer must
 * get one group's frames after the other, never a late frame of an older
 * group after a newer keyframe: MSE would then drop every frame up to the
 * next keyframe, WebCodecs would decode garbage.
 *
 * The group being played is `current`. A newer group arriving while
 * `current` is still open waits (its frames held) until `current` ends,
 * which normally happens at once: the server finishes a group when it
 * starts the next. If `current` is still open after `graceMs` (its tail stuck
 * behind a loss, or starved because the server sends the newer group first),
 * it is abandoned and the newer group plays. Frames of groups older than
 * the one playing are dropped and their streams cancelled.
 *
 * Pure apart from the timer it is given.
 */

export interface SwitchGroup {
  readonly sequence: number;
  /** Stop receiving this group (STOP_SENDING): nothing more of it is wanted. */
  cancel(): void;
}

export interface GroupSwitchOptions<F> {
  /** A frame to play now; `first` is its group's first frame, the keyframe. */
  deliver(frame: F, first: boolean): void;
  /** Frames thrown away. */
  dropped(count: number, why: string): void;
  readonly graceMs: number;
  /** Runs `run` after `ms`; returns a cancel function. */
  readonly schedule: (run: () => void, ms: number) => () => void;
}

interface Playing<G> {
  readonly group: G;
  delivered: number;
}

interface Waiting<G, F> {
  readonly group: G;
  readonly held: F[];
  ended: boolean;
}

export class GroupSwitch<G extends SwitchGroup, F> {
  private current: Playing<G> | null = null;
  private waiting: Waiting<G, F> | null = null;
  /** Sequence of the newest group that played; older ones are late. */
  private newest = -1;
  private cancelTimer: (() => void) | null = null;

  constructor(private readonly options: GroupSwitchOptions<F>) {}

  get playing(): G | null {
    return this.current?.group ?? null;
  }

  frame(group: G, frame: F): void {
    const current = this.current;
    if (current?.group === group) {
      this.options.deliver(frame, current.delivered++ === 0);
      return;
    }
    const waiting = this.waiting;
    if (waiting?.group === group) {
      waiting.held.push(frame);
      return;
    }
    if (group.sequence <= this.newest || (waiting && group.sequence < waiting.group.sequence)) {
      group.cancel();
      this.options.dropped(1, `late frame of group ${group.sequence}`);
      return;
    }
    if (!current) {
      this.play(group, [frame]);
      return;
    }
    if (waiting) {
      // An even newer group: the one that waited is already stale.
      waiting.group.cancel();
      this.options.dropped(waiting.held.length, `group ${waiting.group.sequence} superseded before it played`);
    }
    this.waiting = { group, held: [frame], ended: false };
    this.cancelTimer ??= this.options.schedule(() => this.graceOver(), this.options.graceMs);
  }

  /** The group's stream ended: finished, reset by the server, or cancelled here. */
  end(group: G): void {
    if (this.current?.group === group) {
      this.current = null;
      this.promote();
    } else if (this.waiting?.group === group) {
      this.waiting.ended = true;
    }
  }

  /** Forget every group (a new timeline, a new subscription): their streams are cancelled. */
  reset(): void {
    this.stopTimer();
    this.current?.group.cancel();
    this.waiting?.group.cancel();
    this.current = null;
    this.waiting = null;
    this.newest = -1;
  }

  private graceOver(): void {
    this.cancelTimer = null;
    const current = this.current;
    if (!current || !this.waiting) return;
    current.group.cancel();
    this.options.dropped(0, `group ${current.group.sequence} abandoned for ${this.waiting.group.sequence}`);
    this.current = null;
    this.promote();
  }

  private promote(): void {
    this.stopTimer();
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = null;
    this.play(waiting.group, waiting.held);
    if (waiting.ended && this.current?.group === waiting.group) this.current = null;
  }

  private play(group: G, frames: readonly F[]): void {
    const playing = { group, delivered: 0 };
    this.current = playing;
    this.newest = group.sequence;
    for (const frame of frames) this.options.deliver(frame, playing.delivered++ === 0);
  }

  private stopTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
  }
}
