/**
 * Maps publisher timestamps (µs) onto one output session's media timelines.
 *
 * - Decode times are `usToTicks(dts - origin)`: each comes from the absolute
 *   timestamp, so hours of one-frame fragments cannot drift.
 * - The origin is shared by all tracks, so audio and video stay in step.
 * - Decode times never go negative or backwards. A frame whose dts (after the
 *   origin) is not after its track's previous frame, or more than `maxGapUs`
 *   after it, is a discontinuity (publisher restart, encoder reset, timestamp
 *   wrap): the origin is moved so that this frame starts exactly where the
 *   furthest track has ended. Because the origin is shared, the other track's
 *   next frame lands next to it rather than causing a second jump, and a long
 *   pause on both tracks is collapsed instead of stalling players. The one
 *   exception is a track's first frame landing shortly before the origin (the
 *   second track of a young session): the origin moves back to that frame, so
 *   the tracks keep their relative timing.
 * - Live, a fragment's last sample has no successor yet, so its duration is a
 *   guess: audio uses `samplesPerFrame`, which is exact for AAC; video repeats
 *   the last observed frame delta (1/30 s before any was seen). If the next
 *   frame comes sooner, its decode time still follows its own dts; the short
 *   overlap is harmless because MSE and demuxers order samples by decode time.
 */

import type { Frame, TrackKind } from '../../stream/types.js';
import { ticksToUsCeil, usToTicks } from './timescale.js';

export const DEFAULT_MAX_GAP_US = 10_000_000;

/** Guess for a video sample's duration before two frames have been seen. */
const DEFAULT_VIDEO_FRAME_US = 1_000_000 / 30;

/**
 * FLV carries milliseconds, so consecutive AAC timestamps jitter by up to a
 * millisecond around the true 1024-sample grid. Writing that jitter would make
 * frames overlap or leave gaps, which MSE resolves by trimming audio (audible
 * clicks). A timestamp within 1/8 of a frame of where the previous frame ended
 * is taken to be that point; the error stays bounded by this tolerance, so it
 * cannot accumulate into drift.
 */
const AUDIO_SNAP_FRACTION = 1 / 8;

/**
 * A step between two placed samples longer than this is a gap, not a frame
 * interval, and does not become the duration guessed for the next sample.
 * Gaps happen without any discontinuity in the source: a writer shared by
 * all viewers (ws-fmp4, wt-fmp4) muxes only frames somebody reads, so after
 * a few seconds without viewers its next frame is seconds after the last.
 * Taking that step as the frame rate gave the next viewer's first keyframe a
 * duration of seconds, which Firefox honours: its playhead jumped to the end
 * of that one frame and waited there for the stream to catch up.
 */
const MAX_FRAME_INTERVAL_US = 1_000_000;

export interface TrackClockSpec {
  readonly kind: TrackKind;
  readonly timescale: number;
  /** Exact duration of every sample in ticks, when the codec fixes it (AAC). */
  readonly fixedDuration?: number;
}

/** One sample's timing in its track's timescale. */
export interface PlacedSample {
  readonly decodeTime: number;
  readonly duration: number;
  /** pts − dts in ticks; negative when a frame is shown before it is decoded. */
  readonly compositionOffset: number;
}

interface TrackClock {
  readonly spec: TrackClockSpec;
  readonly snapTolerance: number;
  /** Publisher dts relative to the origin of the last placed sample. */
  lastRelUs: number | undefined;
  /** Decode time written for the last placed sample. */
  lastDecode: number | undefined;
  /** Duration assumed for the last placed sample until its successor arrives. */
  lastDuration: number;
  /** Most recent decode-time step between two samples that were not split by a discontinuity. */
  observedDelta: number | undefined;
}

export interface TimelineOptions {
  /** Publisher time (µs) that maps to decode time 0; defaults to the first frame's dts. */
  readonly originUs?: number;
  /** Largest forward dts step still treated as continuous. */
  readonly maxGapUs?: number;
}

export class SessionTimeline {
  private origin: number | undefined;
  private readonly maxGapUs: number;
  private readonly clocks = new Map<TrackKind, TrackClock>();

