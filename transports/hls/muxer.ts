/**
 * One path's HLS: a reader of the path whose frames become parts and
 * segments in memory, and the playlists that list them. It outlives
 * publishers: a publisher restart (or a change of tracks) continues the same
 * media sequence after an `EXT-X-DISCONTINUITY` with a new init segment, so
 * players keep playing instead of meeting a 404.
 */

import type { Logger } from 'pino';
import { createInitSegment, DEFAULT_MAX_GAP_US, FragmentWriter, type FragmentEntry } from '../../src/mux/fmp4/index.js';
import type { Path } from '../../src/stream/path.js';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import type { Frame, StreamDescription } from '../../src/stream/types.js';
import { advancePartLimit } from './blocking-rules.js';
import { HeldRequests } from './held-requests.js';
import { MediaWindow, type StoredSegment } from './media-window.js';
import { initName, partName, playlistName, segmentName } from './names.js';
import { renderMediaPlaylist, renderMultivariantPlaylist, type ListedSegment } from './playlist.js';
import { Segmenter, type PartCut } from './segmenter.js';

export interface MuxerSettings {
  readonly lowLatency: boolean;
  readonly segmentCount: number;
  readonly segmentDurationMs: number;
  readonly partDurationMs: number;
  readonly segmentMaxSize: number;
  readonly maxHeld: number;
}

export interface HlsMuxerOptions {
  readonly path: Path;
  readonly id: string;
  readonly settings: MuxerSettings;
  readonly queueSize: number;
  readonly log: Logger;
}

/** What one stream description muxes with. */
interface Generation {
  readonly n: number;
  readonly description: StreamDescription;
  readonly writer: FragmentWriter;
  readonly segmenter: Segmenter;
  /** Wall clock (ms) at segmenter time 0, for `EXT-X-PROGRAM-DATE-TIME`: the earliest offset seen at a segment start (see `take`). */
  anchorMs: number | undefined;
}

const US_PER_MS = 1000;

export class HlsMuxer implements ReaderSink {
  readonly reader: Reader;
  readonly window: MediaWindow;
  readonly held: HeldRequests;
  readonly lowLatency: boolean;
  /** performance.now() of the last request that named this muxer. */
  lastRequestAt = performance.now();
  private generation: Generation | undefined;
  private generations = 0;
  private discontinuityPending = false;
  private targetDuration: number | undefined;
  private lastDescription: StreamDescription | undefined;
  private readonly rendered = new Map<string, { version: number; text: string }>();

  constructor(private readonly o: HlsMuxerOptions) {
    this.window = new MediaWindow(o.settings.segmentCount);
    this.held = new HeldRequests(o.settings.maxHeld);
    this.lowLatency = o.settings.lowLatency;
    this.reader = new Reader({ id: `hls:${o.id}`, protocol: 'hls', remoteAddress: 'internal' }, this, o.queueSize);
  }

  get id(): string {
    return this.o.id;
  }

  get path(): Path {
    return this.o.path;
  }

  /** A playlist can be served: one segment is complete, so the target duration is known. */
  get ready(): boolean {
    return this.targetDuration !== undefined;
  }

  /** Seconds; fixed by the first segment (the spec forbids changing it), raised only if a later segment is longer. */
  get targetDurationS(): number {
    return this.targetDuration ?? Math.max(1, Math.ceil(this.o.settings.segmentDurationMs / 1000));
  }

  get partTargetUs(): number {
    let us = this.o.settings.partDurationMs * US_PER_MS;
    // The advertised target must not be below any listed part; frame timing can overshoot it by a millisecond.
    for (const segment of this.window.listed()) for (const part of segment.parts) us = Math.max(us, part.durationUs);
    return us;
  }

  get partLimit(): number {
    return advancePartLimit(this.partTargetUs / 1_000_000);
  }

  /** How long a listed playlist stays meaningful: its segments' time (cache lifetime of blocking responses). */
  get windowS(): number {
    return this.o.settings.segmentCount * this.targetDurationS;
  }

  // ReaderSink: segments are bounded by count and size, so frames are always taken.

  writable(): boolean {
    return true;
  }

  describe(description: StreamDescription): void {
    this.endGeneration();
    this.lastDescription = description;
    const { video, audio } = description;
    if (video === undefined && audio === undefined) return;
    const n = ++this.generations;
    const s = this.o.settings;
    this.window.addInit(n, createInitSegment({ video, audio }));
    this.generation = {
      n,
      description,
      writer: new FragmentWriter({ video, audio }),
      segmenter: new Segmenter({
        hasVideo: video !== undefined,
        partTargetUs: s.partDurationMs * US_PER_MS,
        segmentMinUs: s.segmentDurationMs * US_PER_MS,
        maxGapUs: DEFAULT_MAX_GAP_US,
      }),
      anchorMs: undefined,
    };
  }

  write(frame: Frame): void {
    const g = this.generation;
    if (g === undefined) return;
    const cut = g.segmenter.push(frame);
    if (cut !== undefined) this.take(g, cut);
    if (this.window.openSegmentBytes + g.segmenter.openPartBytes > this.o.settings.segmentMaxSize) {
      this.o.log.warn({ path: this.o.path.name, max: this.o.settings.segmentMaxSize }, 'HLS segment reached hlsSegmentMaxSize: closed early, frames dropped up to the next keyframe');
      const rest = g.segmenter.flush();
      if (rest !== undefined) this.take(g, rest);
    }
  }

