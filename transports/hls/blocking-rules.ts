/**
 * When a blocking request (RFC 8216bis §6.2.5.2) is answered, held, or
 * refused. Pure arithmetic over the live edge, so the rules are tested
 * without a stream.
 */

/** Where the muxer is: the newest complete segment and the newest part. */
export interface LiveEdge {
  /** Media sequence number of the newest complete segment; -1 before the first. */
  readonly lastCompleteMsn: number;
  /** The newest part: its segment and its index in that segment. */
  readonly lastPart: { readonly msn: number; readonly index: number } | undefined;
}

export type Verdict = 'ready' | 'wait' | 'too-far';

/**
 * The spec's Advance Part Limit: how far past the newest part a client may
 * ask before it gets a 400 instead of a held request. Three parts, or three
 * seconds' worth when parts are shorter than a second.
 */
export function advancePartLimit(partTargetS: number): number {
  return partTargetS >= 1 ? 3 : Math.floor(3 / partTargetS + 1e-6);
}

/**
 * `_HLS_msn=msn` alone waits for that segment to be complete; with
 * `_HLS_part=part` it waits for that part, where an index past a finished
 * segment's last part means the first part of the next one (clients ask so
 * when they do not know yet that a segment ended). Segments more than two
 * ahead of the playlist's last one, or parts further ahead than the Advance
 * Part Limit, are refused.
 */
export function judgePlaylistRequest(edge: LiveEdge, msn: number, part: number | undefined, partLimit: number): Verdict {
  const last = edge.lastPart;
  const lastListedMsn = last?.msn ?? edge.lastCompleteMsn;
  if (part === undefined) {
    if (msn <= edge.lastCompleteMsn) return 'ready';
    return msn > lastListedMsn + 2 ? 'too-far' : 'wait';
  }
  if (last !== undefined && (msn < last.msn || (msn === last.msn && part <= last.index))) return 'ready';
  if (msn > lastListedMsn + 2) return 'too-far';
  const ahead = last !== undefined && msn === last.msn ? part - last.index : part + 1;
  return ahead > partLimit ? 'too-far' : 'wait';
}

/**
 * A part fetched by name: the newest part and older ones are there (or were,
 * and are gone), the next one is what the preload hint names and is held,
 * anything later has never been announced.
 */
export function judgePartFetch(lastPartNumber: number | undefined, n: number): Verdict {
  const last = lastPartNumber ?? -1;
  if (n <= last) return 'ready';
  return n === last + 1 ? 'wait' : 'too-far';
}

/** How long a blocking request is held before a 503: the spec's three target durations. */
export function holdTimeoutMs(targetDurationS: number): number {
  return 3 * targetDurationS * 1000;
}
