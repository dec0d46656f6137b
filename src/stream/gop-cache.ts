import type { Frame } from './types.js';

/**
 * Frames since the newest video keyframe, so a reader that joins now starts
 * decoding at once instead of waiting up to a GOP for the next keyframe.
 *
 * Audio-only streams keep nothing: every audio frame is a random access point.
 * A publisher that sends no keyframe for a long time must not grow memory
 * without bound, so the cache gives up (and starts empty at the next keyframe)
 * past `maxFrames` or `maxBytes`.
 */
export class GopCache {
  private frames: Frame[] = [];
  private bytes = 0;
  private overflowed = false;

  constructor(
    private readonly maxFrames = 1024,
    private readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  add(frame: Frame): void {
    if (frame.kind === 'video' && frame.key) {
      this.frames = [frame];
      this.bytes = frame.data.byteLength;
      this.overflowed = false;
      return;
    }
    // Frames before the first keyframe (or after an overflow) cannot start a decoder.
    if (this.frames.length === 0 || this.overflowed) return;
    if (this.frames.length >= this.maxFrames || this.bytes + frame.data.byteLength > this.maxBytes) {
      this.clear();
      this.overflowed = true;
      return;
    }
    this.frames.push(frame);
    this.bytes += frame.data.byteLength;
  }

  /** The cached frames in arrival order, starting with a video keyframe (or empty). */
  snapshot(): readonly Frame[] {
    return this.frames.slice();
  }

  /** The keyframe the cache starts with, if it holds one. */
  get keyframe(): Frame | undefined {
    return this.frames[0];
  }

  clear(): void {
    this.frames = [];
    this.bytes = 0;
  }

  get size(): number {
    return this.frames.length;
  }

  get byteLength(): number {
    return this.bytes;
  }
}
