/**
 * AAC → WebCodecs → Web Audio. Nothing is decoded while muted: the frames
 * would only be thrown away, and the schedule re-anchors when sound resumes.
 */
import type { AudioInit, MediaMessage } from '../protocol/ws-nal-wire.js';
import type { StatsRecorder } from '../stats/player-stats.js';
import type { AudioOutput } from './audio-output.js';
import { AudioSchedule } from './audio-schedule.js';
import type { SoundRenderer } from './sound.js';

export class AudioRenderer implements SoundRenderer {
  private decoder: AudioDecoder | null = null;
  private config: AudioDecoderConfig | null = null;
  private readonly schedule = new AudioSchedule();
  private wasSilent = true;
  private unsupported = false;

  constructor(
    private readonly output: AudioOutput,
    private readonly recorder: StatsRecorder,
  ) {
    recorder.stats.soundPath = 'webcodecs';
  }

  configure(init: AudioInit): void {
    if (typeof AudioDecoder === 'undefined') {
      // Safari had VideoDecoder years before AudioDecoder: play the pictures, stay silent.
      if (!this.unsupported) this.recorder.log('no AudioDecoder in this browser: no sound on this transport');
      this.unsupported = true;
      return;
    }
    this.config = {
      codec: init.codec,
      sampleRate: init.sampleRate,
      numberOfChannels: init.numberOfChannels,
      ...(init.description ? { description: init.description } : {}),
    };
    this.unsupported = false;
    this.closeDecoder();
    this.schedule.reanchor();
    this.recorder.log(`audio ${init.codec} ${init.sampleRate} Hz ${init.numberOfChannels} ch`);
  }

  push(message: MediaMessage): void {
    if (!this.config || this.unsupported) return;
    if (!this.output.sink) {
      this.wasSilent = true;
      return;
    }
    if (this.wasSilent || message.discontinuity) {
      this.schedule.reanchor();
      this.wasSilent = false;
    }
    if (!this.decoder || this.decoder.state === 'closed') this.openDecoder();
    try {
      this.decoder!.decode(new EncodedAudioChunk({ type: 'key', timestamp: message.ptsUs, data: message.payload }));
    } catch (err) {
      this.fail(err);
    }
  }

  /** The timeline restarts (publisher gone, discontinuity elsewhere): place the next frame afresh. */
  reanchor(): void {
    this.schedule.reanchor();
  }

  close(): void {
    this.closeDecoder();
    this.config = null;
  }

  private openDecoder(): void {
    const decoder = new AudioDecoder({
      output: (data) => this.play(data),
      error: (err) => {
        if (this.decoder === decoder) this.fail(err);
      },
    });
    decoder.configure(this.config!);
    this.decoder = decoder;
  }

  private closeDecoder(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
  }

  private fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.recorder.log(`audio decoder error: ${error.name}: ${error.message}`);
    this.closeDecoder();
    this.schedule.reanchor();
    if (error.name === 'NotSupportedError') this.unsupported = true;
  }

  private play(data: AudioData): void {
    try {
      const sink = this.output.sink;
      if (!sink) {
        this.wasSilent = true;
        return;
      }
      const { context, node } = sink;
      const placement = this.schedule.place(data.timestamp, data.numberOfFrames / data.sampleRate, context.currentTime);
      if (!placement.play) {
        this.recorder.audioDropped();
        return;
      }
      const buffer = context.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
      for (let channel = 0; channel < data.numberOfChannels; channel++) {
        data.copyTo(buffer.getChannelData(channel), { planeIndex: channel, format: 'f32-planar' });
      }
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(node);
      source.start(placement.at);
      this.recorder.audioPlayed();
    } finally {
      data.close();
    }
  }
}
