/**
 * The player page's inline head script (scripts/build-player.mjs inlines it
 * into dist/player.html): opens the ws-nal socket before the bundle has been
 * fetched and evaluated, when negotiation is bound to try ws-nal first, and
 * starts decoding the GOP cache as it arrives, so the first picture is
 * decoding when the player starts (early-socket.ts). Anything else waits for the player, which decides.
 * Mirrors only the rules that make ws-nal the first candidate: forced by
 * `?transport=ws-nal`, or remembered as last time's winner on this origin
 * (`TransportMemory`), on a browser with WebSocket and VideoDecoder.
 */
import { openEarlySocket } from './early-socket.js';
import { wsNalUrl } from './protocol/ws-nal-wire.js';
import { chooseH264Form } from './render/h264-form.js';
import { streamPathFromPathname } from './stream-path.js';
import { browserStore, TransportMemory } from './transports/memory.js';

function firstIsWsNal(): boolean {
  if (typeof WebSocket === 'undefined' || typeof VideoDecoder === 'undefined') return false;
  const forced = new URLSearchParams(location.search).get('transport');
  if (forced) return forced === 'ws-nal';
  return new TransportMemory(browserStore()).recall(location.origin) === 'ws-nal';
}

try {
  const path = streamPathFromPathname(location.pathname);
  // Decoded here as the player would feed it (`?h264=`, else per engine: h264-form.ts).
  const h264 = new URLSearchParams(location.search).get('h264');
  if (path !== '' && firstIsWsNal()) openEarlySocket(wsNalUrl({ origin: location.origin, path }), chooseH264Form(h264).form);
} catch {
  // Only a head start: the player connects by itself.
}
