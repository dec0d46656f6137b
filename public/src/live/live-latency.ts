/**
 * Keeps an MSE player near the live edge. MSE plays whatever is buffered at
 * rate 1 and never catches up by itself, so every tick this looks at the
 * playhead and the buffered ranges and says what to do:
 *
 * - start at the beginning of what is buffered (decode times are on the
 *   stream's timeline, not at 0, so the element would otherwise wait at 0);
 * - keep about `targetMs` buffered ahead by nudging the playback rate
 *   between 0.95 and 1.1, proportionally to the error (inaudible, no jumps);
 * - jump to the live edge when more than `jumpBehindMs` behind, which no
 *   rate nudge would fix in reasonable time;
 * - where the rate is fixed (WebKit), trim: jump back to the target when
 *   even the least buffered ahead over `trimWindowMs` was more than
 *   `trimMarginMs` above it. At rate 1 the lead a start or a burst left
 *   never shrinks by itself; the window's minimum sees through jitter, so
 *   a late frame followed by a burst does not cause a jump;
 * - skip gaps (frames the server dropped or abandoned, keyframes-only mode)
 *   and unstick a playhead that stopped moving although data is ahead;
 * - after an underflow (the playhead stopped for want of data), aim further
 *   ahead: a network that delivers in bursts needs more than `targetMs`, and
 *   steering back into the same underflow over and over is worse than a
 *   little more latency. The extra decays again while playback runs smoothly.
 *
 * Pure: the caller reads the element and applies the actions.
 */

export interface LiveLatencyOptions {
  readonly targetMs?: number;
  readonly minRate?: number;
  readonly maxRate?: number;
  /** Rate change per second of error. */
  readonly gainPerS?: number;
  /** Errors this small leave the rate at 1: not worth the resampling. */
  readonly deadbandMs?: number;
  readonly jumpBehindMs?: number;
  /** A playhead that has not moved this long with data ahead is stuck. */
  readonly stallMs?: number;
  /** Added to the target at each underflow, up to `maxBoostMs`; taken off again after each `boostDecayMs` without one. */
  readonly stallBoostMs?: number;
  readonly maxBoostMs?: number;
  readonly boostDecayMs?: number;
  /** Trim window (0: never trim); see the class comment. */
  readonly trimWindowMs?: number;
  readonly trimMarginMs?: number;
}

export type BufferedRange = readonly [start: number, end: number];

export interface Playhead {
  /** ms, monotonic. */
  readonly now: number;
  /** s, media timeline. */
  readonly currentTime: number;
  readonly ranges: readonly BufferedRange[];
  readonly paused: boolean;
  readonly seeking: boolean;
}

export type LiveAction =
  | { readonly kind: 'seek'; readonly to: number; readonly why: 'start' | 'behind' | 'gap' | 'stall' }
  | { readonly kind: 'rate'; readonly rate: number }
  | { readonly kind: 'play' };

/** A playhead this close to a range counts as inside it: frame boundaries do not line up exactly. */
const RANGE_TOLERANCE_S = 0.05;

export class LiveLatencyController {
  private readonly baseTargetS: number;
  private readonly minRate: number;
  private readonly maxRate: number;
  private readonly gainPerS: number;
  private readonly deadbandS: number;
  private readonly jumpBehindS: number;
  private readonly stallMs: number;
  private readonly stallBoostS: number;
  private readonly maxBoostS: number;
  private readonly boostDecayMs: number;
  private started = false;
  private lastTime = Number.NaN;
  private lastProgressAt = 0;
  private boostS = 0;
  private stalled = false;
  private smoothSince = 0;
  private readonly trimWindowMs: number;
  private readonly trimMarginS: number;
  private trimWindowStart = Number.NaN;
  private trimWindowMin = Infinity;

  constructor(options: LiveLatencyOptions = {}) {
    this.baseTargetS = (options.targetMs ?? 100) / 1000;
    this.minRate = options.minRate ?? 0.95;
    this.maxRate = options.maxRate ?? 1.1;
    this.gainPerS = options.gainPerS ?? 0.5;
    this.deadbandS = (options.deadbandMs ?? 20) / 1000;
    this.jumpBehindS = (options.jumpBehindMs ?? 1000) / 1000;
    this.stallMs = options.stallMs ?? 500;
    this.stallBoostS = (options.stallBoostMs ?? 50) / 1000;
    this.maxBoostS = (options.maxBoostMs ?? 400) / 1000;
    this.boostDecayMs = options.boostDecayMs ?? 10_000;
    this.trimWindowMs = options.trimWindowMs ?? 0;
    this.trimMarginS = (options.trimMarginMs ?? 50) / 1000;
  }