  offline(): void {
    this.endGeneration();
  }

  /** Detaches from the path and lets every held request go. */
  stop(reason: string): void {
    this.endGeneration();
    this.o.path.removeReader(this.reader, reason);
    this.held.closeAll();
  }

  /** `index.m3u8`; undefined before the first segment. */
  multivariantPlaylist(query: string): string | undefined {
    const description = this.lastDescription;
    if (!this.ready || description === undefined) return undefined;
    const { video, audio } = description;
    const segments = this.window.listed().filter((s) => s.bytes !== undefined);
    let peak = 0;
    let bytes = 0;
    let us = 0;
    for (const s of segments) {
      if (s.durationUs > 0) peak = Math.max(peak, (s.bytes!.byteLength * 8 * 1_000_000) / s.durationUs);
      bytes += s.bytes!.byteLength;
      us += s.durationUs;
    }
    return renderMultivariantPlaylist(
      {
        uri: playlistName(this.o.id) + query,
        bandwidth: peak,
        averageBandwidth: us > 0 ? (bytes * 8 * 1_000_000) / us : undefined,
        codecs: [video?.codecString, audio?.codecString].filter((c): c is string => c !== undefined),
        resolution: video && { width: video.width, height: video.height },
      },
      this.lowLatency,
    );
  }

  /** The media playlist as it is now; `query` (credentials) is appended to every URI. */
  mediaPlaylist(skip: boolean, query: string): string {
    const key = `${skip ? 1 : 0}${query}`;
    const memo = this.rendered.get(key);
    if (memo?.version === this.window.version) return memo.text;
    const listed = this.window.listed();
    const id = this.o.id;
    const segments: ListedSegment[] = listed.map((s: StoredSegment) => ({
      uri: segmentName(id, s.msn) + query,
      mapUri: initName(id, s.generation) + query,
      durationUs: s.durationUs,
      complete: s.bytes !== undefined,
      discontinuity: s.discontinuity,
      programDateMs: s.programDateMs,
      parts: s.parts.map((p) => ({ uri: partName(id, p.n) + query, durationUs: p.durationUs, independent: p.independent })),
    }));
    const next = (this.window.lastPartNumber ?? -1) + 1;
    const text = renderMediaPlaylist({
      lowLatency: this.lowLatency,
      targetDurationS: this.targetDurationS,
      partTargetUs: this.partTargetUs,
      firstMsn: listed[0]?.msn ?? 0,
      firstDiscontinuitySequence: listed[0]?.discontinuitySequence ?? 0,
      segments,
      preloadHintUri: partName(id, next) + query,
      skip,
    });
    // Only the anonymous forms are worth keeping: they are what many viewers share.
    if (query === '') this.rendered.set(key, { version: this.window.version, text });
    return text;
  }

  /** Muxes one part and publishes it (and its segment, when it ends one). */
  private take(g: Generation, cut: PartCut): void {
    if (cut.startsSegment) {
      // Receive time minus media time is the source's clock offset plus whatever delayed that frame: the smallest
      // offset seen is the truest (a publisher's first frames arrive late, after its connection setup, and would
      // otherwise date every later segment that much too late). It only ever moves earlier, by that delay.
      const offsetMs = cut.first.receivedAt - cut.startUs / US_PER_MS;
      g.anchorMs = g.anchorMs === undefined ? offsetMs : Math.min(g.anchorMs, offsetMs);
      this.window.startSegment(g.n, this.discontinuityPending, g.anchorMs + cut.startUs / US_PER_MS);
      this.discontinuityPending = false;
    }
    const entries: FragmentEntry[] = [];
    if (cut.video.length > 0) entries.push({ kind: 'video', frames: cut.video });
    if (cut.audio.length > 0) entries.push({ kind: 'audio', frames: cut.audio });
    this.window.addPart(g.writer.fragmentMulti(entries), cut.durationUs, cut.independent);
    if (cut.endsSegment) {
      const segment = this.window.finishSegment();
      if (segment !== undefined) this.fixTargetDuration(segment.durationUs);
    }
    this.held.wake();
  }

  private fixTargetDuration(segmentUs: number): void {
    // EXTINF rounded to the nearest second must not exceed the target duration.
    const needed = Math.max(1, Math.round(segmentUs / 1_000_000));
    if (this.targetDuration === undefined) this.targetDuration = Math.max(needed, Math.ceil(this.o.settings.segmentDurationMs / 1000));
    else if (needed > this.targetDuration) {
      this.o.log.warn({ path: this.o.path.name, from: this.targetDuration, to: needed }, 'HLS segment longer than the target duration (a longer GOP?): target duration raised');
      this.targetDuration = needed;
    }
  }

  /** Closes the open segment of the current stream description; the next one starts after a discontinuity. */
  private endGeneration(): void {
    const g = this.generation;
    if (g === undefined) return;
    this.generation = undefined;
    const rest = g.segmenter.flush();
    if (rest !== undefined) this.take(g, rest);
    this.discontinuityPending = true;
  }
}
