/**
 * The player page (`/<path>/`): the built player.html with the stream's
 * video configuration written into its head, where the page marks the spot.
 * The page's head script configures its decoder from it while its socket
 * connects (public/src/early-socket.ts), instead of after the server's
 * `init` has arrived on that socket. The page changes with the stream, so it
 * is filled in per request and tagged by its content: a browser revalidates
 * it and gets 304 while nothing changed.
 */
import { createHash } from 'node:crypto';
import type { StreamDescription } from '../stream/types.js';

/** Where player.html wants the hint: in its head, before the inline script that reads it. */
export const STREAM_HINT_MARKER = '<!-- polycast:stream -->';
/** The element the page's script reads (`<script type="application/json" id=…>`). */
export const STREAM_HINT_ID = 'polycast-stream';

/** What the page may know before it connects; the ws-nal `init` on the socket stays the authority. */
export interface PageStreamHint {
  readonly video: { readonly codec: string; readonly codedWidth: number; readonly codedHeight: number };
}

export function streamHint(description: StreamDescription | undefined): PageStreamHint | undefined {
  const video = description?.video;
  return video && { video: { codec: video.codecString, codedWidth: video.width, codedHeight: video.height } };
}

/** The page with the hint in place of the marker; without a hint, the page as it is. */
export function fillPlayerPage(template: string, hint: PageStreamHint | undefined): string {
  if (hint === undefined) return template;
  // `<` escaped, so no value can close the script element early.
  const json = JSON.stringify(hint).replace(/</g, '\\u003c');
  return template.replace(STREAM_HINT_MARKER, () => `<script type="application/json" id="${STREAM_HINT_ID}">${json}</script>`);
}

/** A strong validator of the page as sent. */
export function pageTag(html: string): string {
  return `"${createHash('sha1').update(html).digest('base64url')}"`;
}
