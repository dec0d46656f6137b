/**
 * The video element side of an MSE transport: applies the live latency
 * controller's decisions every tick, and turns presented frames into the
 * player's stats. Frames are counted with `requestVideoFrameCallback` where
 * it exists (one callback per composited frame, with its media time), else by
 * polling `getVideoPlaybackQuality`, else by the playhead moving. Where the
 * callback exists but never fires while the playhead moves (WebKitGTK with
 * its DMABuf renderer off, a common GPU workaround), polling takes over: a
 * player that counted no frames would reconnect forever while the video plays.
 *
 * Latency is estimated as how long the presented frame waited here since its
 * segment arrived, plus half the RTT for the way from the server. fMP4
 * carries no server receive time, so unlike ws-nal this leaves out the time
 * a frame queued on the server (bounded there by RTWebSocket deadlines).
 */
import { LiveLatencyController, type BufferedRange, type LiveAction, type LiveLatencyOptions } from '../live/live-latency.js';
import { isWebKitEngine } from '../engine.js';
import type { StatsRecorder } from '../stats/player-stats.js';

export interface LiveVideoOptions {
  readonly video: HTMLVideoElement;
  readonly recorder: StatsRecorder;
  readonly targetMs: number;
  /** How the controller steers toward `targetMs`; its defaults suit a SourceBuffer that carries sound. */
  readonly controller?: Omit<LiveLatencyOptions, 'targetMs'>;
  readonly rttMs: () => number | null;
  /** A frame reached the screen. */
  readonly onFrame: () => void;
}

/**
 * Without sound in it, a SourceBuffer needs far less lead than the player's
 * buffer setting, which is sized for MSE with sound: Chromium plays video
 * alone from one frame ahead. The setting still scales it (100 ms → 40 ms).
 */
const VIDEO_ONLY_BUFFER_SHARE = 0.4;
/**
 * Steering for a video-only SourceBuffer: no sound to pitch-shift, so it may
 * catch up fast; a jump beats seconds of fast-forward after a burst, and the
 * underflow boost stays well below the jump threshold so the two never fight.
 */
const VIDEO_ONLY_STEERING = { maxRate: 1.5, gainPerS: 2, jumpBehindMs: 500, maxBoostMs: 200 } as const;

/**
 * WebKit unmutes a muted element when its `playbackRate` changes (and then
 * refuses `play()` without a gesture), and re-buffers on rate changes: there
 * the playhead is steered by jumps alone, sooner than elsewhere, and a lead
 * that stays 100 ms over the target for 2 s is trimmed by one jump (at rate
 * 1 it would otherwise stay for the whole session). WebKitGTK's GStreamer
 * pipeline settles 70–110 ms ahead whatever the target: a smaller margin
 * only makes it seek again and again.
 */
const JUMPS_ONLY = { minRate: 1, maxRate: 1, jumpBehindMs: 300, trimWindowMs: 2000, trimMarginMs: 100 } as const;

/**
 * Target and steering for an element whose SourceBuffers carry sound
 * (`videoOnly` false) or video alone, in this engine.
 */
export function liveTuning(liveBufferMs: number, videoOnly: boolean, webKit: boolean = isWebKitEngine()): Pick<LiveVideoOptions, 'targetMs' | 'controller'> {
  const targetMs = videoOnly ? Math.round(liveBufferMs * VIDEO_ONLY_BUFFER_SHARE) : liveBufferMs;
  const steering = videoOnly ? VIDEO_ONLY_STEERING : {};
  return { targetMs, controller: webKit ? { ...steering, ...JUMPS_ONLY } : steering };
}

/**
 * Ticks (250 ms) with the playhead moving and no frame callback, before the
 * callback is taken for silent: 3 s, well above the 1 s between pictures
 * in keyframes-only mode.
 */
const SILENT_CALLBACK_TICKS = 12;

/** Arrival times kept for latency lookups: about 10 s of 30 fps video. */
const MAX_ARRIVALS = 300;

export class LiveVideo {
  private readonly video: HTMLVideoElement;
  private readonly controller: LiveLatencyController;
  private arrivals: { readonly t: number; readonly at: number }[] = [];
  private presented: number | null = null;
  private droppedSoFar: number | null = null;
  private closed = false;
  private playRefused = false;
  private counting: 'callback' | 'poll';
  /** Ticks since the last frame callback in which the playhead moved. */
  private movedWithoutCallback = 0;
  private lastPlayhead = Number.NaN;

  constructor(private readonly options: LiveVideoOptions) {
    this.video = options.video;
    this.controller = new LiveLatencyController({ ...options.controller, targetMs: options.targetMs });
    this.counting = 'requestVideoFrameCallback' in this.video ? 'callback' : 'poll';
    if (this.counting === 'callback') this.video.requestVideoFrameCallback((now, meta) => this.frame(now, meta));
  }

  /** The element got a new MediaSource: a new timeline. */
  reset(): void {
    this.controller.reset();
    this.lastPlayhead = Number.NaN;
    this.arrivals = [];
    this.presented = null;
    this.droppedSoFar = null;
  }

