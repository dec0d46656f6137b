/**
 * Input (keyboard, mouse) always travels on a ws-nal socket: the server
 * relays what arrives on `/<path>/ws/nal` to `/<path>/ws/input`, and no other
 * transport has an input path. When pictures come another way, this opens a
 * ws-nal socket just for input and turns its video off right after `hello`.
 *
 * The server has no switch for audio, so it keeps coming (about 100 kbit/s).
 * It is played only when the picture transport has no sound of its own
 * (JPEG); next to an MSE transport, which plays the stream's sound itself,
 * it is dropped unread rather than heard twice.
 */
import type { AudioOutput } from './render/audio-output.js';
import type { CanvasSurface } from './render/canvas-surface.js';
import type { SoundPath } from './render/sound-path.js';
import type { StatsRecorder } from './stats/player-stats.js';
import type { StreamLocation } from './stream-path.js';
import { RetryingSession } from './transports/retrying-session.js';
import { wsNalTransport } from './transports/ws-nal.js';

export interface InputChannelOptions {
  readonly stream: StreamLocation;
  readonly surface: CanvasSurface;
  readonly video: HTMLVideoElement;
  readonly audio: AudioOutput;
  readonly recorder: StatsRecorder;
  readonly playAudio: boolean;
  readonly soundPath: SoundPath | null;
}

export class InputChannel {
  readonly playAudio: boolean;
  private readonly connection: RetryingSession;

  constructor(options: InputChannelOptions) {
    this.playAudio = options.playAudio;
    const { recorder } = options;
    recorder.log(`input channel over ws-nal (video off, sound ${options.playAudio ? 'played' : 'ignored'})`);
    this.connection = new RetryingSession(
      (events) =>
        wsNalTransport.connect({
          stream: options.stream,
          variant: null,
          surface: options.surface,
          video: options.video,
          audio: options.audio,
          recorder,
          liveBufferMs: 0,
          soundPath: options.soundPath,
          // Video is off on this channel: no decoder is ever configured.
          h264Form: 'annexb',
          preferences: { videoEnabled: false, keyframesOnly: false, audio: options.playAudio },
          events,
        }),
      (message) => recorder.log(`input channel: ${message}`),
    );
  }

  sendInput(message: Uint8Array): void {
    this.connection.current?.sendInput(message);
  }

  close(): void {
    this.connection.close();
  }
}