  /** Seconds to keep ahead now: the configured target plus what underflows added. */
  get targetS(): number {
    return this.baseTargetS + this.boostS;
  }

  /** A new timeline (the MediaSource was rebuilt): start over. */
  reset(): void {
    this.started = false;
    this.lastTime = Number.NaN;
    this.trimWindowStart = Number.NaN;
  }

  /** Seconds buffered ahead of the playhead up to the live edge, or null with nothing buffered. */
  static bufferAhead(p: Pick<Playhead, 'currentTime' | 'ranges'>): number | null {
    const last = p.ranges[p.ranges.length - 1];
    return last === undefined ? null : Math.max(0, last[1] - p.currentTime);
  }

  /** The rate that steers `aheadS` toward the target. */
  rateFor(aheadS: number): number {
    const error = aheadS - this.targetS;
    if (Math.abs(error) <= this.deadbandS) return 1;
    return Math.min(this.maxRate, Math.max(this.minRate, 1 + this.gainPerS * error));
  }

  update(p: Playhead): LiveAction[] {
    const last = p.ranges[p.ranges.length - 1];
    if (last === undefined) return [];
    const edge = last[1];
    if (!this.started) {
      this.started = true;
      return this.seek(p, p.ranges[0]![0], 'start');
    }
    if (p.seeking) {
      this.lastProgressAt = p.now;
      return [];
    }
    this.trackUnderflow(p);
    const ahead = edge - p.currentTime;
    if (ahead > this.jumpBehindS) return this.seek(p, edge - this.targetS, 'behind');

    const inside = p.ranges.some(([start, end]) => p.currentTime >= start - RANGE_TOLERANCE_S && p.currentTime <= end + RANGE_TOLERANCE_S);
    const next = p.ranges.find(([start]) => start > p.currentTime + RANGE_TOLERANCE_S);
    if (!inside && next) return this.seek(p, next[0], 'gap');
    const stuck = p.now - this.lastProgressAt > this.stallMs;
    if (stuck && next) return this.seek(p, next[0], 'gap');
    if (stuck && !p.paused && ahead > this.targetS + RANGE_TOLERANCE_S) return this.seek(p, edge - this.targetS, 'stall');
    if (this.trimDue(p.now, ahead)) return this.seek(p, edge - this.targetS, 'behind');

    const actions: LiveAction[] = [{ kind: 'rate', rate: this.rateFor(ahead) }];
    if (p.paused) actions.push({ kind: 'play' });
    return actions;
  }

  /** Tumbling windows of `trimWindowMs`: true at the end of one in which the lead never came down to the target. */
  private trimDue(now: number, aheadS: number): boolean {
    if (this.trimWindowMs <= 0) return false;
    if (Number.isNaN(this.trimWindowStart)) {
      this.trimWindowStart = now;
      this.trimWindowMin = aheadS;
      return false;
    }
    this.trimWindowMin = Math.min(this.trimWindowMin, aheadS);
    if (now - this.trimWindowStart < this.trimWindowMs) return false;
    const due = this.trimWindowMin > this.targetS + this.trimMarginS;
    this.trimWindowStart = now;
    this.trimWindowMin = aheadS;
    return due;
  }

  /** One underflow is one playhead standstill while playing, however long it lasts. */
  private trackUnderflow(p: Playhead): void {
    if (p.currentTime !== this.lastTime) {
      this.lastTime = p.currentTime;
      this.lastProgressAt = p.now;
      if (this.stalled) {
        this.stalled = false;
        this.smoothSince = p.now;
      }
      if (this.boostS > 0 && p.now - this.smoothSince >= this.boostDecayMs) {
        this.boostS = Math.max(0, this.boostS - this.stallBoostS);
        this.smoothSince = p.now;
      }
    } else if (!p.paused && !this.stalled) {
      this.stalled = true;
      this.boostS = Math.min(this.maxBoostS, this.boostS + this.stallBoostS);
    }
  }

  private seek(p: Playhead, to: number, why: 'start' | 'behind' | 'gap' | 'stall'): LiveAction[] {
    // The playhead waits at `to` while the element prerolls: that is not an underflow.
    this.lastTime = Number.NaN;
    this.lastProgressAt = p.now;
    this.trimWindowStart = Number.NaN;
    const actions: LiveAction[] = [{ kind: 'seek', to, why }, { kind: 'rate', rate: 1 }];
    if (p.paused) actions.push({ kind: 'play' });
    return actions;
  }
}
