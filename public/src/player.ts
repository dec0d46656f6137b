/**
 * PolycastPlayer: one live stream in one element. A `VideoConnection`
 * negotiates and keeps the transport that carries the pictures; around it
 * the player steps down to keyframes and then JPEG when the network cannot
 * carry video, keeps input flowing whatever carries the pictures, and keeps
 * its stats and UI current. Transports do the media work.
 */
import { InputCapture } from './input/capture.js';
import { InputThrottle } from './input/throttle.js';
import { InputChannel } from './input-channel.js';
import { DegradeController, type DegradeOptions } from './live/degrade.js';
import { StatsOverlay } from './overlay.js';
import { h } from './ui/dom.js';
import { secureHint } from './ui/secure-hint.js';
import { AudioOutput } from './render/audio-output.js';
import { chooseH264Form, type H264FormChoice } from './render/h264-form.js';
import { hlsPlaybackHere } from './transports/hls.js';
import { chooseSoundPath, type SoundPathChoice } from './render/sound-path.js';
import { CanvasSurface } from './render/canvas-surface.js';
import { createStats, StatsRecorder, type PlayerState, type PolycastStats } from './stats/player-stats.js';
import { resolveStream, type StreamLocation } from './stream-path.js';
import { jpegTransport } from './transports/jpeg.js';
import { browserStore, TransportMemory } from './transports/memory.js';
import { TRANSPORTS } from './transports/registry.js';
import { RetryingSession } from './transports/retrying-session.js';
import type { SessionEvents, SessionPreferences, SurfaceKind, TransportContext } from './transports/types.js';
import { statusTitle } from './ui/status-text.js';
import { buildView, renderMuteButton, type PlayerView } from './ui/view.js';
import { VideoConnection } from './video-connection.js';
import { dropPagePicture } from './page-picture.js';

export interface PolycastPlayerOptions {
  /** A stream path (`/live/cam1`) or the same on another server (`https://host:4443/live/cam1`). */
  readonly src?: string;
  /** Force one transport by id; otherwise the best one this browser supports. */
  readonly transport?: string | null;
  /** Force one wire variant (`standard`, `rtwebsocket`) of transports that have several. */
  readonly protocol?: string | null;
  /** Start with the stats overlay expanded. */
  readonly debug?: boolean;
  /** Send keyboard and mouse input to the publisher (default true). */
  readonly input?: boolean;
  /** How far ahead of the playhead MSE transports keep their buffer (default 100 ms). */
  readonly liveBufferMs?: number;
  /** Force how WebCodecs transports play sound (`webcodecs`, `mse`), where the browser can; default: chosen per engine. */
  readonly sound?: string | null;
  /** Force how ws-nal feeds H.264 to the decoder (`annexb`, `avcc`); default: chosen per engine. */
  readonly h264?: string | null;
  readonly degrade?: DegradeOptions;
}

const UI_REFRESH_MS = 250;
const DEFAULT_LIVE_BUFFER_MS = 100;

export class PolycastPlayer {
  static readonly transports: readonly string[] = TRANSPORTS.map((t) => t.id);

  /** Live numbers, updated in place: hold on to the object and read it whenever. */
  readonly stats: PolycastStats;
  private readonly recorder: StatsRecorder;
  private readonly view: PlayerView;
  private readonly overlay: StatsOverlay;
  private readonly surface: CanvasSurface;
  private readonly audio = new AudioOutput();
  private readonly throttle: InputThrottle;
  private readonly input: InputCapture | null;
  private readonly uiTimer: ReturnType<typeof setInterval>;
  private readonly connection: VideoConnection;
  private readonly degrade: DegradeController;
  private liveBufferMs: number;
  private soundPath: SoundPathChoice;
  private h264Form: H264FormChoice;
  private src: string | null = null;
  private forcedTransport: string | null;
  private forcedProtocol: string | null;
  private stream: StreamLocation | null = null;
  /** JPEG pictures while degraded; the picture transport stays connected underneath for sound and input. */
  private jpeg: RetryingSession | null = null;
  /** The picture transport's `transportDetail`, which JPEG's replaces while degraded. */
  private detailUnderJpeg = '';
  private inputChannel: InputChannel | null = null;

