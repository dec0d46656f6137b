/**
 * What the player needs from a transport. Transports differ in how media
 * reaches the screen (WebCodecs, MSE, images), so each one owns its whole
 * pipeline; the player only hands over the surfaces and listens to states.
 */
import type { AudioOutput } from '../render/audio-output.js';
import type { H264Form } from '../render/h264-form.js';
import type { SoundPath } from '../render/sound-path.js';
import type { CanvasSurface } from '../render/canvas-surface.js';
import type { StatsRecorder } from '../stats/player-stats.js';
import type { StreamLocation } from '../stream-path.js';

/** The states a live connection moves through; the player adds the rest (reconnecting, stopped...). */
export type SessionState = 'connecting' | 'waiting' | 'playing';

export interface SessionEvents {
  state(state: SessionState, detail?: string): void;
  /** The connection is gone; the player decides whether to reconnect or move on to another transport. */
  closed(code: number, reason: string): void;
  /**
   * This transport cannot play this stream in this browser (a codec MSE
   * refuses, a player module that does not exist): reconnecting would fail
   * the same way, so the player goes straight to the next transport.
   */
  failed(reason: string): void;
  /**
   * It played, then media stopped while the stream is live and the session
   * still open: the transport, not the stream, is stuck (WebKit's
   * WebTransport whose flow-control window never refills). The player moves
   * on to the next transport rather than reconnecting to the same trap.
   */
  stalled(reason: string): void;
}

/** How the player wants the stream from the first message on; transports apply these right after `hello`. */
export interface SessionPreferences {
  readonly videoEnabled: boolean;
  readonly keyframesOnly: boolean;
  /** Play the stream's sound (an input-only ws-nal channel next to an MSE transport must not double it). */
  readonly audio: boolean;
}

export interface TransportContext {
  readonly stream: StreamLocation;
  /** One of the definition's `variants`, or null for transports that have none. */
  readonly variant: string | null;
  readonly surface: CanvasSurface;
  /** For transports that play through Media Source Extensions. */
  readonly video: HTMLVideoElement;
  readonly audio: AudioOutput;
  readonly recorder: StatsRecorder;
  readonly events: SessionEvents;
  readonly preferences: SessionPreferences;
  /** How far ahead of the playhead a buffering transport (MSE) aims to keep its buffer, ms. */
  readonly liveBufferMs: number;
  /** How WebCodecs transports play the sound in this browser (`render/sound-path.ts`); null: they cannot. */
  readonly soundPath: SoundPath | null;
  /** How ws-nal feeds H.264 to the VideoDecoder in this browser (`render/h264-form.ts`). */
  readonly h264Form: H264Form;
}

/** What a live session can do beyond showing pictures; the player plans input and degrading around it. */
export interface SessionCapabilities {
  /** `sendInput` reaches the publisher; otherwise the player opens a ws-nal channel for input. */
  readonly input: boolean;
  /** It plays the stream's sound. */
  readonly audio: boolean;
  /** It has a control channel that stops video and keeps the connection for sound and input. */
  readonly videoToggle: boolean;
  readonly keyframesOnly: boolean;
}

export interface TransportSession {
  readonly capabilities: SessionCapabilities;
  /** One encoded input message (docs/protocols/ws-nal.md); silently dropped when the transport cannot carry it now. */
  sendInput(message: Uint8Array): void;
  setVideoEnabled(enabled: boolean): void;
  setKeyframesOnly(keyframesOnly: boolean): void;
  /** Tear down without reporting `closed`: the player asked for it. */
  close(): void;
}

export type SurfaceKind = 'canvas' | 'video';

export interface TransportDefinition {
  /** The name used in `?transport=` and in the stats. */
  readonly id: string;
  readonly description: string;
  /** Which element shows its pictures. */
  readonly surface: SurfaceKind;
  /** Wire variants (`?protocol=`), preferred first; each is negotiated as its own candidate. */
  readonly variants?: readonly string[];
  /** Null when this browser can run the transport, else why not, in a few words ("no WebTransport"). */
  unsupportedReason(): string | null;
  /** The same for one variant of a transport this browser can run (`wt-raw/webtransport` needs WebTransport). */
  variantUnsupportedReason?(variant: string): string | null;
  /**
   * Variants negotiated only after another transport's candidates, by id:
   * `{ websocket: 'ws-nal' }` puts moq-lite over WebSocket behind ws-nal.
   */
  readonly variantsAfter?: Readonly<Record<string, string>>;
  /** How long an attempt may take to show its first picture before the next transport is tried; default 4 s. */
  readonly connectTimeoutMs?: number;
  connect(context: TransportContext): TransportSession;
}

/** What a transport module loaded on demand (`transports/webtransport/<id>.ts`) exports. */
export interface TransportModule {
  connect(context: TransportContext): TransportSession;
}
