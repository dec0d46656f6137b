/**
 * `Cache-Control` per object, written for a shared cache in front of the
 * origin (config/examples/nginx-hls-cache.conf) that keys on the URL with
 * its query and lets one request through per key (`proxy_cache_lock`).
 * docs/protocols/hls.md#caching says why each value is what it is.
 */

/** Who may store an answer: a shared cache, unless the request carried credentials (it must not hand that answer to others). */
export type Audience = 'public' | 'private';

/** Refusals of one client's request (bad query, credentials) and "not yet": the same URL may soon answer differently. */
export const NO_STORE = 'no-store';

/**
 * Refusals every viewer of the path gets alike (not live, still starting, a
 * held request that timed out, too many held): one second, so a cache's lock
 * keeps collapsing them. Uncacheable answers would make nginx let its waiting
 * viewers through one by one.
 */
export const BRIEF = 'public, max-age=1';

/** Init segments, parts and segments: a name is never reused for other bytes (muxer id + counters). */
export const IMMUTABLE_SECONDS = 86_400;

export function mediaObject(): string {
  return `public, max-age=${IMMUTABLE_SECONDS}, immutable`;
}

/**
 * The playlist without delivery directives, and `index.m3u8`: they change
 * with every part. HTTP's max-age counts whole seconds, and 0 would keep a
 * cache from collapsing concurrent viewers at all; a second old is what an
 * LL-HLS client corrects with its first blocking request.
 */
export function livePlaylist(audience: Audience): string {
  return `${audience}, max-age=1`;
}

/**
 * A playlist answered to `_HLS_msn`/`_HLS_part`: any answer holds the asked-for
 * part or later ones, so it stays a correct answer to that query for as long
 * as what it lists is still served — the playlist's own time span.
 */
export function blockingPlaylist(audience: Audience, windowS: number): string {
  return `${audience}, max-age=${Math.max(1, Math.floor(windowS))}`;
}
