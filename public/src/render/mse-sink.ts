/**
 * Appends fMP4 segments to a MediaSource on a media element (a `<video>`, or
 * the `<audio>` of the sound-only path): one
 * SourceBuffer per track (or one for a combined stream), each with its own
 * queue, because a SourceBuffer takes one operation at a time and segments
 * arrive faster than some browsers append them.
 *
 * A video track starts at a keyframe and restarts at one whenever segments
 * had to be dropped (queue overflow, buffer full). A full buffer
 * (`QuotaExceededError`) is met by removing what lies behind the playhead and
 * trying once more; old media is trimmed continuously anyway.
 */
import type { MediaSourceApi } from '../browser-apis.js';

export interface TrackSpec {
  /** `video`, `audio`, or `combined`. */
  readonly key: string;
  readonly mime: string;
  readonly init: Uint8Array;
  readonly hasVideo: boolean;
}

export interface SegmentInfo {
  readonly video: boolean;
  readonly keyframe: boolean;
}

export interface MseSinkEvents {
  /** A queue got shorter: flow control may let more in. */
  drained(key: string, queued: number): void;
  /** Segments were thrown away (counted as dropped frames). */
  dropped(count: number, why: string): void;
  /** Something the sink cannot recover from (a codec the browser refuses, a broken SourceBuffer). */
  error(message: string): void;
  /** A track's SourceBuffer finished its last operation and nothing is queued: a caller holding media back may append now. */
  idle?(key: string): void;
}

type Operation =
  | { readonly kind: 'append'; readonly bytes: Uint8Array; readonly video: boolean; readonly init: boolean }
  | { readonly kind: 'remove'; readonly start: number; readonly end: number };

/** Appends waiting beyond this mean the browser is not keeping up: skip to the next keyframe. */
const MAX_QUEUED = 300;
/** Trimming happens in chunks of at least this much, not a sliver every tick. */
const TRIM_SLACK_S = 2;
/** What a full buffer keeps behind the playhead when it must make room. */
const QUOTA_KEEP_BEHIND_S = 1;

class TrackBuffer {
  buffer: SourceBuffer | null = null;
  readonly queue: Operation[];
  needKeyframe: boolean;
  retriedAfterQuota = false;
  /** A remove is running: `buffered` still shows what it is removing. */
  removing = false;

  constructor(readonly spec: TrackSpec) {
    this.queue = [{ kind: 'append', bytes: spec.init, video: false, init: true }];
    this.needKeyframe = spec.hasVideo;
  }

  get mediaQueued(): number {
    let n = 0;
    for (const op of this.queue) if (op.kind === 'append' && !op.init) n++;
    return n;
  }
}

export class MseSink {
  private source: MediaSource | null = null;
  private url: string | null = null;
  private tracks = new Map<string, TrackBuffer>();

  constructor(
    private readonly element: HTMLMediaElement,
    private readonly api: MediaSourceApi,
    private readonly events: MseSinkEvents,
  ) {}

  get configured(): boolean {
    return this.source !== null;
  }

  /** A new MediaSource with these tracks; whatever played before is gone (the caller restarts its timeline). */
  configure(specs: readonly TrackSpec[]): void {
    this.detach();
    const source = this.api.create();
    this.source = source;
    this.tracks = new Map(specs.map((spec) => [spec.key, new TrackBuffer(spec)]));
    // Apple requires it for ManagedMediaSource: AirPlay would need a URL it can fetch, and there is none.
    if (this.api.name === 'ManagedMediaSource') this.element.disableRemotePlayback = true;
    source.addEventListener('sourceopen', () => this.open(source), { once: true });
    this.url = URL.createObjectURL(source);
    this.element.src = this.url;
  }

  append(key: string, bytes: Uint8Array, info: SegmentInfo): void {
    const track = this.tracks.get(key);
    if (!track) return;
    if (track.mediaQueued >= MAX_QUEUED) this.dropQueued(track, 'append queue overflow');
    if (info.video && track.needKeyframe) {
      if (!info.keyframe) {
        this.events.dropped(1, 'waiting for a keyframe');
        return;
      }
      track.needKeyframe = false;
    }
    track.queue.push({ kind: 'append', bytes, video: info.video, init: false });
    this.pump(track);
  }

