/**
 * Media segments (`moof` + `mdat`, ISO/IEC 14496-12 §8.8) for one output session.
 *
 * A fragment may hold a single frame: nothing waits for a keyframe, so the
 * latency added by muxing is zero frames. Each session needs its own writer
 * because sequence numbers and decode times are relative to when it started.
 */

import type { Frame, TrackKind } from '../../stream/types.js';
import { box, fields, fullBox, raw, serialize, type Chunk } from './boxes.js';
import { SessionTimeline, type PlacedSample, type TimelineOptions, type TrackClockSpec } from './timeline.js';
import { timescaleOf, trackId, type MuxTracks } from './tracks.js';

/** tfhd: data offsets count from this moof's first byte, whatever precedes it in the stream. */
const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;

const TRUN_DATA_OFFSET = 0x000001;
const TRUN_SAMPLE_DURATION = 0x000100;
const TRUN_SAMPLE_SIZE = 0x000200;
const TRUN_SAMPLE_FLAGS = 0x000400;
const TRUN_COMPOSITION_OFFSET = 0x000800;

/**
 * Sample flags (14496-12 §8.8.3.1). A sync sample declares sample_depends_on = 2
 * (independent); other video samples declare sample_depends_on = 1 and
 * is_non_sync_sample, which is what MSE uses to find random access points.
 */
const FLAGS_SYNC = 2 << 24;
const FLAGS_NON_SYNC = (1 << 24) | (1 << 16);

/** trun v1 bytes per sample: duration, size, flags, and optionally the composition offset. */
const TRUN_SAMPLE_BYTES_NO_CTO = 12;
const TRUN_SAMPLE_BYTES_CTO = 16;

/** The session's tracks plus its timing options (see `timeline.ts`). */
export type FragmentWriterOptions = MuxTracks & TimelineOptions;

export interface FragmentEntry {
  readonly kind: TrackKind;
  readonly frames: readonly Frame[];
}

interface TrackRun {
  readonly kind: TrackKind;
  readonly frames: readonly Frame[];
  readonly samples: readonly PlacedSample[];
  /** Where this run's data starts inside the mdat payload. */
  readonly mdatOffset: number;
}

function sampleFlags(kind: TrackKind, frame: Frame): number {
  return kind === 'audio' || frame.key ? FLAGS_SYNC : FLAGS_NON_SYNC;
}

/**
 * `trun` version 1, so composition offsets are signed: with B-frames a frame is
 * often presented before the decode time of a later one, and a decode timeline
 * that starts at 0 then needs negative offsets rather than an edit list.
 * Offsets are omitted when all are zero (audio, streams without B-frames).
 */
function trun(run: TrackRun, dataOffset: () => number): Chunk {
  const withCto = run.samples.some((s) => s.compositionOffset !== 0);
  const perSample = withCto ? TRUN_SAMPLE_BYTES_CTO : TRUN_SAMPLE_BYTES_NO_CTO;
  const flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE | TRUN_SAMPLE_FLAGS
    | (withCto ? TRUN_COMPOSITION_OFFSET : 0);
  return fullBox('trun', 1, flags, [
    fields(8 + perSample * run.samples.length, (w) => {
      w.u32(run.samples.length);
      w.i32(dataOffset());
      run.samples.forEach((s, i) => {
        const frame = run.frames[i] as Frame;
        w.u32(s.duration);
        w.u32(frame.data.byteLength);
        w.u32(sampleFlags(run.kind, frame));
        if (withCto) w.i32(s.compositionOffset);
      });
    }),
  ]);
}

function traf(run: TrackRun, dataOffset: () => number): Chunk {
  const first = run.samples[0] as PlacedSample;
  return box('traf', [
    fullBox('tfhd', 0, TFHD_DEFAULT_BASE_IS_MOOF, [fields(4, (w) => w.u32(trackId(run.kind)))]),
    fullBox('tfdt', 1, 0, [fields(8, (w) => w.u64(first.decodeTime))]),
    trun(run, dataOffset),
  ]);
}