  constructor(host: HTMLElement, options: PolycastPlayerOptions = {}) {
    const root = host.shadowRoot ?? host.attachShadow({ mode: 'open' });
    this.view = buildView(root);
    this.stats = createStats('');
    this.recorder = new StatsRecorder(this.stats);
    this.showSecureHint();
    this.surface = new CanvasSurface(this.view.canvas);
    this.overlay = new StatsOverlay(this.view.overlay, options.debug ?? false);
    this.forcedTransport = options.transport ?? null;
    this.forcedProtocol = options.protocol ?? null;
    this.liveBufferMs = options.liveBufferMs ?? DEFAULT_LIVE_BUFFER_MS;
    this.soundPath = this.pickSound(options.sound ?? null);
    this.h264Form = this.pickH264Form(options.h264 ?? null);
    this.degrade = new DegradeController(options.degrade);
    this.connection = new VideoConnection(
      {
        context: (variant, events, preferences) => this.context(variant, events, preferences),
        state: (state, detail) => this.connectionState(state, detail),
        sessionChanged: () => this.sessionChanged(),
      },
      this.recorder,
      new TransportMemory(browserStore()),
    );

    this.throttle = new InputThrottle({
      send: (message) => this.inputTarget()?.sendInput(message),
      now: () => performance.now(),
      schedule: (run, delayMs) => {
        const timer = setTimeout(run, delayMs);
        return () => clearTimeout(timer);
      },
    });
    this.input =
      options.input === false
        ? null
        : new InputCapture(this.view.canvas, () => this.pictureSize(), (event) => {
            if (this.inputTarget()) this.throttle.push(event);
          });
    if (!this.input) this.view.lockButton.hidden = true;

    this.view.muteButton.addEventListener('click', () => void this.toggleMute());
    this.view.lockButton.addEventListener('click', () => this.input?.lockPointer());
    this.view.fullscreenButton.addEventListener('click', () => void this.toggleFullscreen(host));
    this.view.retryButton.addEventListener('click', () => this.retryVideo());
    this.uiTimer = setInterval(() => this.tick(), UI_REFRESH_MS);
    this.render();
    if (options.src) this.load(options.src);
  }

  get muted(): boolean {
    return this.audio.muted;
  }

  /** Play `src`; a no-op when it is already what plays. */
  load(src: string): void {
    if (src === this.src && this.stats.state !== 'stopped' && this.stats.state !== 'idle') return;
    this.src = src;
    this.restart();
  }

  /** Switch transport (null: automatic) and, optionally, its wire variant; reconnects. */
  setTransport(id: string | null, protocol: string | null = this.forcedProtocol): void {
    if (id === this.forcedTransport && protocol === this.forcedProtocol) return;
    this.forcedTransport = id;
    this.forcedProtocol = protocol;
    if (this.src !== null) this.restart();
  }

  /** MSE transports' buffer target; applies from the next connection. */
  setLiveBuffer(ms: number): void {
    if (Number.isFinite(ms) && ms > 0) this.liveBufferMs = ms;
  }

  /** `webcodecs` or `mse` forces how WebCodecs transports play sound (where the browser can); null chooses per engine. Takes effect at the next connection. */
  setSound(forced: string | null): void {
    this.soundPath = this.pickSound(forced);
  }

  /** `annexb` or `avcc` forces how ws-nal feeds H.264 to the decoder; null chooses per engine. Takes effect at the next connection. */
  setH264Form(forced: string | null): void {
    this.h264Form = this.pickH264Form(forced);
  }

  private pickH264Form(forced: string | null): H264FormChoice {
    const choice = chooseH264Form(forced);
    this.recorder.log(`H.264 for ws-nal: ${choice.form} (${choice.reason})`);
    return choice;
  }

