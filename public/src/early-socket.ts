/**
 * A head start for the first picture. The player page opens its ws-nal
 * socket from a few KB of inline script in `<head>` (`early.ts`, inlined by
 * scripts/build-player.mjs) while the browser still fetches and evaluates
 * the bundle. It configures a `VideoDecoder` from the stream hint the server
 * wrote into the page (src/web/player-page.ts), or else once the server's
 * `init` is in, and decodes the GOP cache as it arrives. The first picture
 * goes on screen at once, on a canvas of the page's own over the player element
 * (`EarlyPicture`), and the player starts only after that frame: its
 * start (building its UI, then style, layout and paint) would otherwise hold
 * the decoder's output for tens of milliseconds on the page's one thread.
 *
 * Only a head start: negotiation stays the player's. The page opens the
 * socket only when negotiation will try ws-nal first (forced by
 * `?transport=ws-nal`, or the transport that won last time on this origin);
 * the ws-nal session adopts it only when it asks for the very same URL, and
 * its renderer adopts the decoder only when it would have configured it the
 * same way. Whatever is not adopted is closed (`dropEarlySocket`) once the
 * player has chosen, or after a timeout if the bundle never runs.
 */
import { parseMediaMessage, parseServerText, type VideoInit } from './protocol/ws-nal-wire.js';
import type { H264Form } from './render/h264-form.js';
import { configKey, describedConfig, videoDecoderConfig } from './render/video-config.js';

/** The decoder the page started, until the player's renderer takes it over. */
export interface EarlyVideo {
  readonly decoder: VideoDecoder;
  readonly config: VideoDecoderConfig;
  /** Indexes into `EarlySocket.messages` of the video frames given to the decoder. */
  readonly decoded: Set<number>;
  /** Pictures it output before the player took it (only the newest is kept). */
  readonly frames: VideoFrame[];
  /** Pictures it output before the player took it, the ones already let go included. */
  outputs: number;
  /** The first of them, on screen before the player runs; removed once the player shows its own. */
  picture: EarlyPicture | null;
  failed: boolean;
  /** Where output and errors go; the renderer replaces them when it adopts the decoder. */
  output: (frame: VideoFrame) => void;
  error: (err: DOMException) => void;
}

/**
 * A canvas of the page's own, over the player element until the player paints, showing the first picture
 * and then, once per animation frame, the newest the decoder put out, until the player takes over.
 */
export interface EarlyPicture {
  readonly canvas: HTMLCanvasElement;
  readonly context: CanvasRenderingContext2D;
  /** `performance.now()` when the first picture was drawn: the page's first paint. */
  readonly drawnAt: number;
  /** A redraw is waiting for the next animation frame. */
  redrawing: boolean;
}

/** A head start the player's boot waits for (`afterEarlyPicture`): until its first picture is up, or it gave up. */
export interface EarlyStart {
  readonly waiting: Array<() => void>;
  settled: boolean;
  /** Why the player was let run: what a test (or a curious reader of the page) can check the order against. */
  settledBy?: EarlySettle;
}

/** What the inline script leaves on `window`: the socket, and what arrived before anyone listened. */
export interface EarlySocket extends EarlyStart {
  readonly url: string;
  readonly socket: WebSocket;
  /** Messages received before adoption, in order. */
  readonly messages: Array<ArrayBuffer | string>;
  /** `open` fired before adoption. */
  opened: boolean;
  /** The decoder started on the first `init`, or null (no video, not H.264 in Annex B form here, or not yet). */
  video: EarlyVideo | null;
}

/** The first picture was on screen for a frame, or the page stopped decoding ahead for one of these reasons. */
export type EarlySettle = 'picture' | 'decoder error' | 'not decoding' | 'stopped feeding' | 'socket closed' | 'dropped' | 'slow decoder' | 'taken';

/** The global the inline script and the bundle meet at. */
export const EARLY_SOCKET_GLOBAL = '__polycastEarlySocket';
/** The page's picture without a socket of its own (page-picture.ts). */
export const PAGE_PICTURE_GLOBAL = '__polycastPagePicture';
/** A prefetched socket no player took by then is closed: the bundle did not load, or negotiation chose otherwise. */
const UNADOPTED_CLOSE_MS = 10_000;
/** As `VideoRenderer`: past this backlog the player skips to the next keyframe, which is its call, not the page's. */
const MAX_EARLY_BACKLOG = 15;

type EarlyHost = Record<string, unknown>;

function host(): EarlyHost {
  return globalThis as unknown as EarlyHost;
}

/**
 * Inline script side: opens `url`, keeps what arrives until the player
 * adopts the socket and, with `decodeAs` (how the player will feed H.264),
 * starts decoding the video.
 */
