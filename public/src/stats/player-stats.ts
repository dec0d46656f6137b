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
  transport: string | null;
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
  reconnects: number;
  log: string[];
}

const LOG_LIMIT = 200;

export function createStats(path: string): PolycastStats {
  return {
    state: 'idle',
    detail: '',
    transport: null,
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
    reconnects: 0,
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

  constructor(readonly stats: PolycastStats) {}

  log(message: string): void {
    const log = this.stats.log;
    log.push(`${(performance.now() / 1000).toFixed(3)} ${message}`);
    if (log.length > LOG_LIMIT) log.splice(0, log.length - LOG_LIMIT);
  }

  frameDecoded(): void {
    this.stats.framesDecoded++;
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

  connectionEnded(): void {
    this.serverDroppedBefore += this.serverDroppedNow;
    this.serverDroppedNow = 0;
    this.latency.clear();
    this.stats.latencyMs = null;
    this.stats.rttMs = null;
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
