/**
 * The `ws-nal` transport (docs/protocols/ws-nal.md): H.264 access units and
 * AAC frames over one WebSocket, straight into WebCodecs; input goes back up
 * the same socket.
 */
import { ClockSync } from '../clock-sync.js';
import {
  encodePing,
  encodeSetKeyframesOnly,
  encodeSetVideoEnabled,
  parseMediaMessage,
  parseServerText,
  type MediaMessage,
  type ServerMessage,
  type AudioInit,
  type VideoInit,
  WS_NAL_VERSION,
  wsNalUrl,
} from '../protocol/ws-nal-wire.js';
import { adoptEarlySocket } from '../early-socket.js';
import { createSoundRenderer, type SoundRenderer } from '../render/sound.js';
import { audioDecodeProblem, videoDecodeProblem } from '../render/decoder-support.js';
import { VideoRenderer } from '../render/video.js';
import { wallClockUs } from '../wall-clock.js';
import type { SessionCapabilities, TransportContext, TransportDefinition, TransportSession } from './types.js';

const PING_INTERVAL_MS = 1000;
/**
 * An open socket hears a pong every second and `stats` every two, with or
 * without a publisher; this much silence means the connection is dead and
 * TCP has not noticed yet.
 */
const SILENCE_TIMEOUT_MS = 5000;
/** A handshake into a black hole can otherwise hang for minutes before the browser gives up. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Input is worth little once it is this far behind: the viewer is looking at the past. */
const MAX_INPUT_BUFFERED_BYTES = 64 * 1024;
const CLOSE_CODE_SILENT = 4000;
/** The player leaves: this browser cannot decode the stream (the reason says which codec). */
const CLOSE_CODE_UNDECODABLE = 4001;

class WsNalSession implements TransportSession {
  readonly capabilities: SessionCapabilities;
  private readonly socket: WebSocket;
  private readonly clock = new ClockSync();
  private readonly video: VideoRenderer;
  private readonly audio: SoundRenderer;
  private readonly pingTimer: ReturnType<typeof setInterval>;
  private pingId = 0;
  private lastMessageAt = performance.now();
  private hasVideo = false;
  /** Kept while video is off, so turning it back on can configure the decoder. */
  private videoInit: VideoInit | null = null;
  private playing = false;
  private finished = false;
  private greeted = false;
  private videoEnabled: boolean;
  private keyframesOnly: boolean;

  constructor(private readonly context: TransportContext) {
    const { recorder, preferences } = context;
    this.capabilities = { input: true, audio: preferences.audio, videoToggle: true, keyframesOnly: true };
    this.videoEnabled = preferences.videoEnabled;
    this.keyframesOnly = preferences.keyframesOnly;
    this.video = new VideoRenderer({
      surface: context.surface,
      recorder,
      latencyMs: (receivedAtUs) => this.latencyMs(receivedAtUs),
      onPaint: () => this.markPlaying(),
      input: 'annexb',
      decodeAs: context.h264Form,
    });
    this.audio = createSoundRenderer(context.soundPath, context.audio, recorder);

    const url = wsNalUrl(context.stream);
    // The page may have opened this very socket before the bundle ran (early-socket.ts); pictures only, not an input channel.
    const early = preferences.videoEnabled ? adoptEarlySocket(url) : null;
    recorder.log(`ws-nal connecting to ${url}${early ? ` (opened by the page ${early.opened ? 'and open' : 'and connecting'}, ${early.messages.length} messages waiting)` : ''}`);
    context.events.state('connecting');
    this.socket = early?.socket ?? new WebSocket(url);
    this.socket.binaryType = 'arraybuffer';
    this.socket.onopen = () => this.opened();
    this.socket.onmessage = (event: MessageEvent<ArrayBuffer | string>) => this.receive(event.data);
    this.socket.onclose = (event) => this.finish(event.code, event.reason || closeDescription(event.code), true);
    this.pingTimer = setInterval(() => this.tick(), PING_INTERVAL_MS);
    if (early) {
      // The decoder the page started on the init: the renderer takes it over when it configures the same way.
      if (early.video) this.video.offer(early.video);
      // Replayed before any later event (those are tasks), once the constructor has returned to whoever is building this session.
      queueMicrotask(() => {
        if (this.finished) return;
        if (early.opened) this.opened();
        const video = early.video;
        for (const [index, data] of early.messages.entries()) {
          if (this.finished) return;
          this.receive(data, video !== null && video.decoded.has(index) && this.video.decodesWith(video));
        }
      });
    }
  }

