/**
 * IVF, the minimal container of libvpx and libaom (a 32-byte file header,
 * then a 12-byte header per frame), which ffmpeg reads for AV1 and VP9
 * without probing: its header names the codec and picture size.
 */

export const IVF_HEADER_SIZE = 32;
export const IVF_FRAME_HEADER_SIZE = 12;

/** File header: `DKIF`, version 0, its size, FourCC (`AV01`, `VP90`), picture size, a millisecond time base. */
export function ivfHeader(fourCC: 'AV01' | 'VP90', width: number, height: number): Uint8Array {
  const h = new Uint8Array(IVF_HEADER_SIZE);
  const v = new DataView(h.buffer);
  h.set(new TextEncoder().encode('DKIF'), 0);
  v.setUint16(4, 0, true);
  v.setUint16(6, IVF_HEADER_SIZE, true);
  h.set(new TextEncoder().encode(fourCC), 8);
  v.setUint16(12, width, true);
  v.setUint16(14, height, true);
  v.setUint32(16, 1000, true); // time base denominator
  v.setUint32(20, 1, true); // numerator
  return h;
}

/** One frame with its header; `ptsMs` in the header's millisecond time base. */
export function ivfFrame(data: Uint8Array, ptsMs: number): Uint8Array {
  const out = new Uint8Array(IVF_FRAME_HEADER_SIZE + data.byteLength);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.byteLength, true);
  v.setBigUint64(4, BigInt(Math.max(0, Math.round(ptsMs))), true);
  out.set(data, IVF_FRAME_HEADER_SIZE);
  return out;
}
