/**
 * PolycastPlayer: one live stream in one element. It picks a transport,
 * keeps reconnecting with back-off, forwards input, and keeps its stats and
 * UI current; the transport does the media work.
 */
import { InputCapture } from './input/capture.js';
import { InputThrottle } from './input/throttle.js';
import { StatsOverlay } from './overlay.js';
import { ReconnectBackoff } from './reconnect.js';
import { AudioOutput } from './render/audio-output.js';
import { CanvasSurface } from './render/canvas-surface.js';
import { createStats, StatsRecorder, type PlayerState, type PolycastStats } from './stats/player-stats.js';
import { resolveStream, type StreamLocation } from './stream-path.js';
import { chooseTransport, TRANSPORTS } from './transports/registry.js';
import type { SessionState, TransportSession } from './transports/types.js';
import { statusTitle } from './ui/status-text.js';
import { buildView, renderMuteButton, type PlayerView } from './ui/view.js';

export interface PolycastPlayerOptions {
  /** A stream path (`/live/cam1`) or the same on another server (`https://host:4443/live/cam1`). */
  readonly src?: string;
  /** Force one transport by id; otherwise the best one this browser supports. */
  readonly transport?: string | null;
  /** Start with the stats overlay expanded. */
  readonly debug?: boolean;
  /** Send keyboard and mouse input to the publisher (default true). */
  readonly input?: boolean;
}

const UI_REFRESH_MS = 250;

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
  private backoff = new ReconnectBackoff();
  private src: string | null = null;
  private forcedTransport: string | null;
  private stream: StreamLocation | null = null;
  private session: TransportSession | null = null;
  /** Bumped per connection attempt so a late event from an abandoned session changes nothing. */
  private generation = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnectAt: number | null = null;

  constructor(host: HTMLElement, options: PolycastPlayerOptions = {}) {
    const root = host.shadowRoot ?? host.attachShadow({ mode: 'open' });
    this.view = buildView(root);
    this.stats = createStats('');
    this.recorder = new StatsRecorder(this.stats);
    this.surface = new CanvasSurface(this.view.canvas);
    this.overlay = new StatsOverlay(this.view.overlay, options.debug ?? false);
    this.forcedTransport = options.transport ?? null;

    this.throttle = new InputThrottle({
      send: (message) => this.session?.sendInput(message),
      now: () => performance.now(),
      schedule: (run, delayMs) => {
        const timer = setTimeout(run, delayMs);
        return () => clearTimeout(timer);
      },
    });
    this.input =
      options.input === false
        ? null
        : new InputCapture(this.view.canvas, () => this.surface.pictureSize, (event) => {
            if (this.session) this.throttle.push(event);
          });
    if (!this.input) this.view.lockButton.hidden = true;

    this.view.muteButton.addEventListener('click', () => void this.toggleMute());
    this.view.lockButton.addEventListener('click', () => this.input?.lockPointer());
    this.view.fullscreenButton.addEventListener('click', () => void this.toggleFullscreen(host));
    this.uiTimer = setInterval(() => this.render(), UI_REFRESH_MS);
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

  /** Switch transport (null: automatic) and reconnect. */
  setTransport(id: string | null): void {
    if (id === this.forcedTransport) return;
    this.forcedTransport = id;
    if (this.src !== null) this.restart();
  }

  set debug(expanded: boolean) {
    this.overlay.expanded = expanded;
  }

  stop(): void {
    this.endSession();
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
    this.session?.setVideoEnabled(enabled);
  }

  /** Degraded mode for bad networks: only keyframes. */
  setKeyframesOnly(keyframesOnly: boolean): void {
    this.session?.setKeyframesOnly(keyframesOnly);
  }

  private restart(): void {
    this.endSession();
    this.backoff = new ReconnectBackoff();
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
    this.connect();
  }

  private connect(): void {
    this.reconnectTimer = null;
    this.reconnectAt = null;
    const choice = chooseTransport(this.forcedTransport);
    if (!choice.ok) {
      this.stats.transport = null;
      this.setState('unsupported', choice.reason);
      return;
    }
    const generation = ++this.generation;
    this.stats.transport = choice.transport.id;
    this.session = choice.transport.connect({
      stream: this.stream!,
      surface: this.surface,
      audio: this.audio,
      recorder: this.recorder,
      events: {
        state: (state, detail) => {
          if (generation === this.generation) this.sessionState(state, detail ?? '');
        },
        closed: (code, reason) => {
          if (generation === this.generation) this.sessionClosed(code, reason);
        },
      },
    });
  }

  private sessionState(state: SessionState, detail: string): void {
    if (state === 'playing' || state === 'waiting') this.backoff.markHealthy(performance.now());
    this.setState(state, detail);
  }

  private sessionClosed(code: number, reason: string): void {
    this.session = null;
    this.throttle.clear();
    this.recorder.connectionEnded();
    const delay = this.backoff.nextDelayMs(performance.now(), Math.random());
    this.reconnectAt = performance.now() + delay;
    this.setState('reconnecting', code === 4404 ? `no such path: ${this.stats.path}` : reason);
    this.reconnectTimer = setTimeout(() => {
      this.stats.reconnects++;
      this.connect();
    }, delay);
  }

  private endSession(): void {
    this.generation++;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.reconnectAt = null;
    this.throttle.clear();
    if (this.session) {
      this.session.close();
      this.session = null;
      this.recorder.connectionEnded();
    }
  }

  private setState(state: PlayerState, detail: string): void {
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

  private render(): void {
    const { stats, view } = this;
    const now = performance.now();
    this.recorder.refresh(now);
    stats.muted = this.audio.muted;
    const title = statusTitle(stats.state, this.reconnectAt === null ? null : this.reconnectAt - now);
    view.stage.dataset['state'] = stats.state;
    setText(view.statusText, title);
    setText(view.noticeTitle, title);
    setText(view.noticeDetail, this.noticeDetail());
    view.notice.hidden = stats.state === 'playing';
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