function clockSpecs(tracks: MuxTracks): TrackClockSpec[] {
  const specs: TrackClockSpec[] = [];
  if (tracks.video) specs.push({ kind: 'video', timescale: timescaleOf(tracks.video) });
  if (tracks.audio) {
    // Opus packets may last 2.5 to 120 ms each, so there is no fixed duration: its samples take their
    // durations from the timestamps, which FLV's milliseconds state exactly for every frame size
    // encoders use over RTMP (10, 20, 40, 60 ms).
    const fixedDuration = tracks.audio.codec === 'aac' ? tracks.audio.samplesPerFrame : undefined;
    specs.push({ kind: 'audio', timescale: timescaleOf(tracks.audio), ...(fixedDuration === undefined ? {} : { fixedDuration }) });
  }
  return specs;
}

export class FragmentWriter {
  private readonly timeline: SessionTimeline;
  private sequence = 0;

  constructor(options: FragmentWriterOptions) {
    const specs = clockSpecs(options);
    if (specs.length === 0) throw new RangeError('a fragment writer needs at least one track');
    this.timeline = new SessionTimeline(specs, options);
  }

  /** Sequence number of the last fragment written (0 before the first). */
  get sequenceNumber(): number {
    return this.sequence;
  }

  /** Publisher time (µs) currently mapped to decode time 0; moves on discontinuities. */
  get originUs(): number | undefined {
    return this.timeline.originUs;
  }

  /** One `moof` + `mdat` carrying consecutive frames of one track. */
  fragment(kind: TrackKind, frames: readonly Frame[]): Uint8Array {
    return this.fragmentMulti([{ kind, frames }]);
  }

  /** One `moof` with a `traf` per entry (at most one per track) and a shared `mdat`. */
  fragmentMulti(entries: readonly FragmentEntry[]): Uint8Array {
    this.validate(entries);

    const runs: TrackRun[] = [];
    let mdatPayload = 0;
    for (const { kind, frames } of entries) {
      runs.push({ kind, frames, samples: this.timeline.place(kind, frames), mdatOffset: mdatPayload });
      for (const f of frames) mdatPayload += f.data.byteLength;
    }

    const mdatChunks: Chunk[] = [];
    for (const run of runs) for (const f of run.frames) mdatChunks.push(raw(f.data));
    const mdat = box('mdat', mdatChunks);
    const mdatHeader = mdat.size - mdatPayload;

    this.sequence += 1;
    const sequence = this.sequence;
    // trun offsets depend on the moof's own size, known only once the moof is built;
    // reading it lazily at write time avoids building the tree twice.
    let moofSize = 0;
    const moof = box('moof', [
      fullBox('mfhd', 0, 0, [fields(4, (w) => w.u32(sequence))]),
      ...runs.map((run) => traf(run, () => moofSize + mdatHeader + run.mdatOffset)),
    ]);
    moofSize = moof.size;
    return serialize([moof, mdat]);
  }

  /** Rejects bad input before any track state moves, so a failed call changes nothing. */
  private validate(entries: readonly FragmentEntry[]): void {
    if (entries.length === 0) throw new RangeError('a fragment needs at least one track');
    const seen = new Set<TrackKind>();
    for (const { kind, frames } of entries) {
      if (!this.timeline.has(kind)) throw new RangeError(`no ${kind} track in this session`);
      if (seen.has(kind)) throw new RangeError(`${kind} appears twice in one fragment`);
      seen.add(kind);
      if (frames.length === 0) throw new RangeError(`empty ${kind} run`);
      for (const f of frames) {
        if (f.kind !== kind) throw new RangeError(`${f.kind} frame in a ${kind} run`);
        if (!Number.isFinite(f.dts) || !Number.isFinite(f.pts)) throw new RangeError('frame timestamps must be finite');
      }
    }
  }
}