  /** A video segment whose first frame decodes at `decodeTimeS` arrived at `at` (performance.now()). */
  noteArrival(decodeTimeS: number, at: number): void {
    const last = this.arrivals[this.arrivals.length - 1];
    if (last && decodeTimeS < last.t) this.arrivals = [];
    this.arrivals.push({ t: decodeTimeS, at });
    if (this.arrivals.length > MAX_ARRIVALS) this.arrivals.shift();
  }

  tick(now: number): void {
    const video = this.video;
    const ranges = bufferedRanges(video);
    for (const action of this.controller.update({ now, currentTime: video.currentTime, ranges, paused: video.paused, seeking: video.seeking })) {
      this.apply(action);
    }
    const ahead = LiveLatencyController.bufferAhead({ currentTime: video.currentTime, ranges });
    this.options.recorder.playback(ahead === null ? null : ahead * 1000, video.playbackRate, video.currentTime);
    const moved = video.currentTime > this.lastPlayhead;
    this.lastPlayhead = video.currentTime;
    if (this.counting === 'callback' && moved && ++this.movedWithoutCallback >= SILENT_CALLBACK_TICKS) {
      this.counting = 'poll';
      this.presented = null;
      this.options.recorder.log('mse: requestVideoFrameCallback never fires here: counting frames by polling');
    }
    if (this.counting === 'poll') this.pollQuality(now, moved);
    this.countDropped();
  }

  close(): void {
    this.closed = true;
    // Only when it changed: WebKit treats any write as a rate change (and unmutes).
    if (this.video.playbackRate !== 1) this.video.playbackRate = 1;
  }

  private apply(action: LiveAction): void {
    const { video, options } = this;
    switch (action.kind) {
      case 'seek':
        if (action.why !== 'start') options.recorder.log(`mse: seek to ${action.to.toFixed(3)} s (${action.why})`);
        video.currentTime = action.to;
        break;
      case 'rate':
        if (Math.abs(video.playbackRate - action.rate) > 0.001) video.playbackRate = action.rate;
        break;
      case 'play':
        video.play().then(
          () => (this.playRefused = false),
          (err: Error) => {
            // Usually autoplay policy; the next tick asks again, the log says it once.
            if (!this.playRefused) options.recorder.log(`mse: play() refused: ${err.name}: ${err.message}`);
            this.playRefused = true;
          },
        );
        break;
    }
  }

  private frame(now: number, meta: VideoFrameCallbackMetadata): void {
    if (this.closed || this.counting !== 'callback') return;
    this.movedWithoutCallback = 0;
    const count = this.presented === null || meta.presentedFrames < this.presented ? 1 : meta.presentedFrames - this.presented;
    this.presented = meta.presentedFrames;
    if (count > 0) this.painted(now, count, meta.width, meta.height, meta.mediaTime);
    this.video.requestVideoFrameCallback((n, m) => this.frame(n, m));
  }

  private pollQuality(now: number, moved: boolean): void {
    const quality = this.video.getVideoPlaybackQuality?.();
    if (!quality) {
      // Nothing counts frames here: a moving playhead at least shows that pictures are being shown.
      if (moved) this.painted(now, 1, this.video.videoWidth, this.video.videoHeight, this.video.currentTime);
      return;
    }
    const shown = quality.totalVideoFrames - quality.droppedVideoFrames;
    const count = this.presented === null || shown < this.presented ? 0 : shown - this.presented;
    this.presented = shown;
    if (count > 0) this.painted(now, count, this.video.videoWidth, this.video.videoHeight, this.video.currentTime);
  }

  private countDropped(): void {
    const dropped = this.video.getVideoPlaybackQuality?.().droppedVideoFrames;
    if (dropped === undefined) return;
    if (this.droppedSoFar !== null && dropped > this.droppedSoFar) this.options.recorder.framesDroppedByPlayer(dropped - this.droppedSoFar);
    this.droppedSoFar = dropped;
  }

  private painted(now: number, count: number, width: number, height: number, mediaTime: number): void {
    const { recorder } = this.options;
    const latency = this.latencyMs(now, mediaTime);
    recorder.frameDecoded(count);
    for (let i = 0; i < count; i++) recorder.framePainted(now, width, height, latency);
    this.options.onFrame();
  }

  private latencyMs(now: number, mediaTime: number): number | null {
    let arrival: { readonly t: number; readonly at: number } | undefined;
    for (let i = this.arrivals.length - 1; i >= 0; i--) {
      if (this.arrivals[i]!.t <= mediaTime + 0.001) {
        arrival = this.arrivals[i];
        break;
      }
    }
    if (!arrival) return null;
    return now - arrival.at + (this.options.rttMs() ?? 0) / 2;
  }
}

function bufferedRanges(video: HTMLVideoElement): BufferedRange[] {
  const out: BufferedRange[] = [];
  const ranges = video.buffered;
  for (let i = 0; i < ranges.length; i++) out.push([ranges.start(i), ranges.end(i)]);
  return out;
}
