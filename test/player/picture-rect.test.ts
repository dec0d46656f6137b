import { describe, expect, it } from 'vitest';
import { containRect, normalisedPosition } from '../../public/src/input/picture-rect.js';

describe('containRect', () => {
  it('letterboxes a wide picture in a tall box', () => {
    expect(containRect(1000, 800, 1920, 1080)).toEqual({ x: 0, y: 118.75, width: 1000, height: 562.5 });
  });

  it('pillarboxes a tall picture in a wide box', () => {
    expect(containRect(1600, 900, 720, 1280)).toEqual({ x: 546.875, y: 0, width: 506.25, height: 900 });
  });
});

describe('normalisedPosition', () => {
  const painted = containRect(1000, 800, 1920, 1080);

  it('maps the painted picture to 0–65535', () => {
    expect(normalisedPosition(0, 118.75, painted)).toEqual({ x: 0, y: 0 });
    expect(normalisedPosition(1000, 681.25, painted)).toEqual({ x: 65535, y: 65535 });
    expect(normalisedPosition(500, 400, painted)).toEqual({ x: 32768, y: 32768 });
  });

  it('ignores points on the bars', () => {
    expect(normalisedPosition(500, 50, painted)).toBeNull();
    expect(normalisedPosition(500, 700, painted)).toBeNull();
  });
});
