/**
 * The player page's inline head script (scripts/build-player.mjs inlines it
 * into dist/player.html): opens the ws-nal socket before the bundle has been
 * fetched and evaluated, when negotiation is bound to try ws-nal first,
 * configures the decoder from the page's stream hint, decodes the GOP cache
 * as it arrives and shows the first picture before the player starts
 * (early-socket.ts). When wt-raw over WebTransport is bound to go first, it
 * opens that session instead, for the player to adopt (early-webtransport.ts),
 * and, as for any transport but ws-nal, shows the keyframe the page carries
 * until the player has a picture of its own (page-picture.ts). Anything else
 * waits for the player, which decides. Mirrors only the rules
 * that make a transport the first candidate: forced by `?transport=`,
 * remembered as last time's winner on this origin (`TransportMemory`), else
 * wt-raw where WebTransport and WebCodecs exist.
 */
import { afterEarlyPicture, openEarlySocket } from './early-socket.js';
import { openEarlyWebTransport } from './early-webtransport.js';
import { showPagePicture } from './page-picture.js';
import { readPageHint, sha256Bytes } from './page-hint.js';
import { wsNalUrl } from './protocol/ws-nal-wire.js';
import { chooseH264Form } from './render/h264-form.js';
import { encodeStreamPath, streamPathFromPathname } from './stream-path.js';
import { browserStore, TransportMemory } from './transports/memory.js';
import { MOQ_PROTOCOLS } from './transports/webtransport/rtt-probe.js';
import { triesUnpinnedFirst, webTransportUrl } from './transports/webtransport/session-options.js';

/** ws-nal goes first, and this browser can decode ahead for it. */
function firstIsWsNal(): boolean {
  return typeof WebSocket !== 'undefined' && typeof VideoDecoder !== 'undefined' && expectedTransport() === 'ws-nal';
}

/**
 * The player's code, as scripts/build-player.mjs names it for this build: the chunk holding main.ts and the chunks
 * it imports. Undefined where the script runs unbuilt (the page then loads the player itself).
 */
declare const POLYCAST_PLAYER_SCRIPTS: PlayerScripts | undefined;

interface PlayerScripts {
  readonly main: string;
  readonly imports: readonly string[];
  /** The chunks negotiation loads on demand for a transport (its own and those it imports). */
  readonly transports: Readonly<Record<string, readonly string[]>>;
}

/**
 * Loading, compiling and running the player's ~170 KB of modules takes both cores of a small machine for tens of
 * milliseconds: begun with the page, it delays the socket, the decoder and the first picture (in the bench, by 14 ms
 * or more). So the page runs them once its first picture is on screen (it keeps moving on the page's own canvas until
 * the player takes over), or at once when it is not decoding ahead; never later than this after the page started.
 * When the browser has not run this build of the player before (by what the page remembers), the code is fetched at
 * once, so that only compiling waits: a first visit over a real network would otherwise wait for the download too.
 */
const PLAYER_LOAD_WAIT_MS = 300;
/** The main chunk (named by its content) of the player this browser last ran on this origin. */
const PLAYER_CODE_KEY = 'polycast.player-code';

/**
 * The transport negotiation will try first, as far as the page can tell: forced by `?transport=`, last time's
 * winner on this origin, else wt-raw where WebTransport and WebCodecs exist (the order of negotiation.ts).
 */
function expectedTransport(): string | null {
  const forced = new URLSearchParams(location.search).get('transport');
  if (forced) return forced;
  const remembered = new TransportMemory(browserStore()).recall(location.origin);
  if (remembered) return remembered;
  return typeof WebTransport !== 'undefined' && typeof VideoDecoder !== 'undefined' ? 'wt-raw' : null;
}

function codeCached(scripts: { readonly main: string }): boolean {
  try {
    return browserStore()?.getItem(PLAYER_CODE_KEY) === scripts.main;
  } catch {
    return false;
  }
}

function addLink(rel: 'preload' | 'modulepreload', href: string): void {
  const link = document.createElement('link');
  link.rel = rel;
  if (rel === 'preload') {
    link.as = 'script';
    // Module scripts are fetched in CORS mode: a preload in another mode would not be used.
    link.crossOrigin = 'anonymous';
  }
  link.href = href;
  document.head.append(link);
}

/** The chunks of the transport negotiation will try first, as far as the page can tell. */
function firstTransportChunks(scripts: PlayerScripts): readonly string[] {
  const expected = expectedTransport();
  return (expected !== null && scripts.transports[expected]) || [];
}

function fetchPlayer(scripts: PlayerScripts): void {
  for (const href of new Set([scripts.main, ...scripts.imports, ...firstTransportChunks(scripts)])) addLink('preload', href);
}

function runPlayer(scripts: PlayerScripts): void {
  // The first transport's chunk too (WebTransport's bring the moq client, 200 KB): compiled beside the player rather
  // than after negotiation asks for it.
  for (const href of new Set([...scripts.imports, ...firstTransportChunks(scripts)])) addLink('modulepreload', href);
  const script = document.createElement('script');
  script.type = 'module';
  script.src = scripts.main;
  script.onload = () => {
    try {
      browserStore()?.setItem(PLAYER_CODE_KEY, scripts.main);
    } catch {
      // Without storage, every visit fetches the code at once.
    }
  };
  document.head.append(script);
}

/**
 * wt-raw over WebTransport goes first, and the page can open the session the player's first attempt would
 * (open.ts): pinned by the page's certificate hash on an http: page, unpinned on an https: one.
 */
function startEarlyWebTransport(): void {
  const expected = expectedTransport();
  if (expected !== 'wt-raw' && expected !== 'wt-raw/webtransport') return;
  if (typeof WebTransport === 'undefined' || typeof VideoDecoder === 'undefined') return;
  const protocol = new URLSearchParams(location.search).get('protocol');
  if (protocol !== null && protocol !== 'webtransport') return;
  const hash = readPageHint().certificateSha256;
  const pin = triesUnpinnedFirst(location.origin) ? null : hash === undefined ? null : sha256Bytes(hash);
  if (pin === null && !triesUnpinnedFirst(location.origin)) return;
  openEarlyWebTransport(webTransportUrl(location.origin, '/moq'), MOQ_PROTOCOLS, pin);
}

try {
  const path = streamPathFromPathname(location.pathname);
  // Decoded here as the player would feed it (`?h264=`, else per engine: h264-form.ts).
  const h264 = new URLSearchParams(location.search).get('h264');
  if (path !== '' && firstIsWsNal()) openEarlySocket(wsNalUrl({ origin: location.origin, path }), chooseH264Form(h264).form, readPageHint().video);
  else if (path !== '') {
    startEarlyWebTransport();
    // Every other transport needs a session or a segment before its first picture: the page's keyframe goes up first.
    const hint = readPageHint();
    showPagePicture(`${location.origin}/${encodeStreamPath(path)}/ws/nal/keyframe`, hint.video, hint.moqCatalog, chooseH264Form(h264).form);
  }
} catch {
  // Only a head start: the player connects by itself.
}

if (typeof POLYCAST_PLAYER_SCRIPTS !== 'undefined' && POLYCAST_PLAYER_SCRIPTS !== undefined) {
  const scripts = POLYCAST_PLAYER_SCRIPTS;
  let ran = false;
  const run = (): void => {
    if (ran) return;
    ran = true;
    runPlayer(scripts);
  };
  try {
    if (!codeCached(scripts)) fetchPlayer(scripts);
    afterEarlyPicture(run, PLAYER_LOAD_WAIT_MS);
  } catch {
    run();
  }
}
