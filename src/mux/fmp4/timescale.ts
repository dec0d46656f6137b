/**
 * Microsecond ↔ media-timescale conversion with exact integer rounding.
 *
 * Every decode time is converted from an absolute timestamp rather than by
 * adding converted durations, so rounding error never accumulates; that only
 * holds if the conversion itself is exact, which floating-point `us * ts / 1e6`
 * stops being once the product passes 2^53 (about 27 hours at 90 kHz).
 */

const US_PER_SECOND = 1_000_000;
const BIG_US_PER_SECOND = 1_000_000n;

/** floor(n / d) for integer n and positive integer d, with n·d products kept exact. */
function floorDiv(n: number, d: number): { q: number; r: number } {
  let q = Math.floor(n / d);
  let r = n - q * d;
  // n / d is rounded before the floor; one correction step restores the exact quotient.
  if (r < 0) { q -= 1; r += d; } else if (r >= d) { q += 1; r -= d; }
  return { q, r };
}

function bigRoundDiv(n: bigint, d: bigint): number {
  // Round half up: floor((2n + d) / 2d), with a floor that also holds for negative n.
  const num = 2n * n + d;
  const den = 2n * d;
  let q = num / den;
  if (num % den !== 0n && num < 0n) q -= 1n;
  return Number(q);
}

/** Nearest tick (halves round up) of `us` microseconds in a `timescale` clock. */
export function usToTicks(us: number, timescale: number): number {
  const whole = Math.round(us);
  const product = whole * timescale;
  if (Number.isSafeInteger(product)) {
    const { q, r } = floorDiv(product, US_PER_SECOND);
    return 2 * r >= US_PER_SECOND ? q + 1 : q;
  }
  return bigRoundDiv(BigInt(whole) * BigInt(timescale), BIG_US_PER_SECOND);
}

/** Smallest whole microsecond at or after `ticks` (so a track's end is never understated). */
export function ticksToUsCeil(ticks: number, timescale: number): number {
  const product = ticks * US_PER_SECOND;
  if (Number.isSafeInteger(product)) {
    const { q, r } = floorDiv(product, timescale);
    return r === 0 ? q : q + 1;
  }
  const n = BigInt(ticks) * BIG_US_PER_SECOND;
  const d = BigInt(timescale);
  let q = n / d;
  if (n % d !== 0n && n > 0n) q += 1n;
  return Number(q);
}
