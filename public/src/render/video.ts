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
import { closeEarlyVideo, removeEarlyPicture, type EarlyVideo } from '../early-socket.js';
import { configKey, describedConfig, videoDecoderConfig } from './video-config.js';

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

export class VideoRenderer {
  private decoder: VideoDecoder | null = null;
  private config: VideoDecoderConfig | null = null;
  private needKeyframe = true;
  private unsupported = false;
  private readonly receivedAt = new Map<number, number>();
  private offered: EarlyVideo | null = null;
  private offeredFromSession = true;
  /** Chunks this renderer gave a decoder. */
  private pushes = 0;
  /** The page's early picture (early-socket.ts), left on screen until this renderer paints one of its own. */
  private earlyPicture: EarlyVideo | null = null;
  /** Annex B in, avc1 + avcC to the decoder: each access unit is rewritten. */
  private rewrite = false;

  constructor(private readonly options: VideoRendererOptions) {}

  /**
   * A decoder the player page started before the player ran: the next `configure` takes it over if it is
   * configured as this renderer would configure it, else closes it. From ws-nal's early socket (early-socket.ts),
   * its pictures are this session's and the newest is painted at once; from the page's keyframe (page-picture.ts,
   * `fromSession` false), they are not, and the renderer paints only what follows its own first push.
   */
  offer(early: EarlyVideo, fromSession = true): void {
    this.offered = early;
    this.offeredFromSession = fromSession;
  }

  /** `early` is the decoder this renderer decodes with: frames it was given need not be pushed again. */
  decodesWith(early: EarlyVideo): boolean {
    return this.decoder !== null && this.decoder === early.decoder;
  }

  configure(init: VideoInit): void {
    const { input, decodeAs } = this.options;
    const described = describedConfig(init, input, decodeAs);
    this.rewrite = described && input === 'annexb';
    const config = videoDecoderConfig(init, described);
    const changed = this.config === null || configKey(config) !== configKey(this.config);
    this.config = config;
    this.needKeyframe = true;
    const offered = this.offered;
    this.offered = null;
    this.options.surface.prepare(config.codedWidth ?? 0, config.codedHeight ?? 0);
    if (changed) {
      this.unsupported = false;
      const adopted = offered !== null && this.adopt(offered, config);
      if (!adopted) this.restartDecoder();
      const form = !described ? 'Annex B, parameter sets in band' : this.rewrite ? 'avc1 + avcC, rewritten from Annex B' : 'avc1 + avcC';
      this.options.recorder.log(`video ${config.codec} ${config.codedWidth}x${config.codedHeight} (${form})${adopted ? ', decoder started by the page' : ''}`);
    } else if (offered) {
      closeEarlyVideo(offered);
    }
  }

  /**
   * `message` went to this renderer's decoder before the player ran (the early decoder, now adopted): only its
   * receive time is kept, for the latency of its picture.
   */
  pushed(message: MediaMessage): void {
    this.needKeyframe = false;
    this.rememberReceivedAt(message.ptsUs, message.receivedAtUs);
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
    this.pushes++;
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
    if (this.offered) closeEarlyVideo(this.offered);
    this.offered = null;
    if (this.earlyPicture) removeEarlyPicture(this.earlyPicture);
    this.earlyPicture = null;
  }

  /** Takes over the page's early decoder if it decodes `config` and has not failed; its newest picture is painted next. */
  private adopt(early: EarlyVideo, config: VideoDecoderConfig): boolean {
    const decoder = early.decoder;
    if (early.failed || decoder.state !== 'configured' || configKey(early.config) !== configKey(config)) {
      closeEarlyVideo(early);
      return false;
    }
    this.closeDecoder();
    this.decoder = decoder;
    early.error = (err) => {
      if (this.decoder === decoder) this.recover(err);
    };
    // The page's own keyframe, still in the decoder, is not a picture of this session's: only what this renderer fed.
    const ownFramesFrom = this.offeredFromSession ? 0 : this.pushes + 1;
    early.output = (frame) => {
      if (this.pushes >= ownFramesFrom) this.paint(frame);
      else frame.close();
    };
    const held = early.frames.splice(0);
    if (!this.offeredFromSession) {
      for (const frame of held) frame.close();
      held.length = 0;
    }
    // Decoded before the player ran and not painted by it: only the newest is (painting counts it).
    if (this.offeredFromSession) this.options.recorder.frameDecoded(early.outputs - held.length);
    // The page's first picture, if it showed one, was the page's first paint.
    if (early.picture) this.options.recorder.firstPictureAt(early.picture.drawnAt);
    // Taken away by this renderer's first paint, whichever decoder makes it: a decoder restarted in between (one
    // that fell behind in a slow start) would otherwise leave the page without a picture until its first output.
    this.earlyPicture = early;
    if (held.length > 0) {
      // After the replay of what arrived before the player ran (same task), so the picture's receive time is known.
      const newest = held[held.length - 1]!;
      queueMicrotask(() => {
        if (this.decoder === decoder) this.paint(newest);
        else newest.close();
      });
    }
    return true;
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
      if (this.earlyPicture) {
        removeEarlyPicture(this.earlyPicture);
        this.earlyPicture = null;
      }
    } finally {
      frame.close();
    }
    this.options.onPaint();
  }
}