  queued(key: string): number {
    return this.tracks.get(key)?.mediaQueued ?? 0;
  }

  /** An append now would start at once: the SourceBuffer is open, not updating, and nothing waits before it. */
  idle(key: string): boolean {
    const track = this.tracks.get(key);
    const buffer = track?.buffer;
    return !!track && !!buffer && !buffer.updating && track.queue.length === 0 && this.source?.readyState === 'open';
  }

  /** Remove what lies more than `keepS` behind the playhead, so a long session does not fill the buffer. */
  trimBehind(currentTime: number, keepS: number): void {
    for (const track of this.tracks.values()) {
      const buffer = track.buffer;
      if (!buffer || track.removing || track.queue.some((op) => op.kind === 'remove')) continue;
      const range = firstRange(buffer);
      if (!range) continue;
      const end = currentTime - keepS;
      if (end - range.start > TRIM_SLACK_S) {
        track.queue.push({ kind: 'remove', start: range.start, end });
        this.pump(track);
      }
    }
  }

  close(): void {
    this.detach();
  }

  private open(source: MediaSource): void {
    if (source !== this.source) return;
    for (const track of this.tracks.values()) {
      try {
        const buffer = source.addSourceBuffer(track.spec.mime);
        buffer.addEventListener('updateend', () => this.pump(track));
        buffer.addEventListener('error', () => this.events.error(`SourceBuffer error (${track.spec.mime})`));
        track.buffer = buffer;
      } catch (err) {
        this.events.error(`cannot add a SourceBuffer for ${track.spec.mime}: ${(err as Error).message}`);
        return;
      }
    }
    for (const track of this.tracks.values()) this.pump(track);
  }

  private pump(track: TrackBuffer): void {
    const buffer = track.buffer;
    if (!buffer || buffer.updating || this.source?.readyState !== 'open' || this.tracks.get(track.spec.key) !== track) return;
    track.removing = false;
    const op = track.queue[0];
    if (!op) {
      this.events.idle?.(track.spec.key);
      return;
    }
    try {
      if (op.kind === 'append') buffer.appendBuffer(op.bytes as Uint8Array<ArrayBuffer>);
      else buffer.remove(op.start, op.end);
      track.removing = op.kind === 'remove';
      track.queue.shift();
      if (op.kind === 'append') track.retriedAfterQuota = false;
      this.events.drained(track.spec.key, track.mediaQueued);
    } catch (err) {
      const error = err as Error;
      if (error.name === 'QuotaExceededError' && op.kind === 'append') this.makeRoom(track, buffer);
      else this.events.error(`${op.kind} failed: ${error.name}: ${error.message}`);
    }
  }

  private makeRoom(track: TrackBuffer, buffer: SourceBuffer): void {
    const range = firstRange(buffer);
    const end = this.element.currentTime - QUOTA_KEEP_BEHIND_S;
    if (track.retriedAfterQuota || !range || end <= range.start) {
      // Nothing behind the playhead to free: what is queued cannot fit, start again at a keyframe.
      track.retriedAfterQuota = false;
      this.dropQueued(track, 'SourceBuffer full');
      return;
    }
    track.retriedAfterQuota = true;
    track.queue.unshift({ kind: 'remove', start: range.start, end });
    this.pump(track);
  }

  private dropQueued(track: TrackBuffer, why: string): void {
    const videoFrames = track.queue.filter((op) => op.kind === 'append' && op.video).length;
    const kept = track.queue.filter((op) => op.kind === 'remove' || op.init);
    track.queue.splice(0, track.queue.length, ...kept);
    if (track.spec.hasVideo) track.needKeyframe = true;
    this.events.dropped(videoFrames, why);
    this.events.drained(track.spec.key, track.mediaQueued);
  }

  private detach(): void {
    this.tracks.clear();
    this.source = null;
    if (this.url === null) return;
    URL.revokeObjectURL(this.url);
    this.url = null;
    this.element.removeAttribute('src');
    this.element.load();
  }
}

function firstRange(buffer: SourceBuffer): { start: number; end: number } | null {
  try {
    const ranges = buffer.buffered;
    return ranges.length > 0 ? { start: ranges.start(0), end: ranges.end(ranges.length - 1) } : null;
  } catch {
    // The SourceBuffer left its MediaSource (element error): nothing to trim.
    return null;
  }
}