  /**
   * Where WebCodecs transports would play without sound (no AudioDecoder and
   * no MSE: iPhones on iOS 16.4–17.0) but the browser plays HLS itself, HLS
   * goes first: sound at HLS's latency beats pictures without it.
   */
  private preferredTransport(): string | null {
    if (this.soundPath.path !== null || hlsPlaybackHere() !== 'native') return null;
    this.recorder.log('no way to play sound with WebCodecs here, but native HLS: hls first');
    return 'hls';
  }

  private pickSound(forced: string | null): SoundPathChoice {
    const choice = chooseSoundPath(forced);
    this.recorder.log(`sound for WebCodecs transports: ${choice.path ?? 'none'} (${choice.reason})`);
    return choice;
  }

  set debug(expanded: boolean) {
    this.overlay.expanded = expanded;
  }

  stop(): void {
    this.connection.stop();
    this.endSideSessions();
    this.throttle.clear();
    this.setState('stopped', '');
  }

  /** Stop for good and release the audio device; the element can be dropped afterwards. */
  destroy(): void {
    this.stop();
    clearInterval(this.uiTimer);
    this.input?.dispose();
    this.audio.close();
  }

  /** Must be called from a user gesture (click, key) the first time: browsers block sound before one. */
  async unmute(): Promise<void> {
    await this.audio.unmute();
    this.recorder.log('unmuted');
    this.render();
  }

  mute(): void {
    this.audio.mute();
    this.recorder.log('muted');
    this.render();
  }

  /** Stop or resume video to save bandwidth; audio and input continue. */
  setVideoEnabled(enabled: boolean): void {
    this.connection.session?.setVideoEnabled(enabled);
  }

  /** Degraded mode for bad networks: only keyframes. */
  setKeyframesOnly(keyframesOnly: boolean): void {
    this.connection.session?.setKeyframesOnly(keyframesOnly);
  }

  /** Leave keyframes-only or JPEG mode and show full video again (the "retry video" button). */
  retryVideo(): void {
    if (this.degrade.level === 'video') return;
    this.recorder.log('retrying video');
    this.leaveDegraded();
    const candidate = this.connection.candidate;
    if (!candidate) {
      this.restart();
      return;
    }
    this.stats.transport = candidate.transport.id;
    this.stats.transportDetail = this.detailUnderJpeg;
    this.showSurface(candidate.transport.surface);
    const session = this.connection.session;
    if (session) {
      session.setKeyframesOnly(false);
      session.setVideoEnabled(true);
      this.setState(this.connection.state ?? 'connecting', '');
      this.syncInputChannel();
    } else {
      this.connection.reconnectNow();
    }
  }

  private leaveDegraded(): void {
    this.degrade.retry();
    this.connection.videoOff = false;
    this.connection.keyframesOnly = false;
    this.stats.degraded = null;
    this.stats.degradedReason = '';
    this.jpeg?.close();
    this.jpeg = null;
    this.recorder.jpeg(null, null);
    this.recorder.latencyRestarted();
  }

  private restart(): void {
    this.connection.stop();
    this.endSideSessions();
    this.throttle.clear();
    this.leaveDegraded();
    try {
      this.stream = resolveStream(this.src ?? '', location.href);
    } catch {
      this.stream = null;
    }
    this.stats.path = this.stream?.path ?? '';
    if (!this.stream || this.stream.path === '') {
      this.setState('unsupported', `no stream path in "${this.src ?? ''}"`);
      return;
    }
    this.connection.start({ stream: this.stream, forced: this.forcedTransport, protocol: this.forcedProtocol, preferred: this.preferredTransport() });
  }

  private context(variant: string | null, events: SessionEvents, preferences: SessionPreferences): TransportContext {
    return {
      stream: this.stream!,
      variant,
      surface: this.surface,
      video: this.view.video,
      audio: this.audio,
      recorder: this.recorder,
      events,
      preferences,
      liveBufferMs: this.liveBufferMs,
      soundPath: this.soundPath.path,
      h264Form: this.h264Form.form,
    };
  }

