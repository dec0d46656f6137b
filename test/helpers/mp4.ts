/** Just enough ISO BMFF reading for tests: top-level boxes, tfdt, and the first sample's sync flag. */
export interface BoxInfo {
  type: string;
  start: number;
  size: number;
}

export function topLevelBoxes(data: Uint8Array): BoxInfo[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: BoxInfo[] = [];
  for (let at = 0; at + 8 <= data.byteLength; ) {
    const size = view.getUint32(at);
    const type = String.fromCharCode(...data.subarray(at + 4, at + 8));
    out.push({ type, start: at, size });
    if (size < 8) break;
    at += size;
  }
  return out;
}

function find(data: Uint8Array, type: string): number {
  const t = [...type].map((c) => c.charCodeAt(0));
  for (let i = 4; i + 4 <= data.byteLength; i++) {
    if (data[i] === t[0] && data[i + 1] === t[1] && data[i + 2] === t[2] && data[i + 3] === t[3]) return i - 4;
  }
  return -1;
}

export interface SegmentInfo {
  trackId: number;
  baseDecodeTime: number;
  sampleCount: number;
  firstIsSync: boolean;
}

/** Reads tfhd track id, tfdt and the first trun sample's flags of a one-traf media segment. */
export function segmentInfo(data: Uint8Array): SegmentInfo {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const tfhd = find(data, 'tfhd');
  const tfdt = find(data, 'tfdt');
  const trun = find(data, 'trun');
  if (tfhd < 0 || tfdt < 0 || trun < 0) throw new Error('not a media segment');
  const trackId = view.getUint32(tfhd + 12);
  const tfdtVersion = data[tfdt + 8]!;
  const baseDecodeTime = tfdtVersion === 1 ? Number(view.getBigUint64(tfdt + 12)) : view.getUint32(tfdt + 12);
  const flags = view.getUint32(trun + 8) & 0xffffff;
  const sampleCount = view.getUint32(trun + 12);
  let at = trun + 16;
  if (flags & 0x1) at += 4;
  let first: number | undefined;
  if (flags & 0x4) {
    first = view.getUint32(at);
    at += 4;
  }
  if (first === undefined && flags & 0x400) {
    if (flags & 0x100) at += 4;
    if (flags & 0x200) at += 4;
    first = view.getUint32(at);
  }
  const sampleFlags = first ?? 0;
  return { trackId, baseDecodeTime, sampleCount, firstIsSync: ((sampleFlags >>> 16) & 1) === 0 };
}