export function openEarlySocket(url: string, decodeAs: H264Form | null, hint?: VideoInit): void {
  const socket = new WebSocket(url);
  socket.binaryType = 'arraybuffer';
  const early: EarlySocket = { url, socket, messages: [], opened: false, video: null, waiting: [], settled: false };
  /** Decoding stops at the first thing the player's renderer should judge (a second init, offline, a gap, a backlog). */
  let feeding = decodeAs !== null && typeof VideoDecoder !== 'undefined';
  if (!feeding) settle(early, 'not decoding');
  const state: FeedState = { decodeAs: decodeAs ?? 'annexb', inited: false };
  // The page's hint (the server's view of the stream when it sent the page) configures the decoder while the socket
  // connects; the init decides, and replaces a decoder configured otherwise.
  if (feeding && hint && !describedConfig({ ...hint, description: new Uint8Array(0) }, 'annexb', state.decodeAs)) {
    early.video = startDecoder(videoDecoderConfig(hint, false), (why) => settle(early, why));
  }
  socket.onopen = () => (early.opened = true);
  socket.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
    const index = early.messages.push(event.data) - 1;
    if (feeding) feeding = feed(early, event.data, index, state);
    if (!feeding) {
      // Configured from the hint, and no init came to confirm it: not the player's to adopt.
      if (!state.inited && early.video) {
        closeEarlyVideo(early.video);
        early.video = null;
      }
      settle(early, 'stopped feeding');
    }
  };
  // A socket closed before adoption is simply not adopted; the player opens its own.
  socket.onclose = () => settle(early, 'socket closed');
  host()[EARLY_SOCKET_GLOBAL] = early;
  setTimeout(() => {
    if (host()[EARLY_SOCKET_GLOBAL] === early) dropEarlySocket();
  }, UNADOPTED_CLOSE_MS);
}

export function settle(early: EarlyStart, why: EarlySettle): void {
  if (early.settled) return;
  early.settled = true;
  early.settledBy = why;
  for (const run of early.waiting.splice(0)) run();
}

/**
 * Runs `boot` once the page's first picture is on screen, or at once when there is nothing to wait for; at most
 * `maxWaitMs` later in any case. The player's start (building its UI, then styling, laying out and painting the
 * page) takes the page's thread for tens of milliseconds, and the decoder needs turns of that thread to configure,
 * to take the keyframe and to hand back its picture: letting those through first puts the picture on screen that
 * much sooner.
 */
export function afterEarlyPicture(boot: () => void, maxWaitMs: number): void {
  const early = (host()[EARLY_SOCKET_GLOBAL] ?? host()[PAGE_PICTURE_GLOBAL]) as EarlyStart | undefined;
  if (!early || early.settled) {
    boot();
    return;
  }
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    boot();
  };
  const timer = setTimeout(once, maxWaitMs);
  early.waiting.push(once);
}

interface FeedState {
  /** How the player will feed H.264. */
  readonly decodeAs: H264Form;
  /** The first init has come. */
  inited: boolean;
}

/** Gives the decoder what `VideoRenderer.push` would; false once the rest is better left to the player. */
function feed(early: EarlySocket, data: ArrayBuffer | string, index: number, state: FeedState): boolean {
  try {
    if (typeof data === 'string') {
      const message = parseServerText(data);
      if (message.type === 'hello' || message.type === 'pong' || message.type === 'stats') return true;
      if (message.type !== 'init' || state.inited) return false;
      state.inited = true;
      // Length-prefixed input (WebKit's avcC form) is rewritten per frame by the renderer: not started here.
      const wanted = message.video && !describedConfig(message.video, 'annexb', state.decodeAs) ? videoDecoderConfig(message.video, false) : null;
      if (early.video && (wanted === null || configKey(early.video.config) !== configKey(wanted))) {
        closeEarlyVideo(early.video);
        early.video = null;
      }
      if (wanted === null) return false;
      early.video ??= startDecoder(wanted, (why) => settle(early, why));
      return true;
    }
    const video = early.video;
    if (!video) return true;
    if (video.failed) return false;
    const message = parseMediaMessage(data);
    if (message.kind !== 'video') return true;
    const started = video.decoded.size > 0;
    // The renderer drops deltas until a keyframe: they are left to it, as are gaps and backlogs.
    if (!started && !message.keyframe) return true;
    if (started && (message.discontinuity || (message.keyframe && video.decoder.decodeQueueSize > MAX_EARLY_BACKLOG))) return false;
    video.decoder.decode(new EncodedVideoChunk({ type: message.keyframe ? 'key' : 'delta', timestamp: message.ptsUs, data: message.payload }));
    video.decoded.add(index);
    return true;
  } catch {
    if (early.video) early.video.failed = true;
    return false;
  }
}

