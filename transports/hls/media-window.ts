/**
 * The segments and parts one muxer keeps in memory, and what a request may
 * find among them. Segments are listed in the playlist for `segmentCount`
 * and kept `RETAINED_EXTRA` longer, so a player (or a cache) working from a
 * slightly older playlist still finds what it names.
 */

import type { LiveEdge } from './blocking-rules.js';

export interface StoredPart {
  /** Part number across segments (its name). */
  readonly n: number;
  readonly msn: number;
  /** Index inside its segment (`_HLS_part`). */
  readonly index: number;
  readonly durationUs: number;
  readonly independent: boolean;
  bytes: Uint8Array;
}

export interface StoredSegment {
  readonly msn: number;
  /** Init segment generation its parts were muxed for. */
  readonly generation: number;
  /** First segment after a publisher restart or a change of tracks. */
  readonly discontinuity: boolean;
  /** `EXT-X-DISCONTINUITY-SEQUENCE` a playlist starting here declares. */
  readonly discontinuitySequence: number;
  readonly programDateMs: number;
  readonly parts: StoredPart[];
  durationUs: number;
  /** Set once complete: the parts back to back (each one moof + mdat, a valid CMAF segment). */
  bytes: Uint8Array | undefined;
}

/** Complete segments kept beyond those listed. */
export const RETAINED_EXTRA = 2;

export class MediaWindow {
  private readonly complete: StoredSegment[] = [];
  private open: StoredSegment | undefined;
  private readonly parts = new Map<number, StoredPart>();
  private readonly inits = new Map<number, Uint8Array>();
  private nextMsn = 0;
  private nextPart = 0;
  private openBytes = 0;
  /** Bumped on every change; what rendered playlists are memoized by. */
  version = 0;

  constructor(private readonly segmentCount: number) {}

  addInit(generation: number, bytes: Uint8Array): void {
    this.inits.set(generation, bytes);
  }

  init(generation: number): Uint8Array | undefined {
    return this.inits.get(generation);
  }

  startSegment(generation: number, discontinuity: boolean, programDateMs: number): void {
    const previous = this.open ?? this.complete[this.complete.length - 1];
    const discontinuitySequence = (previous?.discontinuitySequence ?? 0) + (discontinuity && previous !== undefined ? 1 : 0);
    this.open = { msn: this.nextMsn++, generation, discontinuity: discontinuity && previous !== undefined, discontinuitySequence, programDateMs, parts: [], durationUs: 0, bytes: undefined };
    this.openBytes = 0;
    this.version++;
  }

  /** Appends a part to the open segment (there must be one). */
  addPart(bytes: Uint8Array, durationUs: number, independent: boolean): StoredPart {
    const segment = this.open;
    if (segment === undefined) throw new Error('addPart without an open segment');
    const part: StoredPart = { n: this.nextPart++, msn: segment.msn, index: segment.parts.length, durationUs, independent, bytes };
    segment.parts.push(part);
    segment.durationUs += durationUs;
    this.parts.set(part.n, part);
    this.openBytes += bytes.byteLength;
    this.version++;
    return part;
  }

  /** Closes the open segment and drops what fell out of the retained window. */
  finishSegment(): StoredSegment | undefined {
    const segment = this.open;
    if (segment === undefined) return undefined;
    this.open = undefined;
    const whole = new Uint8Array(this.openBytes);
    let at = 0;
    for (const part of segment.parts) {
      whole.set(part.bytes, at);
      // The part's own buffer can go: it lives on as a view of the segment.
      part.bytes = whole.subarray(at, at + part.bytes.byteLength);
      at += part.bytes.byteLength;
    }
    segment.bytes = whole;
    this.complete.push(segment);
    while (this.complete.length > this.segmentCount + RETAINED_EXTRA) this.evict(this.complete.shift()!);
    this.version++;
    return segment;
  }

  /** Bytes of the open segment so far (hlsSegmentMaxSize). */
  get openSegmentBytes(): number {
    return this.open === undefined ? 0 : this.openBytes;
  }

  get hasCompleteSegment(): boolean {
    return this.complete.length > 0;
  }

  /** Newest part number, or undefined before the first. */
  get lastPartNumber(): number | undefined {
    return this.nextPart === 0 ? undefined : this.nextPart - 1;
  }

  edge(): LiveEdge {
    const last = this.lastPartNumber === undefined ? undefined : this.parts.get(this.lastPartNumber);
    return {
      lastCompleteMsn: this.complete[this.complete.length - 1]?.msn ?? -1,
      lastPart: last && { msn: last.msn, index: last.index },
    };
  }

  part(n: number): StoredPart | undefined {
    return this.parts.get(n);
  }

  segment(msn: number): StoredSegment | undefined {
    const first = this.complete[0];
    return first === undefined ? undefined : this.complete[msn - first.msn];
  }

  /** What a playlist lists: the newest `segmentCount` complete segments, then the open one if it has parts. */
  listed(): StoredSegment[] {
    const out = this.complete.slice(-this.segmentCount);
    if (this.open !== undefined && this.open.parts.length > 0) out.push(this.open);
    return out;
  }

  private evict(segment: StoredSegment): void {
    for (const part of segment.parts) this.parts.delete(part.n);
    const oldest = this.complete[0]?.generation ?? this.open?.generation;
    for (const generation of this.inits.keys()) if (oldest !== undefined && generation < oldest) this.inits.delete(generation);
  }
}
