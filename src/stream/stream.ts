import { framingError } from './frame-framing.js';
import { GopCache } from './gop-cache.js';
import type { Reader } from './reader.js';
import { decoderConfigOf, type Frame, type StreamDescription, type TrackInfo } from './types.js';

/**
 * How long audio may wait for the next video frame on its way to readers
 * that let it (`ReaderSink.audioRidesWithVideo`). At 30 fps a video frame
 * comes every 33 ms and an AAC frame every 21 ms, so most audio leaves with
 * video and the rest within this bound; timestamps are not touched.
 */
export const AUDIO_HOLD_MS = 25;

export interface StreamStats {
  framesIn: number;
  bytesIn: number;
  /** Frames whose bytes were not framed as their track says (see frame-framing.ts): dropped before any reader. */
  framesRefused: number;
}

/**
 * The live media of one publish session on a path: its tracks, its GOP cache,
 * and fan-out to the path's readers. Knows nothing of where frames come from
 * or where they go.
 */
export class Stream {
  readonly stats: StreamStats = { framesIn: 0, bytesIn: 0, framesRefused: 0 };
  readonly startedAt = Date.now();
  /** When media started flowing (ms since epoch), for the API's availableTime. */
  readyAt: number | undefined;
  private desc: StreamDescription;
  private readonly gop = new GopCache();
  private readonly readers = new Set<Reader>();
  private ended = false;
  /** Readers hear of the tracks only once media flows: publishers send every track's configuration before the first frame, so one description covers them all. */
  private flowing = false;
  /** Readers whose audio rides with video, and the audio frames waiting for their next video frame. */
  private riders = 0;
  private heldAudio: Frame[] = [];
  private holdTimer: NodeJS.Timeout | undefined;
  private readonly releaseAudio = (): void => {
    this.deliverHeld(undefined);
  };

  constructor(
    readonly path: string,
    /** Told of each frame dropped for its framing, and why (the path logs it for the publisher). */
    private readonly refused: (reason: string) => void = () => undefined,
  ) {
    this.desc = { path };
  }

  get description(): StreamDescription {
    return this.desc;
  }

  /** True once tracks are known and media flows: readers have been described. */
  get ready(): boolean {
    return this.flowing;
  }

  get readerCount(): number {
    return this.readers.size;
  }

  get gopFrames(): number {
    return this.gop.size;
  }

  /** The newest video keyframe, where a reader joining now would start decoding. */
  get keyframe(): Frame | undefined {
    return this.gop.keyframe;
  }

  /** A track appeared or its configuration changed: every reader hears of it before the next frame. */
  setTrack(track: TrackInfo): void {
    if (this.ended) return;
    const previous = track.kind === 'video' ? this.desc.video : this.desc.audio;
    if (previous !== undefined && sameConfig(previous, track)) return;
    // Held audio was coded against the description its readers have.
    this.deliverHeld(undefined);
    this.desc = track.kind === 'video' ? { ...this.desc, video: track } : { ...this.desc, audio: track };
    // Cached frames were coded against the old configuration.
    if (track.kind === 'video') this.gop.clear();
    if (this.flowing) for (const reader of this.readers) reader.describe(this.desc);
  }

  /** Fans a frame out; returns true when this frame made the stream ready (its first). */
  write(frame: Frame): boolean {
    if (this.ended) return false;
    const first = !this.flowing;
    // Frames of a track the publisher never described cannot be decoded by anyone.
    const track = frame.kind === 'video' ? this.desc.video : this.desc.audio;
    if (track === undefined) return false;
    const problem = framingError(track, frame.data);
    if (problem !== undefined) {
      this.stats.framesRefused++;
      this.refused(`${frame.kind} frame at ${Math.round(frame.dts / 1000)} ms dropped: ${problem}`);
      return false;
    }
    if (!this.flowing) {
      this.flowing = true;
      this.readyAt = Date.now();
      for (const reader of this.readers) reader.describe(this.desc);
    }
    this.stats.framesIn++;
    this.stats.bytesIn += frame.data.byteLength;
    if (this.desc.video !== undefined) this.gop.add(frame);
    if (this.riders === 0) {
      for (const reader of this.readers) reader.push(frame);
    } else if (frame.kind === 'audio') {
      if (this.heldAudio.length === 0) this.holdTimer = setTimeout(this.releaseAudio, AUDIO_HOLD_MS).unref();
      this.heldAudio.push(frame);
      if (this.riders < this.readers.size) for (const reader of this.readers) if (!reader.audioRidesWithVideo) reader.push(frame);
    } else if (this.heldAudio.length > 0) {
      this.deliverHeld(frame);
    } else {
      for (const reader of this.readers) reader.push(frame);
    }
    return first && this.flowing;
  }

  /**
   * The held audio goes to the readers that waited for it, as one burst with
   * `video` when that is what ended the wait; `video` goes to the others.
   */
  private deliverHeld(video: Frame | undefined): void {
    const burst = this.heldAudio;
    if (burst.length === 0) return;
    this.heldAudio = [];
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    if (video !== undefined) burst.push(video);
    for (const reader of this.readers) {
      if (reader.audioRidesWithVideo) reader.pushBurst(burst);
      else if (video !== undefined) reader.push(video);
    }
  }

  /** Attach a reader: it is described and starts at the newest cached keyframe. */
  attach(reader: Reader): void {
    if (this.ended || this.readers.has(reader)) return;
    // The GOP cache already holds the held audio: the newcomer must not get it twice.
    this.deliverHeld(undefined);
    this.readers.add(reader);
    if (reader.audioRidesWithVideo) this.riders++;
    if (!this.ready) return;
    reader.describe(this.desc);
    reader.pushBurst(this.gop.snapshot());
  }

  detach(reader: Reader): void {
    if (this.readers.delete(reader) && reader.audioRidesWithVideo) this.riders--;
  }

  /** The publisher is gone: readers learn at once and stay on the path for the next one. */
  end(reason: string): Reader[] {
    if (this.ended) return [];
    this.deliverHeld(undefined);
    this.ended = true;
    this.gop.clear();
    const readers = [...this.readers];
    this.readers.clear();
    this.riders = 0;
    for (const reader of readers) reader.offline(reason);
    return readers;
  }
}

function sameConfig(a: TrackInfo, b: TrackInfo): boolean {
  if (a.codec !== b.codec) return false;
  // A VP9 record does not hold the picture size, so a new size with the same record is a new configuration.
  if (a.kind === 'video' && b.kind === 'video' && (a.width !== b.width || a.height !== b.height)) return false;
  const x = decoderConfigOf(a);
  const y = decoderConfigOf(b);
  if (x.byteLength !== y.byteLength) return false;
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  return true;
}
