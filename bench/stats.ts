/** Nearest-rank percentile (p in 0..100) of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function sortedCopy(values: Iterable<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export function median(values: Iterable<number>): number {
  return percentile(sortedCopy(values), 50);
}

/** Count, p50, p99 and max of latency samples (ms); the statistics only when there are samples. */
export interface LatencySummary {
  samples: number;
  p50?: number;
  p99?: number;
  max?: number;
}

/** One group of keyframe readers in a latency phase (origin or edge, RTMP or SRT). */
export interface KeyframeReadersSide extends LatencySummary {
  readers: number;
  /** Reader × keyframe pairs of the window that never arrived. */
  missed: number;
}

export function latencySummary(values: Iterable<number>): LatencySummary {
  const sorted = sortedCopy(values);
  if (sorted.length === 0) return { samples: 0 };
  return { samples: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1]! };
}
