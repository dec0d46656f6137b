/**
 * What the player needs from a transport. Transports differ in how media
 * reaches the screen (WebCodecs, MSE, images), so each one owns its whole
 * pipeline; the player only hands over the surfaces and listens to states.
 */
import type { AudioOutput } from '../render/audio-output.js';
import type { CanvasSurface } from '../render/canvas-surface.js';
import type { StatsRecorder } from '../stats/player-stats.js';
import type { StreamLocation } from '../stream-path.js';

/** The states a live connection moves through; the player adds the rest (reconnecting, stopped...). */
export type SessionState = 'connecting' | 'waiting' | 'playing';

export interface SessionEvents {
  state(state: SessionState, detail?: string): void;
  /** The connection is gone for good; the player decides whether and when to reconnect. */
  closed(code: number, reason: string): void;
}

export interface TransportContext {
  readonly stream: StreamLocation;
  readonly surface: CanvasSurface;
  readonly audio: AudioOutput;
  readonly recorder: StatsRecorder;
  readonly events: SessionEvents;
}

export interface TransportSession {
  /** One encoded input message (docs/protocols/ws-nal.md); silently dropped when the transport cannot carry it now. */
  sendInput(message: Uint8Array): void;
  setVideoEnabled(enabled: boolean): void;
  setKeyframesOnly(keyframesOnly: boolean): void;
  /** Tear down without reporting `closed`: the player asked for it. */
  close(): void;
}

export interface TransportDefinition {
  /** The name used in `?transport=` and in the stats. */
  readonly id: string;
  readonly description: string;
  /** Null when this browser can run the transport, else why not. */
  unsupportedReason(): string | null;
  connect(context: TransportContext): TransportSession;
}
