/**
 * Picks the quality and width of the next JPEG snapshot from how long the
 * last one took: a frame slower than 500 ms costs 10 % of quality, one faster
 * than 300 ms earns 5 % back, within [20, 90]. Below 2 fps even at the lowest
 * quality, the picture gets narrower instead; width comes back first when
 * frames are fast again, since it was given up last.
 */

export interface JpegQualityOptions {
  readonly initial?: number;
  readonly min?: number;
  readonly max?: number;
  readonly slowMs?: number;
  readonly fastMs?: number;
  /** Each narrowing multiplies the width by this. */
  readonly widthStep?: number;
  readonly minWidthScale?: number;
}

const MIN_WIDTH_PX = 16;
const MAX_WIDTH_PX = 7680;

export class JpegQuality {
  private readonly min: number;
  private readonly max: number;
  private readonly slowMs: number;
  private readonly fastMs: number;
  private readonly widthStep: number;
  private readonly minWidthScale: number;
  private q: number;
  private scale = 1;

  constructor(options: JpegQualityOptions = {}) {
    this.min = options.min ?? 20;
    this.max = options.max ?? 90;
    this.slowMs = options.slowMs ?? 500;
    this.fastMs = options.fastMs ?? 300;
    this.widthStep = options.widthStep ?? 0.75;
    this.minWidthScale = options.minWidthScale ?? 0.25;
    this.q = Math.min(this.max, Math.max(this.min, options.initial ?? 70));
  }

  get quality(): number {
    return this.q;
  }

  /** Fraction of the element's width requested (1 unless frames were too slow at the lowest quality). */
  get widthScale(): number {
    return this.scale;
  }

  /** One frame took `frameMs` from request to decoded picture. */
  record(frameMs: number): void {
    if (frameMs > this.slowMs) {
      if (this.q > this.min) this.q = Math.max(this.min, Math.floor(this.q * 0.9));
      else this.scale = Math.max(this.minWidthScale, this.scale * this.widthStep);
    } else if (frameMs < this.fastMs) {
      if (this.scale < 1) this.scale = Math.min(1, this.scale / this.widthStep);
      else this.q = Math.min(this.max, Math.max(this.q + 1, Math.round(this.q * 1.05)));
    }
  }

  /** The `width` to ask for, given the element's width in device pixels; null when the element has none yet. */
  width(elementDevicePx: number): number | null {
    if (!(elementDevicePx > 0)) return null;
    return Math.min(MAX_WIDTH_PX, Math.max(MIN_WIDTH_PX, Math.round(elementDevicePx * this.scale)));
  }
}
