/**
 * The numbers a player exposes, as one plain object kept up to date in place:
 * the overlay reads it, and pages publish it as `window.__polycast` for
 * end-to-end tests and benchmarks, which poll it from outside the page.
 */
import { MovingMedian } from './moving-median.js';
import { RateMeter } from './rate-meter.js';

export type PlayerState =
  | 'idle'
  | 'connecting'
  | 'waiting'
  | 'playing'
  | 'reconnecting'
  | 'unsupported'
  | 'stopped';

export interface PolycastStats {
  state: PlayerState;
  /** Human-readable detail of the state: a close reason, the reconnect countdown, why nothing is supported. */
  detail: string;
  /** What carries the pictures now: the negotiated transport, or `jpeg` once degraded. */
  transport: string | null;
  /** How it runs: variant, socket API, MSE flavour (`rtwebsocket · WebSocketStream · MediaSource`). */
  transportDetail: string;
  /** Transports passed over, each as `id: why` ("wt-raw: no WebTransport"), in the order tried. */
  skipped: string[];
  path: string;
  framesDecoded: number;
  framesPainted: number;
  /** `performance.now()` of the first painted frame, or null. */
  firstPaintAt: number | null;
  lastPaintAt: number | null;
  /** Server receive → paint, moving median, ms; null until the clock offset is known. */
  latencyMs: number | null;
  rttMs: number | null;
  /** Frames lost on the way: dropped by the server for this viewer plus skipped by the player. */
  dropped: number;
  droppedByServer: number;
  width: number;
  height: number;
  fps: number;
  muted: boolean;
  audioFramesPlayed: number;
  audioFramesDropped: number;
  /** How WebCodecs transports play the sound (`webcodecs`, `mse`), null before one configures it. */
  soundPath: 'webcodecs' | 'mse' | null;
  /** MSE sound path: audio buffered ahead of the element's playhead, ms (its latency on top of the network's). */
  soundLagMs: number | null;
  reconnects: number;
  /** MSE: seconds buffered ahead of the playhead (ms), the playback rate, and the playhead itself (s). */
  bufferAheadMs: number | null;
  playbackRate: number | null;
  mediaTime: number | null;
  /** ws-fmp4 over RTWebSocket: messages the server abandoned past their deadline, all connections. */
  abandoned: number;
  /** JPEG polling: the quality and width asked for now. */
  jpegQuality: number | null;
  jpegWidth: number | null;
  /** Set while the network forced a lower mode; only "retry video" clears it. */
  degraded: 'keyframes-only' | 'jpeg' | null;
  degradedReason: string;
  log: string[];
}

const LOG_LIMIT = 200;

export function createStats(path: string): PolycastStats {
  return {
    state: 'idle',
    detail: '',
    transport: null,
    transportDetail: '',
    skipped: [],
    path,
    framesDecoded: 0,
    framesPainted: 0,
    firstPaintAt: null,
    lastPaintAt: null,
    latencyMs: null,
    rttMs: null,
    dropped: 0,
    droppedByServer: 0,
    width: 0,
    height: 0,
    fps: 0,
    muted: true,
    audioFramesPlayed: 0,
    audioFramesDropped: 0,
    soundPath: null,
    soundLagMs: null,
    reconnects: 0,
    bufferAheadMs: null,
    playbackRate: null,
    mediaTime: null,
    abandoned: 0,
    jpegQuality: null,
    jpegWidth: null,
    degraded: null,
    degradedReason: '',
    log: [],
  };
}

/** Everything that changes the stats goes through here, so derived values stay consistent. */
export class StatsRecorder {
  private readonly latency = new MovingMedian();
  private readonly paints = new RateMeter();
  private droppedByPlayer = 0;
  /** Server drop counts are per connection; earlier connections' totals are kept here. */
  private serverDroppedBefore = 0;
  private serverDroppedNow = 0;
  private abandonedBefore = 0;
  private abandonedNow = 0;

  constructor(readonly stats: PolycastStats) {}

  log(message: string): void {
    const log = this.stats.log;
    log.push(`${(performance.now() / 1000).toFixed(3)} ${message}`);
    if (log.length > LOG_LIMIT) log.splice(0, log.length - LOG_LIMIT);
  }

  frameDecoded(count = 1): void {
    this.stats.framesDecoded += count;
  }

  /** A picture the page showed before the player painted (early-socket.ts, page-picture.ts): the first if earlier. */
  firstPictureAt(at: number): void {
    this.stats.firstPaintAt = Math.min(this.stats.firstPaintAt ?? at, at);
  }

  framePainted(now: number, width: number, height: number, latencyMs: number | null): void {
    const s = this.stats;
    s.framesPainted++;
    s.firstPaintAt ??= now;
    s.lastPaintAt = now;
    s.width = width;
    s.height = height;
    this.paints.tick(now);
    s.fps = this.paints.rate(now);
    if (latencyMs !== null) {
      this.latency.add(latencyMs);
      s.latencyMs = this.latency.value;
    }
  }

  /** Lets the fps fall to 0 when frames stop coming, instead of freezing at the last value. */
  refresh(now: number): void {
    this.stats.fps = this.paints.rate(now);
  }

  framesDroppedByPlayer(count: number): void {
    this.droppedByPlayer += count;
    this.updateDropped();
  }

  serverDropped(countThisConnection: number): void {
    this.serverDroppedNow = countThisConnection;
    this.updateDropped();
  }

  /** Pictures now come another way (degraded, or back): earlier latency samples would skew the median. */
  latencyRestarted(): void {
    this.latency.clear();
    this.stats.latencyMs = null;
  }

  serverAbandoned(countThisConnection: number): void {
    this.abandonedNow = countThisConnection;
    this.stats.abandoned = this.abandonedBefore + this.abandonedNow;
  }

  playback(bufferAheadMs: number | null, playbackRate: number | null, mediaTime: number | null): void {
    const s = this.stats;
    s.bufferAheadMs = bufferAheadMs;
    s.playbackRate = playbackRate;
    s.mediaTime = mediaTime;
  }

  jpeg(quality: number | null, width: number | null): void {
    this.stats.jpegQuality = quality;
    this.stats.jpegWidth = width;
  }

  connectionEnded(): void {
    this.serverDroppedBefore += this.serverDroppedNow;
    this.serverDroppedNow = 0;
    this.abandonedBefore += this.abandonedNow;
    this.abandonedNow = 0;
    this.latency.clear();
    this.stats.latencyMs = null;
    this.stats.rttMs = null;
    this.playback(null, null, null);
    this.jpeg(null, null);
  }

  rtt(ms: number | null): void {
    this.stats.rttMs = ms;
  }

  audioPlayed(): void {
    this.stats.audioFramesPlayed++;
  }

  audioDropped(): void {
    this.stats.audioFramesDropped++;
  }

  private updateDropped(): void {
    const s = this.stats;
    s.droppedByServer = this.serverDroppedBefore + this.serverDroppedNow;
    s.dropped = s.droppedByServer + this.droppedByPlayer;
  }
}