/** `shown` runs once the first picture has been on screen for a frame, or decoding failed before it. */
export function startDecoder(config: VideoDecoderConfig, shown: (why: 'picture' | 'decoder error') => void): EarlyVideo {
  const video: EarlyVideo = {
    decoder: undefined as unknown as VideoDecoder,
    config,
    decoded: new Set(),
    frames: [],
    outputs: 0,
    picture: null,
    failed: false,
    output: (frame) => {
      video.outputs++;
      for (const older of video.frames.splice(0)) older.close();
      video.frames.push(frame);
      if (video.outputs === 1) {
        video.picture = showEarlyPicture(frame);
        // The boot waits for a frame with the picture in it, then for the task after that frame.
        requestAnimationFrame(() => setTimeout(() => shown('picture'), 0));
      } else if (video.picture) redrawEarlyPicture(video, video.picture);
    },
    error: () => {
      video.failed = true;
      for (const frame of video.frames.splice(0)) frame.close();
      shown('decoder error');
    },
  };
  const decoder = new VideoDecoder({ output: (frame) => video.output(frame), error: (err) => video.error(err) });
  (video as { decoder: VideoDecoder }).decoder = decoder;
  decoder.configure(config);
  return video;
}

/**
 * Draws `frame` on a canvas laid out as the player's (the whole viewport, letterboxed), over the player element: the
 * player takes it away when it paints a picture of its own. Null where there is no body yet or the canvas fails.
 */
function showEarlyPicture(frame: VideoFrame): EarlyPicture | null {
  const body = document.body;
  if (!body) return null;
  try {
    const canvas = document.createElement('canvas');
    canvas.dataset['polycastEarly'] = '';
    canvas.setAttribute('aria-hidden', 'true');
    // Above the player element: once built, it is black until its own first picture.
    canvas.style.cssText = 'position:fixed;inset:0;z-index:1;width:100%;height:100%;object-fit:contain;pointer-events:none;background:#000';
    canvas.width = frame.displayWidth;
    canvas.height = frame.displayHeight;
    const context = canvas.getContext('2d', { alpha: false, desynchronized: true });
    if (!context) return null;
    context.drawImage(frame, 0, 0, canvas.width, canvas.height);
    body.prepend(canvas);
    return { canvas, context, drawnAt: performance.now(), redrawing: false };
  } catch {
    return null;
  }
}

/** The newest picture at the next animation frame: the picture moves until the player takes over (it empties `frames`). */
function redrawEarlyPicture(video: EarlyVideo, picture: EarlyPicture): void {
  if (picture.redrawing) return;
  picture.redrawing = true;
  requestAnimationFrame(() => {
    picture.redrawing = false;
    const newest = video.frames[video.frames.length - 1];
    if (newest === undefined || video.failed || !picture.canvas.isConnected) return;
    try {
      picture.context.drawImage(newest, 0, 0, picture.canvas.width, picture.canvas.height);
    } catch {
      // A picture the player may still paint; the page's canvas just keeps the one before.
    }
  });
}

/** Takes the page's first picture off the screen: the player shows its own now, or will. */
export function removeEarlyPicture(video: EarlyVideo): void {
  video.picture?.canvas.remove();
}

/**
 * The prefetched socket for `url`, if there is one still connecting or open;
 * the caller takes over its handlers and replays `messages` (and offers
 * `video` to its renderer). Taken at most once.
 */
export function adoptEarlySocket(url: string): EarlySocket | null {
  const early = host()[EARLY_SOCKET_GLOBAL] as EarlySocket | undefined;
  if (!early || early.url !== url) return null;
  delete host()[EARLY_SOCKET_GLOBAL];
  const state = early.socket.readyState;
  if (state !== WebSocket.CONNECTING && state !== WebSocket.OPEN) {
    if (early.video) closeEarlyVideo(early.video);
    return null;
  }
  return early;
}

/** Closes the page's decoder and its pictures (not adopted, or not needed). */
export function closeEarlyVideo(video: EarlyVideo): void {
  video.failed = true;
  removeEarlyPicture(video);
  for (const frame of video.frames.splice(0)) frame.close();
  video.output = (frame) => frame.close();
  video.error = () => undefined;
  if (video.decoder.state !== 'closed') video.decoder.close();
}

/** Closes a prefetched socket that was not adopted (negotiation chose another transport or URL). */
export function dropEarlySocket(): void {
  const early = host()[EARLY_SOCKET_GLOBAL] as EarlySocket | undefined;
  if (!early) return;
  delete host()[EARLY_SOCKET_GLOBAL];
  early.socket.onopen = early.socket.onmessage = early.socket.onclose = null;
  settle(early, 'dropped');
  if (early.video) closeEarlyVideo(early.video);
  if (early.socket.readyState === WebSocket.CONNECTING || early.socket.readyState === WebSocket.OPEN) early.socket.close(1000, 'not needed');
}
