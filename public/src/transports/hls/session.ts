/**
 * An `hls` session: `/<path>/index.m3u8` into the player's `<video>`,
 * natively or through hls.js (see `../hls.ts` for which). Latency is the
 * wall clock minus the `EXT-X-PROGRAM-DATE-TIME` of the frame on screen,
 * which the server stamps with its clock when the frame arrived: the
 * figure is right to within the offset between the two clocks.
 */
import type HlsType from 'hls.js';
import type { ErrorData } from 'hls.js';
import { encodeStreamPath } from '../../stream-path.js';
import { hlsPlaybackHere, type HlsPlayback } from '../hls.js';
import type { SessionCapabilities, TransportContext, TransportSession } from '../types.js';
import { mediaErrorReport, reportEnd, type EndReport } from '../session-end.js';
import { bindElementMute } from '../../render/element-mute.js';
import { isWebKitEngine } from '../../engine.js';

const TICK_MS = 250;

class HlsSession implements TransportSession {
  readonly capabilities: SessionCapabilities = { input: false, audio: true, videoToggle: false, keyframesOnly: false };
  private readonly video: HTMLVideoElement;
  private readonly url: string;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly unsubscribeMute: () => void;
  private hls: HlsType | null = null;
  private presented: number | null = null;
  private playing = false;
  private finished = false;

  constructor(
    private readonly context: TransportContext,
    private readonly playback: HlsPlayback,
  ) {
    const { video, audio, recorder, stream } = context;
    this.video = video;
    this.url = new URL(`/${encodeStreamPath(stream.path)}/index.m3u8`, stream.origin).href;
    video.playsInline = true;
    this.unsubscribeMute = bindElementMute(video, audio);
    video.addEventListener('error', this.onVideoError);
    recorder.stats.transportDetail = playback;
    recorder.log(`hls: ${this.url} (${playback})`);
    context.events.state('connecting');
    this.timer = setInterval(() => this.tick(), TICK_MS);
    void this.load();
  }

  sendInput(): void {
    // HLS carries no way back; the player's ws-nal input channel does.
  }

  setVideoEnabled(): void {
    // Pictures and sound are one HTTP stream here; the capability says so.
  }

  setKeyframesOnly(): void {}

  close(): void {
    this.finish(1000, 'closed by the player', null);
  }

  private readonly onVideoError = (): void => {
    const error = this.video.error;
    this.mediaFailed(`video element error: ${error?.message || error?.code}`);
  };

  private async load(): Promise<void> {
    if (this.playback === 'native') {
      this.video.src = this.url;
      this.play();
      return;
    }
    // The light build (no subtitles, DRM or alternate audio) is all a live path needs; it shares the full build's types.
    const { default: Hls } = (await import('hls.js/light' as string)) as typeof import('hls.js');
    if (this.finished) return;
    if (!Hls.isSupported()) return this.fail('hls.js: this browser lacks what it needs (MSE with H.264)');
    // Catching up by rate is smooth, but WebKit unmutes and re-buffers on every rate change: there hls.js seeks instead.
    const hls = new Hls({ lowLatencyMode: true, backBufferLength: 10, maxLiveSyncPlaybackRate: isWebKitEngine() ? 1 : 1.2 });
    this.hls = hls;
    hls.on(Hls.Events.ERROR, (_event: unknown, data: ErrorData) => this.hlsError(data));
    hls.on(Hls.Events.MANIFEST_PARSED, () => this.play());
    hls.attachMedia(this.video);
    hls.loadSource(this.url);
  }

  private hlsError(data: ErrorData): void {
    if (!data.fatal || this.finished) return;
    const status = data.response?.code;
    if (status === 404 && !this.playing) {
      // No publisher yet, or no HLS on this server: either way another transport (or a later retry) is the answer.
      this.finish(4000, 'no HLS playlist for this path (HTTP 404)', 'closed');
      return;
    }
    const reason = `hls.js: ${data.details}${status ? ` (HTTP ${status})` : ''}${data.error?.message ? `: ${data.error.message}` : ''}`;
    this.mediaFailed(reason);
  }

  private play(): void {
    this.video.play().catch((err: Error) => {
      if (!this.finished) this.context.recorder.log(`hls: play() refused: ${err.name}: ${err.message}`);
    });
  }

  private tick(): void {
    const { video, context } = this;
    const ranges = video.buffered;
    const ahead = ranges.length > 0 ? Math.max(0, ranges.end(ranges.length - 1) - video.currentTime) * 1000 : null;
    context.recorder.playback(ahead, video.playbackRate, video.currentTime);
    const quality = video.getVideoPlaybackQuality?.();
    const shown = quality ? quality.totalVideoFrames - quality.droppedVideoFrames : null;
    if (shown === null) return;
    const count = this.presented === null || shown < this.presented ? 0 : shown - this.presented;
    this.presented = shown;
    if (count === 0) return;
    const now = performance.now();
    const latency = this.latencyMs();
    for (let i = 0; i < count; i++) context.recorder.framePainted(now, video.videoWidth, video.videoHeight, latency);
    context.recorder.frameDecoded(count);
    if (!this.playing) {
      this.playing = true;
      context.events.state('playing');
    }
  }

  /** Wall clock − program date of the frame on screen. */
  private latencyMs(): number | null {
    let date: number | null = null;
    if (this.hls) date = this.hls.playingDate?.getTime() ?? null;
    else {
      const start = (this.video as HTMLVideoElement & { getStartDate?: () => Date }).getStartDate?.().getTime();
      if (start !== undefined && Number.isFinite(start)) date = start + this.video.currentTime * 1000;
    }
    return date === null ? null : Date.now() - date;
  }

  private mediaFailed(reason: string): void {
    this.finish(4001, reason, mediaErrorReport(this.playing));
  }

  private fail(reason: string): void {
    this.finish(4001, reason, 'failed');
  }

  private finish(code: number, reason: string, report: EndReport): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    this.unsubscribeMute();
    this.video.removeEventListener('error', this.onVideoError);
    this.hls?.destroy();
    this.hls = null;
    if (this.playback === 'native') {
      this.video.removeAttribute('src');
      this.video.load();
    }
    this.context.recorder.log(`hls closed: ${code} ${reason}`);
    reportEnd(this.context.events, report, code, reason);
  }
}

export function connect(context: TransportContext): TransportSession {
  return new HlsSession(context, hlsPlaybackHere() ?? 'hls.js');
}
