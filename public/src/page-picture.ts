/**
 * The stream's newest keyframe, on screen before any transport is up, for
 * the transports whose first picture the page cannot decode ahead on a
 * connection of its own (ws-nal's early socket does: early-socket.ts).
 * wt-raw needs a session and its subscriptions, wt-fmp4 and HLS a segment,
 * and all of them the player's code, before the player can show anything.
 * Meanwhile the page's head script fetches the keyframe ws-nal would send
 * first (`GET /<path>/ws/nal/keyframe`, one request on the connection that
 * brought the page), decodes it with a decoder configured while the request
 * is out, and shows it over the player element. For H.264 the decoder is
 * configured as wt-raw's renderer would configure it, from the page's
 * catalog, so that wt-raw takes it over (`takePagePicture`) and starts no
 * decoder of its own; otherwise the player takes the picture down at its
 * first state past connecting: it paints its own picture, or says why it
 * cannot. The player's start waits for the picture, briefly
 * (`DECODE_WAIT_MS`, `HOLD_MAX_MS`): its own start and the page's decoder
 * share the page's thread and, here, two cores.
 *
 * Fetched rather than written into the page: the page stays a few KB (and
 * cacheable: 304 while the stream's configuration holds), and only the pages
 * that use the keyframe pay for it; a page written with 60–100 KB of
 * keyframe in it cost a ws-nal page load, which does not need it, 5–14 ms.
 *
 * The picture is the stream's newest keyframe: live, if up to a GOP old,
 * like the first picture of any transport that starts at a keyframe.
 */
import { parseMediaMessage, type VideoInit } from './protocol/ws-nal-wire.js';
import type { H264Form } from './render/h264-form.js';
import { describedConfig, videoDecoderConfig } from './render/video-config.js';
import { parseCatalog } from './transports/webtransport/hang.js';
import { annexBToAvcc, OUT_OF_BAND_NAL_TYPES } from '../../src/codec/h264.js';
import { closeEarlyVideo, PAGE_PICTURE_GLOBAL, settle, startDecoder, type EarlyStart, type EarlyVideo } from './early-socket.js';

/** What the inline script leaves on `window` while the page's picture is up. */
export interface PagePicture extends EarlyStart {
  video: EarlyVideo | null;
}

/** A still picture over a player that has not said anything for this long would hide what it says next. */
const PAGE_PICTURE_MAX_MS = 5000;
/**
 * How long the player's start waits for the decoder once it has the keyframe. Chromium's puts the picture out in
 * 15–25 ms; Firefox's took 150 ms and more, and holding the player for it put its moving picture 100 ms later.
 */
const DECODE_WAIT_MS = 40;
/** …and for the request and the decoder together. */
const HOLD_MAX_MS = 90;

function host(): Record<string, unknown> {
  return globalThis as unknown as Record<string, unknown>;
}

/**
 * Inline script side: fetches `url` (the path's `ws/nal/keyframe`) and decodes it with a decoder configured from the
 * page's catalog as wt-raw would (H.264), else from its video hint, and puts the picture up once decoded. Does nothing without a hint or WebCodecs, or where H.264
 * would need its avcC (`decodeAs`, WebKit's form: the keyframe comes in Annex B).
 */
export function showPagePicture(url: string, hint: VideoInit | undefined, catalog: unknown, decodeAs: H264Form): void {
  if (!hint || typeof VideoDecoder === 'undefined' || typeof EncodedVideoChunk === 'undefined') return;
  if (describedConfig({ ...hint, description: new Uint8Array(0) }, 'annexb', decodeAs)) return;
  // Configured as wt-raw's renderer will configure it (avc1 with the catalog's avcC), so that it can take this decoder
  // over instead of starting its own (a decoder's start is tens of milliseconds, in Firefox over a hundred).
  const avc = wtRawInit(catalog);
  const config = avc ? videoDecoderConfig(avc, true) : videoDecoderConfig(hint, false);
  const picture: PagePicture = { video: null, waiting: [], settled: false };
  // Configured now: the decoder's start overlaps the request.
  const video = startDecoder(config, (why) => settle(picture, why));
  picture.video = video;
  host()[PAGE_PICTURE_GLOBAL] = picture;
  setTimeout(() => settle(picture, 'slow decoder'), HOLD_MAX_MS);
  setTimeout(() => dropPagePicture(picture), PAGE_PICTURE_MAX_MS);
  fetch(url, { cache: 'no-store', priority: 'high' } as RequestInit)
    .then((response) => (response.ok ? response.arrayBuffer() : Promise.reject(new Error(`HTTP ${response.status}`))))
    .then((body) => {
      if (video.failed) return;
      const message = parseMediaMessage(body);
      if (message.kind !== 'video' || !message.keyframe) throw new Error('not a video keyframe');
      const data = avc ? annexBToAvcc(message.payload, 4, OUT_OF_BAND_NAL_TYPES) : message.payload;
      video.decoder.decode(new EncodedVideoChunk({ type: 'key', timestamp: message.ptsUs, data }));
      // A decoder may hold a picture back until more frames follow: this one must come out alone.
      void video.decoder.flush().catch(() => undefined);
      // The picture still goes up when it comes; only the player stops waiting for it.
      setTimeout(() => settle(picture, 'slow decoder'), DECODE_WAIT_MS);
    })
    .catch(() => dropPagePicture(picture));
}

/** The video wt-raw would configure from the page's catalog: H.264 whose avcC says 4-byte lengths, or null. */
function wtRawInit(catalog: unknown): VideoInit | null {
  if (catalog === undefined) return null;
  const init = parseCatalog(catalog).video?.init;
  const description = init?.description;
  if (!init || !description || description.byteLength < 5 || (description[4]! & 3) + 1 !== 4) return null;
  return init;
}

/**
 * The page's decoder, for a renderer to take over (`VideoRenderer.offer`), if it has not failed; the page's picture
 * stays up until that renderer paints. Null where the page has none.
 */
export function takePagePicture(): EarlyVideo | null {
  const current = host()[PAGE_PICTURE_GLOBAL] as PagePicture | undefined;
  if (!current) return null;
  delete host()[PAGE_PICTURE_GLOBAL];
  settle(current, 'taken');
  const video = current.video;
  if (!video || video.failed) {
    if (video) closeEarlyVideo(video);
    return null;
  }
  return video;
}

/**
 * Takes the page's picture down (`picture`, or whichever is up): the player shows a picture of its own now, or a
 * state the viewer should see. Returns when the picture went on screen (`performance.now()`), or null if it never did.
 */
export function dropPagePicture(picture?: PagePicture): number | null {
  const current = host()[PAGE_PICTURE_GLOBAL] as PagePicture | undefined;
  if (!current || (picture !== undefined && picture !== current)) return null;
  delete host()[PAGE_PICTURE_GLOBAL];
  settle(current, 'dropped');
  const shownAt = current.video?.picture?.drawnAt ?? null;
  if (current.video) closeEarlyVideo(current.video);
  return shownAt;
}
