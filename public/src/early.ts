/**
 * The player page's inline head script (scripts/build-player.mjs inlines it
 * into dist/player.html): opens the ws-nal socket before the bundle has been
 * fetched and evaluated, when negotiation is bound to try ws-nal first,
 * configures the decoder from the page's stream hint, decodes the GOP cache
 * as it arrives and shows the first picture before the player starts
 * (early-socket.ts). Anything else waits for the player, which decides.
 * Mirrors only the rules that make ws-nal the first candidate: forced by
 * `?transport=ws-nal`, or remembered as last time's winner on this origin
 * (`TransportMemory`), on a browser with WebSocket and VideoDecoder.
 */
import { openEarlySocket } from './early-socket.js';
import { wsNalUrl, type VideoInit } from './protocol/ws-nal-wire.js';
import { chooseH264Form } from './render/h264-form.js';
import { streamPathFromPathname } from './stream-path.js';
import { browserStore, TransportMemory } from './transports/memory.js';

function firstIsWsNal(): boolean {
  if (typeof WebSocket === 'undefined' || typeof VideoDecoder === 'undefined') return false;
  const forced = new URLSearchParams(location.search).get('transport');
  if (forced) return forced === 'ws-nal';
  return new TransportMemory(browserStore()).recall(location.origin) === 'ws-nal';
}

/** The server's word on the stream's video when it sent the page (src/web/player-page.ts), if it gave one. */
function videoHint(): VideoInit | undefined {
  const text = document.getElementById('polycast-stream')?.textContent;
  if (!text) return undefined;
  const video = (JSON.parse(text) as { video?: Partial<VideoInit> }).video;
  const { codec, codedWidth, codedHeight } = video ?? {};
  return typeof codec === 'string' && typeof codedWidth === 'number' && typeof codedHeight === 'number' ? { codec, codedWidth, codedHeight } : undefined;
}

try {
  const path = streamPathFromPathname(location.pathname);
  // Decoded here as the player would feed it (`?h264=`, else per engine: h264-form.ts).
  const h264 = new URLSearchParams(location.search).get('h264');
  if (path !== '' && firstIsWsNal()) openEarlySocket(wsNalUrl({ origin: location.origin, path }), chooseH264Form(h264).form, videoHint());
} catch {
  // Only a head start: the player connects by itself.
}
