/**
 * AAC frames into an audio-only SourceBuffer, as few appends as the browser
 * needs. A frame that finds the SourceBuffer idle goes at once, alone, so a
 * quiet page adds no latency; frames that arrive while an append is still
 * running wait and leave together in one fragment when it ends.
 *
 * Why: one append per frame is 47 appends a second at 48 kHz, and WebKit's
 * MSE sound path, slow to append under load, overflowed its queue ("append
 * queue overflow") and dropped audio. Every append is a parse of a `moof` and
 * a trip through the media pipeline; a fragment of several frames costs about
 * as much as a fragment of one.
 */
import type { FragmentWriter } from '../../../src/mux/fmp4/index.js';
import type { Frame } from '../../../src/stream/types.js';
import type { MseSink } from './mse-sink.js';

/** Frames held behind a running append before they go anyway (about 0.34 s of 48 kHz AAC), so a stuck buffer cannot hoard them. */
export const MAX_HELD_FRAMES = 16;

export class MseAudioBatch {
  private held: Frame[] = [];

  constructor(
    private readonly sink: MseSink,
    private readonly writer: FragmentWriter,
    private readonly key: string,
    /** Frames handed to the sink in one fragment. */
    private readonly appended: (frames: number) => void,
  ) {}

  get heldFrames(): number {
    return this.held.length;
  }

  /** `payload` may be a view into a buffer its owner reuses: it is copied when it must wait. */
  push(ptsUs: number, payload: Uint8Array): void {
    const goesNow = this.held.length === 0 && this.sink.idle(this.key);
    const data = goesNow ? payload : payload.slice();
    this.held.push({ kind: 'audio', dts: ptsUs, pts: ptsUs, key: true, data, receivedAt: 0 });
    if (goesNow || this.held.length >= MAX_HELD_FRAMES) this.flush();
  }

  /** The SourceBuffer went idle (`MseSinkEvents.idle`): what waited leaves in one fragment. */
  flush(): void {
    if (this.held.length === 0) return;
    const frames = this.held;
    this.held = [];
    // The muxer copies every payload into the fragment before returning.
    this.sink.append(this.key, this.writer.fragment('audio', frames), { video: false, keyframe: true });
    this.appended(frames.length);
  }
}
