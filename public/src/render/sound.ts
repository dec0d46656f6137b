/**
 * The sound of a WebCodecs transport, whichever way this browser plays it
 * (`sound-path.ts` decides): the transports push AAC frames and do not care.
 */
import type { AudioInit, MediaMessage } from '../protocol/ws-nal-wire.js';
import type { StatsRecorder } from '../stats/player-stats.js';
import { AudioRenderer } from './audio.js';
import { MseAudioRenderer } from './audio-mse.js';
import type { AudioOutput } from './audio-output.js';
import type { SoundPath } from './sound-path.js';

export interface SoundRenderer {
  configure(init: AudioInit): void;
  push(message: MediaMessage): void;
  /** The timeline restarts (publisher gone, discontinuity elsewhere): place the next frame afresh. */
  reanchor(): void;
  close(): void;
}

/** A renderer that plays nothing, for a browser with no way to play the sound (logged once). */
class SilentRenderer implements SoundRenderer {
  private told = false;
  constructor(private readonly recorder: StatsRecorder) {}
  configure(): void {
    if (!this.told) this.recorder.log('no way to play sound in this browser: pictures only');
    this.told = true;
  }
  push(): void {}
  reanchor(): void {}
  close(): void {}
}

export function createSoundRenderer(path: SoundPath | null, output: AudioOutput, recorder: StatsRecorder): SoundRenderer {
  if (path === 'webcodecs') return new AudioRenderer(output, recorder);
  if (path === 'mse') return new MseAudioRenderer(output, recorder);
  return new SilentRenderer(recorder);
}
