/**
 * Sound through Media Source Extensions, for the browsers where WebCodecs
 * audio is missing or unsafe (every WebKit: `sound-path.ts` says why). AAC
 * frames become fMP4 fragments, written by the server's own muxer
 * (`src/mux/fmp4`, one home for ISO BMFF), one frame each while the browser
 * keeps up and several together when it does not (`mse-audio-batch.ts`), and
 * go to an audio-only SourceBuffer on an `<audio>` element of its own, so that
 * its buffering never holds a picture back.
 *
 * As on the WebCodecs path, nothing is appended while muted. The element is
 * started inside the unmute gesture (iOS plays sound only from one) and kept
 * near the newest audio by seeking when it falls behind, never by
 * `playbackRate`: WebKit unmutes a muted element and re-buffers when the rate
 * changes.
 */
import { aacTrackInfo } from '../../../src/codec/aac.js';
import { createInitSegment, FragmentWriter, mseMimeType } from '../../../src/mux/fmp4/index.js';
import type { AacTrackInfo } from '../../../src/stream/types.js';
import { mediaSourceApi, type MediaSourceApi } from '../browser-apis.js';
import type { AudioInit, MediaMessage } from '../protocol/ws-nal-wire.js';
import type { StatsRecorder } from '../stats/player-stats.js';
import type { AudioOutput } from './audio-output.js';
import { MseAudioBatch } from './mse-audio-batch.js';
import { MseSink } from './mse-sink.js';
import type { SoundRenderer } from './sound.js';

/** Buffered audio ahead of the playhead beyond this is latency nobody asked for: jump forward. */
const MAX_AHEAD_S = 0.4;
/** Where a jump lands, behind the newest audio: enough for the element not to run dry at once. */
const JUMP_TARGET_AHEAD_S = 0.15;
const CHECK_INTERVAL_MS = 200;
/** Media behind the playhead is removed in steps (MseSink trims when this much has piled up). */
const KEEP_BEHIND_S = 3;
const TRACK_KEY = 'audio';

export class MseAudioRenderer implements SoundRenderer {
  private readonly element: HTMLAudioElement;
  private readonly api: MediaSourceApi | null = mediaSourceApi();
  private sink: MseSink | null = null;
  private batch: MseAudioBatch | null = null;
  private track: AacTrackInfo | null = null;
  /** The sink holds a MediaSource for `track`; set up on the first unmute, not before. */
  private ready = false;
  private readonly unsubscribe: () => void;
  private readonly timer: ReturnType<typeof setInterval>;
  private failed = false;

  constructor(
    private readonly output: AudioOutput,
    private readonly recorder: StatsRecorder,
  ) {
    this.element = document.createElement('audio');
    this.element.preload = 'auto';
    this.element.muted = output.muted;
    recorder.stats.soundPath = 'mse';
    // Synchronous on every unmute click: `play()` must be called inside the gesture.
    this.unsubscribe = output.subscribe((muted) => this.followMute(muted));
    this.timer = setInterval(() => this.keepLive(), CHECK_INTERVAL_MS);
  }

  configure(init: AudioInit): void {
    if (!this.api) return this.fail('no MediaSource in this browser');
    if (!init.codec.startsWith('mp4a.') || !init.description) return this.fail(`cannot wrap ${init.codec} for MSE`);
    let track: AacTrackInfo;
    try {
      track = aacTrackInfo(init.description);
    } catch (err) {
      return this.fail(`unreadable AudioSpecificConfig: ${(err as Error).message}`);
    }
    const mime = mseMimeType({ audio: track });
    if (!this.api.isTypeSupported(mime)) return this.fail(`${this.api.name} does not play ${mime}`);
    this.failed = false;
    this.track = track;
    this.ready = false;
    this.recorder.log(`audio ${init.codec} ${init.sampleRate} Hz ${init.numberOfChannels} ch through ${this.api.name} (audio-only SourceBuffer)`);
    if (!this.output.muted) this.start();
  }

  push(message: MediaMessage): void {
    if (this.output.muted || !this.track || this.failed) return;
    if (!this.ready) this.start();
    this.batch?.push(message.ptsUs, message.payload);
  }

  reanchor(): void {
    // The muxer's timeline bridges a publisher restart; `keepLive` jumps over any gap it leaves.
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
    this.sink?.close();
    this.sink = null;
    this.batch = null;
    this.element.pause();
    this.recorder.stats.soundLagMs = null;
  }

  /** A fresh MediaSource and muxer timeline for the current track. */
  private start(): void {
    if (!this.api || !this.track) return;
    this.sink?.close();
    const tracks = { audio: this.track };
    const sink = new MseSink(this.element, this.api, {
      drained: () => undefined,
      idle: () => {
        if (this.sink === sink) this.batch?.flush();
      },
      dropped: (count, why) => {
        for (let i = 0; i < count; i++) this.recorder.audioDropped();
        this.recorder.log(`audio segments dropped: ${why}`);
      },
      error: (message) => this.fail(message),
    });
    sink.configure([{ key: TRACK_KEY, mime: mseMimeType(tracks), init: createInitSegment(tracks), hasVideo: false }]);
    this.sink = sink;
    this.batch = new MseAudioBatch(sink, new FragmentWriter(tracks), TRACK_KEY, (frames) => {
      for (let i = 0; i < frames; i++) this.recorder.audioPlayed();
    });
    this.ready = true;
    this.play();
  }

  private followMute(muted: boolean): void {
    this.element.muted = muted;
    if (muted) {
      this.element.pause();
      return;
    }
    if (this.track && !this.ready) this.start();
    else this.play();
  }

  private play(): void {
    if (this.output.muted) return;
    this.element.play().catch((err: Error) => {
      // NotAllowedError outside a gesture: the next unmute click starts it.
      if (err.name !== 'AbortError') this.recorder.log(`audio element refused to play: ${err.name}: ${err.message}`);
    });
  }

  /** Jump to near the newest audio when the element has fallen behind (start-up, stalls, a publisher restart). */
  private keepLive(): void {
    const sink = this.sink;
    if (!sink || this.output.muted) return;
    const ranges = this.element.buffered;
    if (ranges.length === 0) return;
    const end = ranges.end(ranges.length - 1);
    const now = this.element.currentTime;
    const ahead = end - now;
    this.recorder.stats.soundLagMs = Math.round(ahead * 1000);
    const outside = now < ranges.start(ranges.length - 1) || ahead < 0;
    if (ahead > MAX_AHEAD_S || outside) {
      this.element.currentTime = Math.max(ranges.start(ranges.length - 1), end - JUMP_TARGET_AHEAD_S);
    }
    if (this.element.paused) this.play();
    sink.trimBehind(this.element.currentTime, KEEP_BEHIND_S);
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.recorder.log(`no sound: ${message}`);
    this.sink?.close();
    this.sink = null;
    this.batch = null;
    this.ready = false;
  }
}
