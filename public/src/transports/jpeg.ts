/**
 * The `jpeg` transport: the current picture, polled as `snapshot.jpg`. The
 * last resort, which passes any proxy that lets a web page through. One
 * request at a time (a second would only compete with the first for the
 * same bad link); each picture is decoded before it replaces the last, so
 * the canvas never shows a half-loaded image; quality and width follow how
 * fast pictures come (`JpegQuality`).
 */
import { JpegQuality } from '../live/jpeg-quality.js';
import { snapshotUrl } from '../stream-path.js';
import type { SessionCapabilities, TransportContext, TransportDefinition, TransportSession } from './types.js';

/** At most 20 pictures a second: the server's decoder works for every poller, and more would rarely be new. */
const MIN_INTERVAL_MS = 50;
/** A request into a black hole would otherwise hang the loop for minutes. */
const REQUEST_TIMEOUT_MS = 10_000;
const NOT_LIVE_RETRY_MS = 1000;

type Poll = { readonly next: number } | { readonly stop: true };

interface Picture {
  readonly image: CanvasImageSource;
  readonly width: number;
  readonly height: number;
  release(): void;
}

async function decodePicture(blob: Blob): Promise<Picture> {
  if (typeof createImageBitmap === 'function') {
    const bitmap = await createImageBitmap(blob);
    return { image: bitmap, width: bitmap.width, height: bitmap.height, release: () => bitmap.close() };
  }
  const url = URL.createObjectURL(blob);
  const img = new Image();
  img.src = url;
  try {
    await img.decode();
  } finally {
    URL.revokeObjectURL(url);
  }
  return { image: img, width: img.naturalWidth, height: img.naturalHeight, release: () => undefined };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class JpegSession implements TransportSession {
  readonly capabilities: SessionCapabilities = { input: false, audio: false, videoToggle: false, keyframesOnly: false };
  private readonly quality = new JpegQuality();
  private abort: AbortController | null = null;
  private lastSequence: string | null = null;
  private playing = false;
  private closed = false;

  constructor(private readonly context: TransportContext) {
    context.recorder.stats.transportDetail = 'snapshot.jpg polling';
    context.events.state('connecting');
    void this.run();
  }

  sendInput(): void {
    // Carried by the player's ws-nal input channel.
  }

  setVideoEnabled(): void {
    // Pictures are pulled: not asking is how to stop them.
  }

  setKeyframesOnly(): void {
    // Every snapshot stands alone.
  }

  close(): void {
    this.closed = true;
    this.abort?.abort();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const started = performance.now();
      const poll = await this.poll();
      if ('stop' in poll || this.closed) return;
      await delay(Math.max(poll.next, MIN_INTERVAL_MS - (performance.now() - started)));
    }
  }

  private async poll(): Promise<Poll> {
    const { recorder, events, stream, surface } = this.context;
    const width = this.quality.width(surface.canvas.clientWidth * (globalThis.devicePixelRatio || 1));
    const quality = this.quality.quality;
    recorder.jpeg(quality, width);
    const abort = new AbortController();
    this.abort = abort;
    const timeout = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    const started = performance.now();
    try {
      const response = await fetch(snapshotUrl(stream, quality, width), { cache: 'no-store', signal: abort.signal });
      if (response.status === 200) return await this.picture(response, started);
      const text = (await response.text()).trim();
      switch (response.status) {
        case 503: {
          const retryAfter = Number(response.headers.get('Retry-After'));
          events.state('connecting', text || 'the snapshot decoder is starting');
          return { next: (Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 1) * 1000 };
        }
        case 404:
          if (text.startsWith('no such path')) return this.end(4404, text, 'closed');
          this.playing = false;
          events.state('waiting', text);
          return { next: NOT_LIVE_RETRY_MS };
        case 501:
          return this.end(4001, 'the server has no ffmpeg for snapshots', 'failed');
        default:
          // 4xxx mirrors the HTTP status, as ws-nal's 4404 does.
          return this.end(4000 + (response.status % 1000), `snapshot.jpg answered ${response.status}${text ? `: ${text}` : ''}`, 'closed');
      }
    } catch (err) {
      if (this.closed) return { stop: true };
      const error = err as Error;
      return this.end(1006, error.name === 'AbortError' ? `no snapshot within ${REQUEST_TIMEOUT_MS / 1000} s` : `snapshot request failed: ${error.message}`, 'closed');
    } finally {
      clearTimeout(timeout);
    }
  }

  private async picture(response: Response, started: number): Promise<Poll> {
    const { recorder } = this.context;
    const blob = await response.blob();
    const requestMs = performance.now() - started;
    const ageMs = Number(response.headers.get('X-Frame-Age-Ms'));
    const sequence = response.headers.get('X-Frame-Sequence');
    if (sequence !== null && sequence === this.lastSequence) {
      // The server has no newer picture yet; repainting the same one would fake a frame rate.
      this.quality.record(requestMs);
      return { next: 0 };
    }
    const picture = await decodePicture(blob);
    if (this.closed) {
      picture.release();
      return { stop: true };
    }
    try {
      this.context.surface.paint(picture.image, picture.width, picture.height);
    } finally {
      picture.release();
    }
    this.lastSequence = sequence;
    const now = performance.now();
    this.quality.record(now - started);
    recorder.frameDecoded();
    recorder.framePainted(now, picture.width, picture.height, Number.isFinite(ageMs) ? requestMs + ageMs : null);
    if (!this.playing) {
      this.playing = true;
      this.context.events.state('playing');
    }
    return { next: 0 };
  }

  private end(code: number, reason: string, how: 'closed' | 'failed'): Poll {
    this.closed = true;
    this.context.recorder.log(`jpeg stopped: ${reason}`);
    if (how === 'failed') this.context.events.failed(reason);
    else this.context.events.closed(code, reason);
    return { stop: true };
  }
}

export const jpegTransport: TransportDefinition = {
  id: 'jpeg',
  description: 'JPEG snapshots polled over HTTP, painted on a canvas',
  surface: 'canvas',
  unsupportedReason() {
    return typeof fetch === 'function' ? null : 'no fetch';
  },
  connect: (context) => new JpegSession(context),
};
