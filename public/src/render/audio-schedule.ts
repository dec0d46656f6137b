/**
 * Decides when each decoded audio frame plays on the AudioContext clock.
 * Frames are placed by PTS relative to an anchor (the first frame, played
 * `leadS` from now), back to back. A frame that would start more than
 * `maxLateS` behind its ideal time is dropped: catching up by playing it
 * would add that delay to every frame after it, forever. Drops shrink the
 * lag by one frame each, so a backlog drains by itself.
 *
 * The anchor is dropped and re-taken when the timeline stops making sense:
 * a PTS gap or jump (publisher paused or restarted), audio scheduled too far
 * ahead (the publisher's clock runs faster than the sound card's), or frames
 * that keep arriving late (the other way round).
 */

export interface AudioScheduleOptions {
  readonly leadS?: number;
  readonly maxLateS?: number;
  readonly maxAheadS?: number;
  readonly gapS?: number;
  /** Late drops lasting this long (wall time) mean the anchor itself is stale. */
  readonly lateStreakS?: number;
}

export type Placement =
  | { readonly play: true; readonly at: number; readonly anchored: boolean }
  | { readonly play: false };

export class AudioSchedule {
  private readonly leadS: number;
  private readonly maxLateS: number;
  private readonly maxAheadS: number;
  private readonly gapS: number;
  private readonly lateStreakS: number;
  private anchor: { readonly atS: number; readonly ptsUs: number } | null = null;
  /** Context time where the last scheduled frame ends. */
  private cursorS = 0;
  private expectedPtsUs: number | null = null;
  private lateSinceS: number | null = null;

  constructor(options: AudioScheduleOptions = {}) {
    this.leadS = options.leadS ?? 0.05;
    this.maxLateS = options.maxLateS ?? 0.1;
    this.maxAheadS = options.maxAheadS ?? 0.3;
    this.gapS = options.gapS ?? 0.5;
    this.lateStreakS = options.lateStreakS ?? 0.3;
  }

  reanchor(): void {
    this.anchor = null;
    this.expectedPtsUs = null;
    this.lateSinceS = null;
  }

  place(ptsUs: number, durationS: number, nowS: number): Placement {
    if (this.anchor && this.expectedPtsUs !== null && Math.abs(ptsUs - this.expectedPtsUs) > this.gapS * 1e6) {
      this.anchor = null;
    }
    if (this.anchor && this.lateSinceS !== null && nowS - this.lateSinceS >= this.lateStreakS) {
      this.anchor = null;
    }
    if (this.anchor && this.idealTime(ptsUs) - nowS > this.leadS + this.maxAheadS) {
      this.anchor = null;
    }
    this.expectedPtsUs = ptsUs + durationS * 1e6;

    let anchored = false;
    if (this.anchor === null) {
      this.anchor = { atS: nowS + this.leadS, ptsUs };
      this.cursorS = this.anchor.atS;
      this.lateSinceS = null;
      anchored = true;
    }
    const ideal = this.idealTime(ptsUs);
    const at = Math.max(ideal, this.cursorS, nowS);
    if (at - ideal > this.maxLateS) {
      this.lateSinceS ??= nowS;
      return { play: false };
    }
    this.lateSinceS = null;
    this.cursorS = at + durationS;
    return { play: true, at, anchored };
  }

  private idealTime(ptsUs: number): number {
    return this.anchor!.atS + (ptsUs - this.anchor!.ptsUs) / 1e6;
  }
}
