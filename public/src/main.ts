/**
 * Entry of `/dist/player.js`. As a library it exports the player and
 * registers `<polycast-player>`; on the player page (`/<path>/`, marked by
 * `<body data-polycast-page="player">`) it also plays the path in the URL
 * and publishes the stats as `window.__polycast` for tests and benchmarks.
 * Query: `transport=` and `protocol=` force a transport and its variant,
 * `buffer=` sets the MSE live buffer target (ms), `sound=webcodecs|mse` how
 * WebCodecs transports play sound, `h264=annexb|avcc` how ws-nal feeds
 * H.264 to the decoder, `debug=1` opens the stats.
 */
import { afterEarlyPicture, dropEarlySocket } from './early-socket.js';
import { definePolycastPlayer, PolycastPlayerElement } from './element.js';
import type { PolycastStats } from './stats/player-stats.js';
import { encodeStreamPath, streamPathFromPathname } from './stream-path.js';

export { PolycastPlayer, type PolycastPlayerOptions } from './player.js';
export { PolycastPlayerElement, definePolycastPlayer } from './element.js';
export type { PlayerState, PolycastStats } from './stats/player-stats.js';

declare global {
  interface Window {
    __polycast?: PolycastStats;
  }
}

function bootPlayerPage(element: PolycastPlayerElement): void {
  const query = new URLSearchParams(location.search);
  const path = streamPathFromPathname(location.pathname);
  if (path) document.title = `${path} · Polycast`;
  window.__polycast = element.player.stats;
  element.player.debug = query.get('debug') === '1';
  const buffer = query.get('buffer');
  if (buffer !== null) element.player.setLiveBuffer(Number(buffer));
  if (query.has('sound')) element.player.setSound(query.get('sound'));
  if (query.has('h264')) element.player.setH264Form(query.get('h264'));
  element.player.setTransport(query.get('transport'), query.get('protocol'));
  element.setAttribute('src', `/${encodeStreamPath(path)}`);
}

/** How long the player page's start may wait for its early decoder's first picture to be on screen (early-socket.ts). */
const EARLY_PICTURE_WAIT_MS = 80;

function boot(): void {
  definePolycastPlayer();
  if (document.body?.dataset['polycastPage'] === 'player') {
    const element = document.querySelector('polycast-player');
    if (element instanceof PolycastPlayerElement) bootPlayerPage(element);
    // The player has chosen and connected: a socket the page opened ahead that it did not take is not needed.
    dropEarlySocket();
  }
}

/** The player page runs this module from its head script, which may be before the body has been parsed. */
function whenParsed(run: () => void): void {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', run, { once: true });
  else run();
}

// Synchronous unless the player page's head script is decoding ahead: then once its first picture is on screen.
afterEarlyPicture(() => whenParsed(boot), EARLY_PICTURE_WAIT_MS);