  private connectionState(state: PlayerState, detail: string): void {
    if (state !== 'playing') this.degrade.interrupt();
    if (state === 'reconnecting') this.throttle.clear();
    if (this.jpeg) {
      // JPEG pictures are what the viewer sees; the connection underneath only carries sound and input.
      this.recorder.log(`${this.connection.candidate?.key ?? 'transport'} under JPEG: ${state}${detail ? `: ${detail}` : ''}`);
      return;
    }
    this.setState(state, detail);
  }

  private sessionChanged(): void {
    const candidate = this.connection.candidate;
    if (candidate && !this.jpeg) this.showSurface(candidate.transport.surface);
    this.syncInputChannel();
  }

  private endSideSessions(): void {
    this.jpeg?.close();
    this.jpeg = null;
    this.inputChannel?.close();
    this.inputChannel = null;
  }

  /** Feeds the degrade controller while video plays, and steps down when it says so. */
  private watchNetwork(now: number): void {
    const session = this.connection.session;
    const candidate = this.connection.candidate;
    if (!session || !candidate || this.jpeg || candidate.transport.id === jpegTransport.id || this.connection.state !== 'playing') return;
    const step = this.degrade.sample(now, { rttMs: this.stats.rttMs, latencyMs: this.stats.latencyMs }, session.capabilities.keyframesOnly);
    if (!step) return;
    this.recorder.log(`degrading to ${step.level}: ${step.reason}`);
    this.stats.degraded = step.level;
    this.stats.degradedReason = step.reason;
    if (step.level === 'keyframes-only') {
      this.connection.keyframesOnly = true;
      session.setKeyframesOnly(true);
    } else {
      this.showJpeg();
    }
  }

  /** JPEG pictures replace the video; the video transport keeps its socket for sound and input where it can. */
  private showJpeg(): void {
    const session = this.connection.session;
    this.connection.videoOff = true;
    if (session?.capabilities.videoToggle) session.setVideoEnabled(false);
    else this.connection.stop();
    this.recorder.latencyRestarted();
    this.detailUnderJpeg = this.stats.transportDetail;
    this.stats.transport = jpegTransport.id;
    this.showSurface(jpegTransport.surface);
    this.jpeg = new RetryingSession(
      (events) => jpegTransport.connect(this.context(null, events, { videoEnabled: true, keyframesOnly: false, audio: false })),
      (message) => this.recorder.log(`jpeg: ${message}`),
      (state, detail) => this.setState(state, detail),
    );
    this.syncInputChannel();
  }

  /**
   * Input needs a ws-nal socket when the picture transport cannot carry it;
   * that socket also plays the sound when nothing else does (JPEG).
   */
  private syncInputChannel(): void {
    const session = this.connection.session;
    if (!this.input || !this.stream) return;
    // Without a picture session (one being built, or reconnecting) there is nothing to decide yet, unless
    // JPEG pictures replaced one that could not stay for input.
    if (!session && (!this.jpeg || this.connection.reconnectAt !== null)) return;
    const needed = !session?.capabilities.input;
    const playAudio = !session?.capabilities.audio;
    if (this.inputChannel && (!needed || this.inputChannel.playAudio !== playAudio)) {
      this.inputChannel.close();
      this.inputChannel = null;
    }
    if (!needed || this.inputChannel) return;
    // A channel for input alone waits until the pictures play: opened beside a starting session, its handshake, init
    // and burst of sound take turns of the page's thread that the first picture needs (tens of ms in the bench).
    if (!playAudio && !this.jpeg && this.connection.state !== 'playing') return;
    this.inputChannel = new InputChannel({
      stream: this.stream,
      surface: this.surface,
      video: this.view.video,
      audio: this.audio,
      // Its RTT and drop counts describe the stream only when it is the one carrying sound.
      recorder: playAudio ? this.recorder : new StatsRecorder({ ...createStats(this.stats.path), log: this.stats.log }),
      playAudio,
      soundPath: this.soundPath.path,
    });
  }

