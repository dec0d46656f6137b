/** The canvas every transport paints pictures onto. */
export class CanvasSurface {
  private readonly context: CanvasRenderingContext2D;
  private painted = false;

  constructor(readonly canvas: HTMLCanvasElement) {
    // `desynchronized` lets Chrome skip a compositor frame of latency; no alpha saves a blend.
    const context = canvas.getContext('2d', { alpha: false, desynchronized: true });
    if (!context) throw new Error('this browser cannot draw on a 2D canvas');
    this.context = context;
  }

  /** Sizes the canvas to the picture, so CSS `object-fit: contain` letterboxes it correctly. */
  paint(image: CanvasImageSource, width: number, height: number): void {
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.context.drawImage(image, 0, 0, width, height);
    this.painted = true;
  }

  /**
   * Sizes the canvas for the pictures a decoder was just configured for, while none is shown yet, and fills it, so
   * that the backing store exists before the first picture: its paint then only converts the picture.
   */
  prepare(width: number, height: number): void {
    if (this.painted || width <= 0 || height <= 0 || (this.canvas.width === width && this.canvas.height === height)) return;
    this.canvas.width = width;
    this.canvas.height = height;
    this.context.fillRect(0, 0, width, height);
  }

  /** The size of the picture on screen in stream pixels, or null before the first one. */
  get pictureSize(): { width: number; height: number } | null {
    return this.painted ? { width: this.canvas.width, height: this.canvas.height } : null;
  }
}
