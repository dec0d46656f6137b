/**
 * SYN cookies (draft-sharabayko-srt §4.3.1): the listener answers an
 * induction with a value it can recompute from the caller's address and the
 * current minute, so it keeps nothing for callers that never conclude.
 */
import { createHmac, randomBytes } from 'node:crypto';

const BUCKET_MS = 60_000;

export class CookieJar {
  private readonly secret = randomBytes(32);

  issue(address: string, port: number, nowMs = Date.now()): number {
    return this.compute(address, port, Math.floor(nowMs / BUCKET_MS));
  }

  /** Cookies of this minute and the previous one are good: a handshake may straddle the boundary. */
  check(cookie: number, address: string, port: number, nowMs = Date.now()): boolean {
    const bucket = Math.floor(nowMs / BUCKET_MS);
    return cookie === this.compute(address, port, bucket) || cookie === this.compute(address, port, bucket - 1);
  }

  private compute(address: string, port: number, bucket: number): number {
    return createHmac('sha256', this.secret).update(`${address}|${port}|${bucket}`).digest().readUInt32BE(0);
  }
}
