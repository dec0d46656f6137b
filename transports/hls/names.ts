/**
 * URIs of one muxer's objects, all flat under `/<path>/` so that a playlist
 * names them relatively and a cache keys them by URL alone:
 *
 *   <id>-stream.m3u8   media playlist
 *   <id>-init<g>.mp4   init segment of stream generation g (a publisher restart or a codec change makes a new one)
 *   <id>-s<msn>.m4s    segment
 *   <id>-p<n>.m4s      part, numbered across segments
 *
 * `<id>` is random per muxer instance: a restarted muxer (or server) counts
 * from zero again, and without it a cache would hand out old bytes under a
 * reused name. Parts are numbered globally rather than per segment because
 * the preload hint must name the next part before anyone knows whether a
 * keyframe will start a new segment with it.
 */
import { randomBytes } from 'node:crypto';

/** 64 random bits: unguessable enough that a media URI is itself a capability (docs/protocols/hls.md#authorization). */
export function newMuxerId(): string {
  return randomBytes(8).toString('hex');
}

export type MediaName =
  | { readonly kind: 'playlist'; readonly id: string }
  | { readonly kind: 'init'; readonly id: string; readonly n: number }
  | { readonly kind: 'segment'; readonly id: string; readonly n: number }
  | { readonly kind: 'part'; readonly id: string; readonly n: number };

/**
 * What the web server routes to HLS: any last URL segment shaped like one of
 * ours (hex id, dash, short tail). Claiming the shape rather than only valid
 * names makes a malformed one a clean 404 from here instead of a redirect
 * to the player page.
 */
export const MEDIA_FILE_PATTERN = /^[0-9a-f]{1,32}-[0-9a-z]{1,24}\.(?:m4s|mp4|m3u8)$/;

const STRICT = /^([0-9a-f]{16})-(?:(stream)\.m3u8|init(\d{1,9})\.mp4|s(\d{1,15})\.m4s|p(\d{1,15})\.m4s)$/;

/** The object a file name denotes, or undefined for anything we never hand out (leading zeros included, so one object has one name). */
export function parseMediaName(file: string): MediaName | undefined {
  const m = STRICT.exec(file);
  if (m === null) return undefined;
  const id = m[1]!;
  if (m[2] !== undefined) return { kind: 'playlist', id };
  const [digits, kind] = m[3] !== undefined ? [m[3], 'init' as const] : m[4] !== undefined ? [m[4], 'segment' as const] : [m[5]!, 'part' as const];
  if (digits.length > 1 && digits.startsWith('0')) return undefined;
  return { kind, id, n: Number(digits) };
}

export const playlistName = (id: string): string => `${id}-stream.m3u8`;
export const initName = (id: string, generation: number): string => `${id}-init${generation}.mp4`;
export const segmentName = (id: string, msn: number): string => `${id}-s${msn}.m4s`;
export const partName = (id: string, n: number): string => `${id}-p${n}.m4s`;
