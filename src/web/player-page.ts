/**
 * The player page (`/<path>/`): the built player.html with the stream's
 * video configuration, `/moq`'s first catalog and the WebTransport
 * certificate's hash written into its head, where the page marks the spot.
 * The page's head script configures its decoder from the first while its
 * socket connects (public/src/early-socket.ts), instead of after the
 * server's `init` has arrived on that socket; wt-raw subscribes from the
 * second without reading the catalog track first; WebTransport pins the
 * third without fetching `/certificate.sha256` first. The page changes with the stream and the
 * certificate, so it is filled in per request and tagged by its content: a
 * browser revalidates it and gets 304 while nothing changed.
 */
import { createHash } from 'node:crypto';
import type { StreamDescription } from '../stream/types.js';

/** Where player.html wants the hint: in its head, before the inline script that reads it. */
export const STREAM_HINT_MARKER = '<!-- polycast:stream -->';
/** The element the page's script reads (`<script type="application/json" id=…>`). */
export const STREAM_HINT_ID = 'polycast-stream';

/** What the page may know before it connects; what comes on the connection stays the authority. */
export interface PageHint {
  /** The stream's video as the ws-nal `init` would describe it (without `description`). */
  readonly video?: VideoHint;
  /** What `/certificate.sha256` serves: the WebTransport certificate's SHA-256, hex. */
  readonly certificateSha256?: string;
  /**
   * The hang catalog `/moq` would send first for this path (docs/protocols/moq.md): with it, a wt-raw player
   * configures its decoders and subscribes to the media tracks as soon as its session is up, instead of a round
   * trip later, after reading the catalog track.
   */
  readonly moqCatalog?: unknown;
}

export interface VideoHint {
  readonly codec: string;
  readonly codedWidth: number;
  readonly codedHeight: number;
}

export function videoHint(description: StreamDescription | undefined): VideoHint | undefined {
  const video = description?.video;
  return video && { codec: video.codecString, codedWidth: video.width, codedHeight: video.height };
}

/** The page with the hint in place of the marker; without anything to say, the page as it is. */
export function fillPlayerPage(template: string, hint: PageHint | undefined): string {
  if (hint?.video === undefined && hint?.certificateSha256 === undefined && hint?.moqCatalog === undefined) return template;
  // `<` escaped, so no value can close the script element early.
  const json = JSON.stringify(hint).replace(/</g, '\\u003c');
  return template.replace(STREAM_HINT_MARKER, () => `<script type="application/json" id="${STREAM_HINT_ID}">${json}</script>`);
}

/** A strong validator of the page as sent. */
export function pageTag(html: string): string {
  return `"${createHash('sha1').update(html).digest('base64url')}"`;
}
