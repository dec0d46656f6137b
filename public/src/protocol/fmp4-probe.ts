/**
 * Just enough ISO BMFF reading for a live MSE player: which tracks an
 * initialization segment declares (ID, kind, timescale), and for a media
 * segment its track, decode time and whether it starts with a sync sample.
 * The player needs these to time latency, to start a SourceBuffer at a
 * keyframe, and to tell video from audio in a combined stream. Pure.
 */

export interface InitTrack {
  readonly trackId: number;
  readonly kind: 'video' | 'audio' | 'other';
  readonly timescale: number;
}

export interface FragmentInfo {
  readonly trackId: number;
  /** `tfdt`, in the track's timescale. */
  readonly baseDecodeTime: number;
  /** The first sample is a sync sample (a keyframe, or any audio frame). */
  readonly keyframe: boolean;
}

interface Box {
  readonly type: string;
  /** The box body, header excluded. */
  readonly body: DataView;
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'moof', 'traf']);

function fourcc(view: DataView, offset: number): string {
  return String.fromCharCode(view.getUint8(offset), view.getUint8(offset + 1), view.getUint8(offset + 2), view.getUint8(offset + 3));
}

function u64(view: DataView, offset: number): number {
  return view.getUint32(offset) * 0x1_0000_0000 + view.getUint32(offset + 4);
}

function* boxes(view: DataView): Generator<Box> {
  let offset = 0;
  while (offset + 8 <= view.byteLength) {
    let size = view.getUint32(offset);
    const type = fourcc(view, offset + 4);
    let header = 8;
    if (size === 1) {
      if (offset + 16 > view.byteLength) return;
      size = u64(view, offset + 8);
      header = 16;
    } else if (size === 0) {
      size = view.byteLength - offset;
    }
    if (size < header || offset + size > view.byteLength) return;
    yield { type, body: new DataView(view.buffer, view.byteOffset + offset + header, size - header) };
    offset += size;
  }
}

/** Depth-first search for the first box of `type` under the containers this file knows. */
function find(view: DataView, type: string): DataView | null {
  for (const box of boxes(view)) {
    if (box.type === type) return box.body;
    if (CONTAINERS.has(box.type)) {
      const inner = find(box.body, type);
      if (inner) return inner;
    }
  }
  return null;
}

function children(view: DataView, type: string): DataView[] {
  const out: DataView[] = [];
  for (const box of boxes(view)) {
    if (box.type === type) out.push(box.body);
    else if (CONTAINERS.has(box.type)) out.push(...children(box.body, type));
  }
  return out;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function initTracks(init: Uint8Array): InitTrack[] {
  const tracks: InitTrack[] = [];
  try {
    for (const trak of children(viewOf(init), 'trak')) {
      const tkhd = find(trak, 'tkhd');
      const mdhd = find(trak, 'mdhd');
      const hdlr = find(trak, 'hdlr');
      if (!tkhd || !mdhd) continue;
      const trackId = tkhd.getUint32(tkhd.getUint8(0) === 1 ? 20 : 12);
      const timescale = mdhd.getUint32(mdhd.getUint8(0) === 1 ? 20 : 12);
      const handler = hdlr && hdlr.byteLength >= 12 ? fourcc(hdlr, 8) : '';
      tracks.push({ trackId, timescale, kind: handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other' });
    }
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
  }
  return tracks;
}

const TFHD_BASE_DATA_OFFSET = 0x01;
const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x02;
const TFHD_DEFAULT_DURATION = 0x08;
const TFHD_DEFAULT_SIZE = 0x10;
const TFHD_DEFAULT_FLAGS = 0x20;
const TRUN_DATA_OFFSET = 0x01;
const TRUN_FIRST_SAMPLE_FLAGS = 0x04;
const TRUN_SAMPLE_DURATION = 0x100;
const TRUN_SAMPLE_SIZE = 0x200;
const TRUN_SAMPLE_FLAGS = 0x400;
const SAMPLE_IS_NON_SYNC = 0x10000;

function tfhdDefaultFlags(tfhd: DataView): number | null {
  const flags = tfhd.getUint32(0) & 0xffffff;
  if (!(flags & TFHD_DEFAULT_FLAGS)) return null;
  let offset = 8;
  if (flags & TFHD_BASE_DATA_OFFSET) offset += 8;
  if (flags & TFHD_SAMPLE_DESCRIPTION_INDEX) offset += 4;
  if (flags & TFHD_DEFAULT_DURATION) offset += 4;
  if (flags & TFHD_DEFAULT_SIZE) offset += 4;
  return tfhd.getUint32(offset);
}

function firstSampleFlags(trun: DataView): number | null {
  const flags = trun.getUint32(0) & 0xffffff;
  let offset = 8;
  if (flags & TRUN_DATA_OFFSET) offset += 4;
  if (flags & TRUN_FIRST_SAMPLE_FLAGS) return trun.getUint32(offset);
  if (!(flags & TRUN_SAMPLE_FLAGS) || trun.getUint32(4) === 0) return null;
  if (flags & TRUN_SAMPLE_DURATION) offset += 4;
  if (flags & TRUN_SAMPLE_SIZE) offset += 4;
  return trun.getUint32(offset);
}

/** Null when the bytes are not a media segment this reader understands. */
export function fragmentInfo(segment: Uint8Array): FragmentInfo | null {
  try {
    const traf = find(viewOf(segment), 'traf');
    if (!traf) return null;
    const tfhd = find(traf, 'tfhd');
    const tfdt = find(traf, 'tfdt');
    const trun = find(traf, 'trun');
    if (!tfhd || !tfdt) return null;
    const baseDecodeTime = tfdt.getUint8(0) === 1 ? u64(tfdt, 4) : tfdt.getUint32(4);
    // Without any flags the trex defaults apply, which are zero in our init segments: a sync sample.
    const flags = (trun && firstSampleFlags(trun)) ?? tfhdDefaultFlags(tfhd) ?? 0;
    return { trackId: tfhd.getUint32(4), baseDecodeTime, keyframe: (flags & SAMPLE_IS_NON_SYNC) === 0 };
  } catch (err) {
    if (err instanceof RangeError) return null;
    throw err;
  }
}
