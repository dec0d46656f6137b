/**
 * Local wall-clock time in µs with sub-millisecond resolution. Built on the
 * monotonic clock so an NTP step in the middle of a session cannot make
 * RTTs negative; ping times and paint times must both come from here for
 * the clock offset to apply.
 */
export function wallClockUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}
