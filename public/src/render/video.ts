/**
 * H.264 (Annex B, or AVCC configured by its `avcC`) → WebCodecs → canvas,
 * with nothing in between: each decoded frame is painted from the decoder's
 * output callback. Any trouble (decoder error, frames lost upstream, a
 * backlog the decoder cannot clear) is resolved the same way: drop
 * everything and restart at the next keyframe.
 */
import type { MediaMessage, VideoInit } from '../protocol/ws-nal-wire.js';
import type { StatsRecorder } from '../stats/player-stats.js';
import type { CanvasSurface } from './canvas-surface.js';
import type { H264Form } from './h264-form.js';
import { annexBToAvcc, OUT_OF_BAND_NAL_TYPES } from '../../../src/codec/h264.js';

export interface VideoRendererOptions {
  readonly surface: CanvasSurface;
  readonly recorder: StatsRecorder;
  /** Server-receive-to-now for a frame, or null while the clock offset is unknown. */
  readonly latencyMs: (receivedAtUs: number) => number | null;
  readonly onPaint: () => void;
  /** What `push` gets: Annex B (ws-nal) or length-prefixed NAL units (wt-raw), which need the init's `avcC`. */
  readonly input: 'annexb' | 'avcc';
  /** Annex B input only: `avcc` configures the decoder with the init's `avcC` and rewrites each access unit for it (`h264-form.ts`). */
  readonly decodeAs?: H264Form;
}

/** Half a second at 30 fps: beyond that the decoder is not keeping up, and skipping ahead beats lagging. */
const MAX_DECODE_BACKLOG = 15;
/** Receive times waiting for their decoded frame; bounded so frames the decoder swallowed cannot leak. */
const MAX_PENDING = 120;

function configKey(config: VideoDecoderConfig): string {
  const source = config.description;
  const bytes = !source ? [] : ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : new Uint8Array(source);
  // A new SPS/PPS at the same size is a new configuration too.
  return `${config.codec}/${config.codedWidth}x${config.codedHeight}/${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export class VideoRenderer {
  private decoder: VideoDecoder | null = null;
  private config: VideoDecoderConfig | null = null;
  private needKeyframe = true;
  private unsupported = false;
  private readonly receivedAt = new Map<number, number>();
  /** Annex B in, avc1 + avcC to the decoder: each access unit is rewritten. */
  private rewrite = false;

  constructor(private readonly options: VideoRendererOptions) {}

  configure(init: VideoInit): void {
    // Annex B is chosen by leaving `description` out: with an `avcC` (`hvcC`) the decoder expects length-prefixed
    // NAL units. Only H.264 is rewritten for `decodeAs: avcc` (the WebKit workaround of h264-form.ts).
    const { input, decodeAs } = this.options;
    const described = init.description !== undefined && (input === 'avcc' || (decodeAs === 'avcc' && init.codec.startsWith('avc1.')));
    this.rewrite = described && input === 'annexb';
    const config: VideoDecoderConfig = {
      codec: init.codec,
      codedWidth: init.codedWidth,
      codedHeight: init.codedHeight,
      optimizeForLatency: true,
      ...(described ? { description: init.description } : {}),
    };
    const changed = this.config === null || configKey(config) !== configKey(this.config);
    this.config = config;
    this.needKeyframe = true;
    if (changed) {
      this.unsupported = false;
      this.restartDecoder();
      const form = !described ? 'Annex B, parameter sets in band' : this.rewrite ? 'avc1 + avcC, rewritten from Annex B' : 'avc1 + avcC';
      this.options.recorder.log(`video ${config.codec} ${config.codedWidth}x${config.codedHeight} (${form})`);
    }
  }

  push(message: MediaMessage): void {
    if (!this.config || this.unsupported) return;
    if (message.discontinuity) this.needKeyframe = true;
    if (this.needKeyframe && !message.keyframe) {
      this.options.recorder.framesDroppedByPlayer(1);
      return;
    }
    if (message.keyframe && this.decoder && this.decoder.decodeQueueSize > MAX_DECODE_BACKLOG) {
      this.options.recorder.framesDroppedByPlayer(this.decoder.decodeQueueSize);
      this.options.recorder.log(`video decoder behind by ${this.decoder.decodeQueueSize} frames, skipping to keyframe`);
      this.restartDecoder();
    }
    if (!this.decoder || this.decoder.state === 'closed') this.restartDecoder();
    this.needKeyframe = false;
    this.rememberReceivedAt(message.ptsUs, message.receivedAtUs);
    try {
      this.decoder!.decode(
        new EncodedVideoChunk({
          type: message.keyframe ? 'key' : 'delta',
          timestamp: message.ptsUs,
          data: this.rewrite ? annexBToAvcc(message.payload, 4, OUT_OF_BAND_NAL_TYPES) : message.payload,
        }),
      );
    } catch (err) {
      this.recover(err);
    }
  }

  /** Resume cleanly after a pause in the stream (publisher gone, video disabled). */
  waitForKeyframe(): void {
    this.needKeyframe = true;
  }

  close(): void {
    this.closeDecoder();
    this.config = null;
  }

  private restartDecoder(): void {
    this.closeDecoder();
    if (!this.config) return;
    const decoder = new VideoDecoder({
      output: (frame) => this.paint(frame),
      error: (err) => {
        if (this.decoder === decoder) this.recover(err);
      },
    });
    decoder.configure(this.config);
    this.decoder = decoder;
  }

  private closeDecoder(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
    this.receivedAt.clear();
  }

  private recover(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.options.recorder.log(`video decoder error: ${error.name}: ${error.message}`);
    this.closeDecoder();
    this.needKeyframe = true;
    // Retrying a configuration the browser cannot decode would fail again at every keyframe.
    if (error.name === 'NotSupportedError') this.unsupported = true;
  }

  private rememberReceivedAt(ptsUs: number, receivedAtUs: number): void {
    this.receivedAt.set(ptsUs, receivedAtUs);
    if (this.receivedAt.size > MAX_PENDING) {
      const oldest = this.receivedAt.keys().next().value!;
      this.receivedAt.delete(oldest);
    }
  }

  private paint(frame: VideoFrame): void {
    const { recorder, surface } = this.options;
    try {
      recorder.frameDecoded();
      const receivedAtUs = this.receivedAt.get(frame.timestamp);
      this.receivedAt.delete(frame.timestamp);
      surface.paint(frame, frame.displayWidth, frame.displayHeight);
      const latency = receivedAtUs === undefined ? null : this.options.latencyMs(receivedAtUs);
      recorder.framePainted(performance.now(), frame.displayWidth, frame.displayHeight, latency);
    } finally {
      frame.close();
    }
    this.options.onPaint();
  }
}