  sendInput(message: Uint8Array): void {
    if (this.socket.readyState !== WebSocket.OPEN || this.socket.bufferedAmount > MAX_INPUT_BUFFERED_BYTES) return;
    this.socket.send(message);
  }

  setVideoEnabled(enabled: boolean): void {
    if (enabled === this.videoEnabled) return;
    this.videoEnabled = enabled;
    if (enabled && this.videoInit) this.video.configure(this.videoInit);
    if (enabled) this.video.waitForKeyframe();
    // Before `hello` the server would not know this viewer yet; `hello` sends the current wishes.
    if (this.greeted) this.sendText(encodeSetVideoEnabled(enabled));
  }

  setKeyframesOnly(keyframesOnly: boolean): void {
    if (keyframesOnly === this.keyframesOnly) return;
    this.keyframesOnly = keyframesOnly;
    if (this.greeted) this.sendText(encodeSetKeyframesOnly(keyframesOnly));
  }

  close(): void {
    this.finish(1000, 'closed by the player', false);
  }

  private opened(): void {
    this.context.recorder.log('ws-nal open');
    this.ping();
  }

  /** `predecoded`: a video frame the page's early decoder, now this session's, was already given. */
  private receive(data: ArrayBuffer | string, predecoded = false): void {
    this.lastMessageAt = performance.now();
    try {
      if (typeof data === 'string') this.handleText(parseServerText(data));
      else this.handleMedia(parseMediaMessage(data), predecoded);
    } catch (err) {
      // Tolerate what this player does not understand; the server is the strict side of the protocol.
      this.context.recorder.log(`ws-nal ignored a message: ${(err as Error).message}`);
    }
  }

  private handleText(message: ServerMessage): void {
    const { recorder, events } = this.context;
    switch (message.type) {
      case 'hello':
        recorder.log(`hello from ${message.server}, protocol ${message.version}, viewer ${message.id}`);
        if (message.version > WS_NAL_VERSION) recorder.log(`ws-nal protocol version ${message.version} is newer than this player's ${WS_NAL_VERSION}`);
        this.greeted = true;
        if (!this.videoEnabled) this.sendText(encodeSetVideoEnabled(false));
        if (this.keyframesOnly) this.sendText(encodeSetKeyframesOnly(true));
        break;
      case 'init':
        this.offline = false;
        this.hasVideo = message.video !== undefined;
        this.videoInit = message.video ?? null;
        // With video off (an input-only channel) there may not even be a VideoDecoder to configure.
        if (message.video && this.videoEnabled) this.video.configure(message.video);
        if (message.audio && this.capabilities.audio) this.audio.configure(message.audio);
        void this.checkDecoders(this.videoEnabled ? message.video : undefined, this.capabilities.audio ? message.audio : undefined);
        if (this.playing) {
          this.playing = false;
          events.state('connecting');
        }
        break;
      case 'offline':
        recorder.log(`offline${message.reason ? `: ${message.reason}` : ''}`);
        this.playing = false;
        this.offline = true;
        this.video.waitForKeyframe();
        this.audio.reanchor();
        events.state('waiting', message.reason);
        break;
      case 'pong':
        this.clock.addSample(message.t, wallClockUs(), message.serverTime);
        recorder.rtt(this.clock.lastRttUs === null ? null : this.clock.lastRttUs / 1000);
        break;
      case 'stats':
        recorder.serverDropped(message.dropped);
        break;
      case 'unknown':
        recorder.log(`ws-nal ignored unknown message type "${message.name}"`);
        break;
    }
  }

  private handleMedia(message: MediaMessage, predecoded = false): void {
    if (message.kind === 'video') {
      // Frames already on the way when video was turned off must not reach a surface someone else now paints.
      if (predecoded) this.video.pushed(message);
      else if (this.videoEnabled) this.video.push(message);
    } else if (this.capabilities.audio) {
      this.audio.push(message);
      if (!this.hasVideo) this.markPlaying();
    }
  }

