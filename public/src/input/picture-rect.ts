/**
 * Where the picture is actually painted inside its element. The canvas is
 * laid out with `object-fit: contain`, so a 16:9 stream in a 4:3 window has
 * bars, and a click on a bar must not map onto the picture's edge pixels.
 */

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export function containRect(boxWidth: number, boxHeight: number, pictureWidth: number, pictureHeight: number): Rect {
  if (boxWidth <= 0 || boxHeight <= 0 || pictureWidth <= 0 || pictureHeight <= 0) {
    return { x: 0, y: 0, width: Math.max(0, boxWidth), height: Math.max(0, boxHeight) };
  }
  // Cross-multiplied so the fitting axis comes out exactly the box's size, not a rounding error off it.
  const boxIsWider = boxWidth * pictureHeight > boxHeight * pictureWidth;
  const width = boxIsWider ? (boxHeight * pictureWidth) / pictureHeight : boxWidth;
  const height = boxIsWider ? boxHeight : (boxWidth * pictureHeight) / pictureWidth;
  return { x: (boxWidth - width) / 2, y: (boxHeight - height) / 2, width, height };
}

/**
 * Maps a point (relative to the element's box) onto the picture as 0–65535
 * on each axis, or null when it lies on the letterbox bars.
 */
export function normalisedPosition(px: number, py: number, painted: Rect): { x: number; y: number } | null {
  if (painted.width <= 0 || painted.height <= 0) return null;
  const u = (px - painted.x) / painted.width;
  const v = (py - painted.y) / painted.height;
  if (u < 0 || u > 1 || v < 0 || v > 1) return null;
  return { x: Math.round(u * 0xffff), y: Math.round(v * 0xffff) };
}
