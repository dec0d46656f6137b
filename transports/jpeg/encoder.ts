import sharp from 'sharp';
import type { Picture } from './decoder.js';

export interface JpegRequest {
  quality: number;
  /** Output width; the height follows the aspect ratio. Undefined: the picture's own. */
  width?: number;
}

/**
 * JPEG encoding with sharp (libvips), cached per picture and parameters so
 * any number of pollers asking for the same thing cost one encode.
 */
export class JpegCache {
  private seq = -1;
  private readonly entries = new Map<string, Promise<Buffer>>();
  encodes = 0;

  get(picture: Picture, req: JpegRequest): Promise<Buffer> {
    if (picture.seq !== this.seq) {
      this.seq = picture.seq;
      this.entries.clear();
    }
    const width = req.width !== undefined && req.width < picture.width ? req.width : picture.width;
    const key = `${req.quality}:${width}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      this.encodes++;
      let img = sharp(picture.rgb, { raw: { width: picture.width, height: picture.height, channels: 3 } });
      if (width !== picture.width) img = img.resize({ width });
      entry = img.jpeg({ quality: req.quality, chromaSubsampling: '4:2:0' }).toBuffer();
      this.entries.set(key, entry);
    }
    return entry;
  }
}

export type ParsedJpegRequest = { ok: true; req: JpegRequest } | { ok: false; error: string };

/** `?quality=70&width=1280`: quality 1–100 (default 70), width 16–7680. */
export function parseJpegRequest(query: Record<string, unknown>): ParsedJpegRequest {
  const num = (name: string): number | undefined | null => {
    const raw = query[name];
    if (raw === undefined || raw === '') return undefined;
    if (typeof raw !== 'string' || !/^\d{1,5}$/.test(raw)) return null;
    return Number(raw);
  };
  const quality = num('quality');
  const width = num('width');
  if (quality === null || (quality !== undefined && (quality < 1 || quality > 100))) return { ok: false, error: 'quality must be an integer from 1 to 100' };
  if (width === null || (width !== undefined && (width < 16 || width > 7680))) return { ok: false, error: 'width must be an integer from 16 to 7680' };
  return { ok: true, req: { quality: quality ?? 70, width } };
}