  /**
   * Leaves this transport for the next one when WebCodecs cannot decode the
   * video (or, with no video, the sound): another transport may still show
   * the stream. Sound it cannot decode beside decodable video is only logged.
   */
  private async checkDecoders(video: VideoInit | undefined, audio: AudioInit | undefined): Promise<void> {
    // H.264 and AAC are what every engine this player supports decodes (e2e-tested per engine): they are not
    // put to a question whose answer, on engines the tests do not reach, is unverified.
    const [videoProblem, audioProblem] = await Promise.all([
      video && !video.codec.startsWith('avc1.') ? videoDecodeProblem(video) : null,
      audio && !audio.codec.startsWith('mp4a.') ? audioDecodeProblem(audio) : null,
    ]);
    if (audioProblem && video) this.context.recorder.log(`no sound on ws-nal: ${audioProblem}`);
    const problem = videoProblem ?? (video ? null : audioProblem);
    if (problem) this.fail(problem);
  }

  private fail(reason: string): void {
    if (this.finished) return;
    this.finish(CLOSE_CODE_UNDECODABLE, reason, false);
    this.context.events.failed(reason);
  }

  /** Between `offline` and the next `init`: pictures still in the decoder belong to the publisher that left. */
  private offline = false;

  private markPlaying(): void {
    if (this.playing || this.finished || this.offline) return;
    this.playing = true;
    this.context.events.state('playing');
  }

  private latencyMs(receivedAtUs: number): number | null {
    const offset = this.clock.offsetUs;
    return offset === null ? null : (wallClockUs() + offset - receivedAtUs) / 1000;
  }

  private tick(): void {
    const silentMs = performance.now() - this.lastMessageAt;
    if (this.socket.readyState === WebSocket.CONNECTING && silentMs > CONNECT_TIMEOUT_MS) {
      this.finish(CLOSE_CODE_SILENT, `no answer from the server within ${CONNECT_TIMEOUT_MS / 1000} s`, true);
    } else if (this.socket.readyState === WebSocket.OPEN && silentMs > SILENCE_TIMEOUT_MS) {
      this.finish(CLOSE_CODE_SILENT, `no data from the server for ${SILENCE_TIMEOUT_MS / 1000} s`, true);
    } else if (this.socket.readyState === WebSocket.OPEN) {
      this.ping();
    }
  }

  private ping(): void {
    this.sendText(encodePing(++this.pingId, wallClockUs()));
  }

  private sendText(text: string): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(text);
  }

  /** Idempotent; a dead socket may never fire `close`, so the session ends here rather than waiting for it. */
  private finish(code: number, reason: string, report: boolean): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.pingTimer);
    this.socket.onopen = this.socket.onmessage = this.socket.onclose = null;
    if (this.socket.readyState === WebSocket.CONNECTING || this.socket.readyState === WebSocket.OPEN) {
      // Browsers accept only 1000 and 3000–4999 from scripts; the reason must fit in 123 bytes.
      this.socket.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason.slice(0, 120));
    }
    this.video.close();
    this.audio.close();
    this.context.recorder.log(`ws-nal closed: ${code} ${reason}`);
    if (report) this.context.events.closed(code, reason);
  }
}

function closeDescription(code: number): string {
  switch (code) {
    case 1000:
      return 'closed by the server';
    case 1001:
      return 'server going away';
    case 1006:
      return 'connection lost';
    default:
      return `closed with code ${code}`;
  }
}

export const wsNalTransport: TransportDefinition = {
  id: 'ws-nal',
  description: 'H.264/HEVC Annex B, AV1, VP9, AAC and Opus over WebSocket, decoded by WebCodecs',
  surface: 'canvas',
  unsupportedReason() {
    if (typeof WebSocket === 'undefined') return 'no WebSocket';
    if (typeof VideoDecoder === 'undefined') {
      return globalThis.isSecureContext === false ? 'WebCodecs needs HTTPS or localhost' : 'no VideoDecoder';
    }
    return null;
  },
  connect: (context) => new WsNalSession(context),
};
