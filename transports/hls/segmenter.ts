/**
 * Where parts and segments end, from frames in arrival order. Pure timing:
 * it groups frames and measures durations; muxing them is the caller's job.
 *
 * - A segment ends at the first keyframe once it holds `segmentMinUs` of
 *   media, so every segment (and every part that starts one) is independent.
 * - A part ends at the frame boundary nearest to `partTargetUs`; parts are
 *   cut only before timing frames (video when there is video), and audio
 *   frames go into the part that is open when they arrive.
 * - Durations come from the timing track's dts, taken step by step: a step
 *   that goes backwards or jumps by more than `maxGapUs` (publisher clock
 *   reset) counts as one frame interval, as the fMP4 timeline treats it, so
 *   the playlist and the media agree.
 */

import type { Frame } from '../../src/stream/types.js';

export interface SegmenterOptions {
  readonly hasVideo: boolean;
  readonly partTargetUs: number;
  readonly segmentMinUs: number;
  readonly maxGapUs: number;
}

export interface PartCut {
  readonly video: readonly Frame[];
  readonly audio: readonly Frame[];
  /** On the segmenter's continuous clock (µs). */
  readonly startUs: number;
  /** The timing frame at `startUs`: the one whose receive time dates the part. */
  readonly first: Frame;
  readonly durationUs: number;
  /** Starts with a keyframe (or holds audio only). */
  readonly independent: boolean;
  /** The last part of its segment. */
  readonly endsSegment: boolean;
  /** The first part of its segment. */
  readonly startsSegment: boolean;
}

/** Until two timing frames were seen: a common video frame interval. */
const DEFAULT_STEP_US = 1_000_000 / 30;

interface OpenPart {
  bytes: number;
  video: Frame[];
  audio: Frame[];
  startUs: number;
  first: Frame | undefined;
  independent: boolean;
  startsSegment: boolean;
}

export class Segmenter {
  private open: OpenPart | undefined;
  private segmentStartUs = 0;
  private lastDts: number | undefined;
  private nowUs = 0;
  private stepUs = DEFAULT_STEP_US;

  constructor(private readonly o: SegmenterOptions) {}

  /** Frame bytes in the open part, not yet cut. */
  get openPartBytes(): number {
    return this.open?.bytes ?? 0;
  }

  /** Takes a frame; returns the part it closed, if any. Frames before the first keyframe are ignored. */
  push(frame: Frame): PartCut | undefined {
    const timing = this.o.hasVideo ? frame.kind === 'video' : true;
    if (!timing) {
      if (this.open !== undefined) this.add(this.open, frame);
      return undefined;
    }
    const key = frame.kind === 'audio' || frame.key;
    if (this.open === undefined && !key) return undefined;
    const t = this.advance(frame.dts);
    let cut: PartCut | undefined;
    const open = this.open;
    if (open !== undefined) {
      const half = this.stepUs / 2;
      const endsSegment = key && t - this.segmentStartUs >= this.o.segmentMinUs - half;
      if (endsSegment || t - open.startUs >= this.o.partTargetUs - half) cut = this.close(open, t - open.startUs, endsSegment);
    }
    if (this.open === undefined) this.start(t, key, cut === undefined || cut.endsSegment);
    this.add(this.open!, frame);
    return cut;
  }

  private add(open: OpenPart, frame: Frame): void {
    open.first ??= frame;
    open[frame.kind].push(frame);
    open.bytes += frame.data.byteLength;
  }

  /**
   * Closes what is open, ending its segment: the publisher left, the tracks
   * changed, or the segment grew too large (then frames are ignored up to the
   * next keyframe, which starts the next segment). The last frame is given one
   * frame interval, the best guess without a successor.
   */
  flush(): PartCut | undefined {
    const open = this.open;
    return open === undefined ? undefined : this.close(open, this.nowUs + this.stepUs - open.startUs, true);
  }

  private start(t: number, independent: boolean, startsSegment: boolean): void {
    if (startsSegment) this.segmentStartUs = t;
    this.open = { bytes: 0, video: [], audio: [], startUs: t, first: undefined, independent, startsSegment };
  }

  private close(open: OpenPart, durationUs: number, endsSegment: boolean): PartCut {
    this.open = undefined;
    return { video: open.video, audio: open.audio, startUs: open.startUs, first: open.first!, durationUs, independent: open.independent, endsSegment, startsSegment: open.startsSegment };
  }

  /** Moves the continuous clock to a timing frame's dts and returns it. */
  private advance(dts: number): number {
    if (this.lastDts !== undefined) {
      const step = dts - this.lastDts;
      if (step > 0 && step <= this.o.maxGapUs) {
        this.nowUs += step;
        // A pause in the source (not a clock reset) is not the frame rate.
        if (step <= 1_000_000) this.stepUs = step;
      } else {
        this.nowUs += this.stepUs;
      }
    }
    this.lastDts = dts;
    return this.nowUs;
  }
}
