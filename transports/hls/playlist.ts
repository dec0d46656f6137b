/**
 * Playlist text (RFC 8216bis, with Apple's Low-Latency HLS tags). Pure: it
 * gets what to list and the URIs to use, and knows nothing of muxing.
 */

export interface ListedPart {
  readonly uri: string;
  readonly durationUs: number;
  readonly independent: boolean;
}

export interface ListedSegment {
  readonly uri: string;
  readonly mapUri: string;
  /** Sum of its parts so far while open. */
  readonly durationUs: number;
  /** False for the segment being written, listed by its parts only. */
  readonly complete: boolean;
  readonly discontinuity: boolean;
  readonly programDateMs: number;
  readonly parts: readonly ListedPart[];
}

export interface MediaPlaylist {
  readonly lowLatency: boolean;
  readonly targetDurationS: number;
  readonly partTargetUs: number;
  readonly firstMsn: number;
  readonly firstDiscontinuitySequence: number;
  /** Oldest first; the last one may be open. */
  readonly segments: readonly ListedSegment[];
  readonly preloadHintUri?: string;
  /** `_HLS_skip`: a delta update. */
  readonly skip: boolean;
}

/** LL-HLS parts, delta updates; plain fMP4 (`EXT-X-MAP` in a media playlist) needs 6, Apple asks for 7. */
const VERSION_LOW_LATENCY = 9;
const VERSION_FMP4 = 7;

/** The spec's floor for `CAN-SKIP-UNTIL`, in target durations. */
export const SKIP_TARGET_DURATIONS = 6;
/** Parts are listed for segments this many target durations from the end, as the spec suggests; older ones need none. */
const PART_LIST_TARGET_DURATIONS = 3;
/** `PART-HOLD-BACK`, in part targets: the spec's minimum is 2, 3 is what Apple recommends. */
const PART_HOLD_BACK_PARTS = 3;

export function seconds(us: number): string {
  return (us / 1_000_000).toFixed(5);
}

/** How many leading complete segments a delta update replaces by `EXT-X-SKIP`. */
export function skippedSegments(p: MediaPlaylist): number {
  if (!p.lowLatency || !p.skip) return 0;
  const boundaryUs = SKIP_TARGET_DURATIONS * p.targetDurationS * 1_000_000;
  let fromEnd = p.segments.reduce((sum, s) => sum + s.durationUs, 0);
  let skipped = 0;
  for (const segment of p.segments) {
    // A segment is skipped when it starts before the skip boundary counted back from the end.
    if (!segment.complete || fromEnd <= boundaryUs) break;
    fromEnd -= segment.durationUs;
    skipped++;
  }
  return skipped;
}

export function renderMediaPlaylist(p: MediaPlaylist): string {
  const lines = ['#EXTM3U', `#EXT-X-VERSION:${p.lowLatency ? VERSION_LOW_LATENCY : VERSION_FMP4}`, `#EXT-X-TARGETDURATION:${p.targetDurationS}`];
  if (p.lowLatency) {
    lines.push(
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${seconds(PART_HOLD_BACK_PARTS * p.partTargetUs)},CAN-SKIP-UNTIL=${SKIP_TARGET_DURATIONS * p.targetDurationS}`,
      `#EXT-X-PART-INF:PART-TARGET=${seconds(p.partTargetUs)}`,
    );
  }
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${p.firstMsn}`, `#EXT-X-DISCONTINUITY-SEQUENCE:${p.firstDiscontinuitySequence}`, '#EXT-X-INDEPENDENT-SEGMENTS');

  const skipped = skippedSegments(p);
  if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);

  const partsFromUs = p.segments.reduce((sum, s) => sum + s.durationUs, 0) - PART_LIST_TARGET_DURATIONS * p.targetDurationS * 1_000_000;
  let startUs = 0;
  let map: string | undefined;
  p.segments.forEach((segment, i) => {
    const endUs = startUs + segment.durationUs;
    startUs = endUs;
    if (i < skipped) return;
    if (segment.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    // Repeated after a skip too: the client may not hold the skipped segment that carried it.
    if (segment.mapUri !== map) lines.push(`#EXT-X-MAP:URI="${segment.mapUri}"`);
    map = segment.mapUri;
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(segment.programDateMs).toISOString()}`);
    if (p.lowLatency && (!segment.complete || endUs > partsFromUs)) {
      for (const part of segment.parts) {
        lines.push(`#EXT-X-PART:DURATION=${seconds(part.durationUs)},URI="${part.uri}"${part.independent ? ',INDEPENDENT=YES' : ''}`);
      }
    }
    if (segment.complete) lines.push(`#EXTINF:${seconds(segment.durationUs)},`, segment.uri);
  });
  if (p.lowLatency && p.preloadHintUri !== undefined) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${p.preloadHintUri}"`);
  return `${lines.join('\n')}\n`;
}

export interface Variant {
  readonly uri: string;
  /** Peak bits per second over a segment. */
  readonly bandwidth: number;
  readonly averageBandwidth?: number;
  /** RFC 6381 strings, e.g. `avc1.64001f`, `mp4a.40.2`. */
  readonly codecs: readonly string[];
  readonly resolution?: { readonly width: number; readonly height: number };
}

/** `index.m3u8`: one variant, so that players learn codecs and resolution before loading media. */
export function renderMultivariantPlaylist(v: Variant, lowLatency: boolean): string {
  const attributes = [`BANDWIDTH=${Math.max(1, Math.round(v.bandwidth))}`];
  if (v.averageBandwidth !== undefined) attributes.push(`AVERAGE-BANDWIDTH=${Math.max(1, Math.round(v.averageBandwidth))}`);
  attributes.push(`CODECS="${v.codecs.join(',')}"`);
  if (v.resolution !== undefined) attributes.push(`RESOLUTION=${v.resolution.width}x${v.resolution.height}`);
  return ['#EXTM3U', `#EXT-X-VERSION:${lowLatency ? VERSION_LOW_LATENCY : VERSION_FMP4}`, '#EXT-X-INDEPENDENT-SEGMENTS', `#EXT-X-STREAM-INF:${attributes.join(',')}`, v.uri, ''].join('\n');
}