  constructor(tracks: readonly TrackClockSpec[], options: TimelineOptions = {}) {
    this.origin = options.originUs;
    this.maxGapUs = options.maxGapUs ?? DEFAULT_MAX_GAP_US;
    for (const spec of tracks) {
      this.clocks.set(spec.kind, {
        spec,
        snapTolerance: Math.floor((spec.fixedDuration ?? 0) * AUDIO_SNAP_FRACTION),
        lastRelUs: undefined,
        lastDecode: undefined,
        lastDuration: 0,
        observedDelta: undefined,
      });
    }
  }

  get originUs(): number | undefined {
    return this.origin;
  }

  has(kind: TrackKind): boolean {
    return this.clocks.has(kind);
  }

  /** Timing for consecutive frames of one track; advances that track's state. */
  place(kind: TrackKind, frames: readonly Frame[]): PlacedSample[] {
    const clock = this.clocks.get(kind);
    if (clock === undefined) throw new RangeError(`no ${kind} track in this session`);
    const { timescale } = clock.spec;

    const decodes: number[] = [];
    const offsets: number[] = [];
    for (const frame of frames) {
      const jumped = this.resolveOrigin(clock, frame.dts);
      const origin = this.origin as number;
      decodes.push(this.advance(clock, frame.dts - origin, jumped));
      offsets.push(usToTicks(frame.pts - origin, timescale) - usToTicks(frame.dts - origin, timescale));
    }

    const placed: PlacedSample[] = [];
    for (let i = 0; i < decodes.length; i++) {
      const decode = decodes[i] as number;
      const next = decodes[i + 1];
      placed.push({
        decodeTime: decode,
        duration: next !== undefined ? next - decode : clock.lastDuration,
        compositionOffset: offsets[i] as number,
      });
    }
    return placed;
  }

  /**
   * Sets the origin for a frame of this track, moving it if the frame is a
   * discontinuity; returns whether it moved. Positions already written are
   * output times and stay valid, so each track's last position is compared
   * with the frame's position under the current origin.
   */
  private resolveOrigin(clock: TrackClock, dts: number): boolean {
    if (this.origin === undefined) {
      this.origin = dts;
      return false;
    }
    const rel = dts - this.origin;
    const last = clock.lastRelUs;
    if (last === undefined) {
      // A track's first frame slightly before the origin (audio and video rarely
      // start together): start the timeline at it, which keeps the tracks in sync
      // and only delays the other track's next frame by the difference.
      if (rel >= 0) return false;
      if (-rel <= this.maxGapUs && this.sessionEndUs() <= this.maxGapUs) {
        this.origin = dts;
        return true;
      }
    } else if (rel > last && rel - last <= this.maxGapUs) {
      return false;
    }
    this.origin = dts - this.sessionEndUs();
    return true;
  }

  /** Where the furthest track's last written sample ends, in µs after the origin. */
  private sessionEndUs(): number {
    let end = 0;
    for (const c of this.clocks.values()) {
      if (c.lastDecode === undefined) continue;
      end = Math.max(end, ticksToUsCeil(c.lastDecode + c.lastDuration, c.spec.timescale));
    }
    return end;
  }

  /** Decode time for the next sample at `relUs` after the origin; records it as the track's last. */
  private advance(clock: TrackClock, relUs: number, jumped: boolean): number {
    const { fixedDuration, timescale } = clock.spec;
    let decode = usToTicks(relUs, timescale);
    const prev = clock.lastDecode;
    if (prev !== undefined) {
      if (fixedDuration !== undefined && Math.abs(decode - (prev + fixedDuration)) <= clock.snapTolerance) {
        decode = prev + fixedDuration;
      }
      // Distinct µs can share a tick; decode times must still strictly increase.
      if (decode <= prev) decode = prev + 1;
      // The step across a jump or a gap is not a frame interval.
      if (!jumped && decode - prev <= usToTicks(MAX_FRAME_INTERVAL_US, timescale)) clock.observedDelta = decode - prev;
    }
    clock.lastRelUs = relUs;
    clock.lastDecode = decode;
    clock.lastDuration = fixedDuration ?? clock.observedDelta ?? usToTicks(DEFAULT_VIDEO_FRAME_US, timescale);
    return decode;
  }
}