  private inputTarget(): { sendInput(message: Uint8Array): void } | null {
    const session = this.connection.session;
    if (session?.capabilities.input) return session;
    return this.inputChannel;
  }

  private showSurface(kind: SurfaceKind): void {
    this.view.stage.dataset['surface'] = kind;
  }

  private pictureSize(): { width: number; height: number } | null {
    const video = this.view.video;
    if (this.view.stage.dataset['surface'] === 'video') {
      return video.videoWidth > 0 ? { width: video.videoWidth, height: video.videoHeight } : null;
    }
    return this.surface.pictureSize;
  }

  private setState(state: PlayerState, detail: string): void {
    // The page's keyframe stays up only while nothing else is to be seen: a picture of the player's own, or what it says.
    if (state !== 'idle' && state !== 'connecting') {
      const shownAt = dropPagePicture();
      if (shownAt !== null) {
        this.recorder.log(`the page showed the stream's keyframe at ${Math.round(shownAt)} ms`);
        // What the viewer saw first, and when.
        if (state === 'playing') this.recorder.firstPictureAt(shownAt);
      }
    }
    if (state !== this.stats.state || detail !== this.stats.detail) {
      this.recorder.log(`state ${state}${detail ? `: ${detail}` : ''}`);
    }
    this.stats.state = state;
    this.stats.detail = detail;
    this.render();
  }

  private async toggleMute(): Promise<void> {
    try {
      if (this.audio.muted) await this.unmute();
      else this.mute();
    } catch (err) {
      this.recorder.log(`cannot start audio: ${(err as Error).message}`);
    }
  }

  private async toggleFullscreen(host: HTMLElement): Promise<void> {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await host.requestFullscreen();
    } catch (err) {
      this.recorder.log(`full screen refused: ${(err as Error).message}`);
    }
  }

  /** On a plain-HTTP page from another machine, say that low latency needs HTTPS and link there. */
  private showSecureHint(): void {
    const hint = secureHint(location.href, globalThis.isSecureContext);
    if (hint === null) return;
    const link = this.view.secureHint;
    link.href = hint.href;
    link.replaceChildren(h('span', { class: 'long' }, hint.text), h('span', { class: 'short' }, hint.shortText));
    link.setAttribute('aria-label', hint.text);
    link.title = hint.title;
    link.hidden = false;
    this.recorder.log(`insecure page: WebCodecs and WebTransport are unavailable; low latency needs ${hint.href}`);
  }

  private tick(): void {
    this.watchNetwork(performance.now());
    this.render();
  }

  private render(): void {
    const { stats, view } = this;
    const now = performance.now();
    this.recorder.refresh(now);
    stats.muted = this.audio.muted;
    const reconnectAt = this.connection.reconnectAt;
    const title = statusTitle(stats.state, reconnectAt === null || this.jpeg ? null : reconnectAt - now);
    view.stage.dataset['state'] = stats.state;
    setText(view.statusText, title);
    setText(view.noticeTitle, title);
    setText(view.noticeDetail, this.noticeDetail());
    view.notice.hidden = stats.state === 'playing';
    view.degrade.hidden = stats.degraded === null;
    setText(view.degradeText, stats.degraded === 'jpeg' ? `JPEG only: ${stats.degradedReason}` : `Keyframes only: ${stats.degradedReason}`);
    if (view.muteButton.getAttribute('aria-pressed') !== String(stats.muted)) renderMuteButton(view.muteButton, stats.muted);
    this.overlay.update(stats);
  }

  private noticeDetail(): string {
    const { state, detail, path } = this.stats;
    if (state === 'waiting') {
      const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
      return `Playback starts by itself once someone publishes to rtmp://${host}:1935/${path}`;
    }
    return detail;
  }
}

function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
