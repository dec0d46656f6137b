/**
 * Taking a combined fMP4 stream apart in the browser: an init segment with
 * one track left out, the AAC AudioSpecificConfig from `esds`, and the
 * samples of a media segment. `wt-fmp4` and `ws-fmp4` use these to give the
 * video element a video-only SourceBuffer and to play the sound on its own
 * (`render/fmp4-sound.ts`), because an MSE audio track holds the whole
 * element to its buffer: 200 ms in Chromium, more after each underflow (see
 * docs/browsers.md), and more still in WebKit. Pure.
 */

interface Box {
  readonly type: string;
  /** Header included. */
  readonly bytes: Uint8Array;
  /** Header excluded. */
  readonly body: Uint8Array;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

function u64(v: DataView, at: number): number {
  return v.getUint32(at) * 0x1_0000_0000 + v.getUint32(at + 4);
}

function boxes(bytes: Uint8Array): Box[] {
  const out: Box[] = [];
  const v = view(bytes);
  let at = 0;
  while (at + 8 <= bytes.byteLength) {
    let size = v.getUint32(at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > bytes.byteLength) break;
      size = u64(v, at + 8);
      header = 16;
    } else if (size === 0) {
      size = bytes.byteLength - at;
    }
    if (size < header || at + size > bytes.byteLength) break;
    out.push({ type: fourcc(bytes, at + 4), bytes: bytes.subarray(at, at + size), body: bytes.subarray(at + header, at + size) });
    at += size;
  }
  return out;
}

function child(bytes: Uint8Array, type: string): Box | undefined {
  return boxes(bytes).find((b) => b.type === type);
}

/** The box at `path` (`moov/trak/mdia`) under `bytes`, following the first match at each level. */
function find(bytes: Uint8Array, path: string): Box | undefined {
  let box: Box | undefined;
  let inside = bytes;
  for (const type of path.split('/')) {
    box = child(inside, type);
    if (!box) return undefined;
    inside = box.body;
  }
  return box;
}

function makeBox(type: string, parts: readonly Uint8Array[]): Uint8Array {
  let size = 8;
  for (const p of parts) size += p.byteLength;
  const out = new Uint8Array(size);
  view(out).setUint32(0, size);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  let at = 8;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export interface TrackEntry {
  readonly trackId: number;
  readonly kind: 'video' | 'audio' | 'other';
  readonly timescale: number;
  readonly trak: Box;
}

function trackOf(trak: Box): TrackEntry | null {
  const tkhd = find(trak.body, 'tkhd');
  const mdhd = find(trak.body, 'mdia/mdhd');
  const hdlr = find(trak.body, 'mdia/hdlr');
  if (!tkhd || !mdhd || tkhd.body.byteLength < 24 || mdhd.body.byteLength < 24) return null;
  const trackId = view(tkhd.body).getUint32(tkhd.body[0] === 1 ? 20 : 12);
  const timescale = view(mdhd.body).getUint32(mdhd.body[0] === 1 ? 20 : 12);
  const handler = hdlr && hdlr.body.byteLength >= 12 ? fourcc(hdlr.body, 8) : '';
  return { trackId, timescale, trak, kind: handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other' };
}

export function initTrackEntries(init: Uint8Array): TrackEntry[] {
  const moov = child(init, 'moov');
  if (!moov) return [];
  return boxes(moov.body)
    .filter((b) => b.type === 'trak')
    .map(trackOf)
    .filter((t): t is TrackEntry => t !== null);
}

/** The init segment with only the tracks of `kind` (their `trak` and `trex`), or null if it has none. */
export function initWithOnly(init: Uint8Array, kind: 'video' | 'audio'): Uint8Array | null {
  const keep = new Set(initTrackEntries(init).filter((t) => t.kind === kind).map((t) => t.trackId));
  if (keep.size === 0) return null;
  const out: Uint8Array[] = [];
  for (const top of boxes(init)) {
    if (top.type !== 'moov') {
      out.push(top.bytes);
      continue;
    }
    const parts: Uint8Array[] = [];
    for (const box of boxes(top.body)) {
      if (box.type === 'trak') {
        const track = trackOf(box);
        if (track && keep.has(track.trackId)) parts.push(box.bytes);
      } else if (box.type === 'mvex') {
        const trexes = boxes(box.body).filter((b) => b.type !== 'trex' || (b.body.byteLength >= 8 && keep.has(view(b.body).getUint32(4))));
        parts.push(makeBox('mvex', trexes.map((b) => b.bytes)));
      } else {
        parts.push(box.bytes);
      }
    }
    out.push(makeBox('moov', parts));
  }
  let size = 0;
  for (const part of out) size += part.byteLength;
  const joined = new Uint8Array(size);
  let at = 0;
  for (const part of out) {
    joined.set(part, at);
    at += part.byteLength;
  }
  return joined;
}

/** A descriptor's tag, body start and length (14496-1 §8.3.3: the size takes 7 bits per byte). */
function descriptorAt(bytes: Uint8Array, at: number): { tag: number; start: number; length: number } | null {
  if (at >= bytes.byteLength) return null;
  const tag = bytes[at]!;
  let length = 0;
  let i = at + 1;
  for (let n = 0; n < 4; n++) {
    if (i >= bytes.byteLength) return null;
    const b = bytes[i++]!;
    length = length * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) break;
  }
  return i + length <= bytes.byteLength ? { tag, start: i, length } : null;
}

/** Bytes of an audio sample entry (`mp4a`, `Opus`) before its child boxes (14496-12 §12.2.3). */
const AUDIO_ENTRY_FIELDS = 28;

/** The body of box `childType` inside the `entryType` audio sample entry of track `trackId`. */
function audioEntryChild(init: Uint8Array, trackId: number, entryType: string, childType: string): Uint8Array | null {
  const track = initTrackEntries(init).find((t) => t.trackId === trackId);
  const stsd = track && find(track.trak.body, 'mdia/minf/stbl/stsd');
  // stsd: version and flags, entry count, then the sample entries.
  const entry = stsd && stsd.body.byteLength > 8 ? boxes(stsd.body.subarray(8))[0] : undefined;
  if (!entry || entry.type !== entryType || entry.body.byteLength < AUDIO_ENTRY_FIELDS) return null;
  return child(entry.body.subarray(AUDIO_ENTRY_FIELDS), childType)?.body ?? null;
}

/** The OpusSpecificBox payload of the Opus track `trackId` (Opus in ISOBMFF §4.3.2). */
export function opusSpecificBox(init: Uint8Array, trackId: number): Uint8Array | null {
  return audioEntryChild(init, trackId, 'Opus', 'dOps');
}

/** The AudioSpecificConfig of the AAC track `trackId`, as an `AudioDecoder` wants it for `description`. */
export function audioSpecificConfig(init: Uint8Array, trackId: number): Uint8Array | null {
  const esds = audioEntryChild(init, trackId, 'mp4a', 'esds');
  if (!esds || esds.byteLength < 4) return null;
  const body = esds.subarray(4);
  const es = descriptorAt(body, 0);
  if (!es || es.tag !== 0x03) return null;
  const flags = body[es.start + 2] ?? 0;
  let at = es.start + 3;
  if (flags & 0x80) at += 2; // dependsOn_ES_ID
  if (flags & 0x40) at += 1 + (body[at] ?? 0); // URL
  if (flags & 0x20) at += 2; // OCR_ES_Id
  const config = descriptorAt(body, at);
  if (!config || config.tag !== 0x04) return null;
  // objectTypeIndication, streamType, bufferSizeDB (3), maxBitrate (4), avgBitrate (4).
  const info = descriptorAt(body, config.start + 13);
  if (!info || info.tag !== 0x05) return null;
  return body.slice(info.start, info.start + info.length);
}

export interface FragmentSample {
  readonly trackId: number;
  /** In the track's timescale. */
  readonly decodeTime: number;
  readonly compositionOffset: number;
  readonly duration: number;
  readonly data: Uint8Array;
}

const TFHD_BASE_DATA_OFFSET = 0x000001;
const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002;
const TFHD_DEFAULT_DURATION = 0x000008;
const TFHD_DEFAULT_SIZE = 0x000010;
const TFHD_DEFAULT_FLAGS = 0x000020;
const TRUN_DATA_OFFSET = 0x000001;
const TRUN_FIRST_SAMPLE_FLAGS = 0x000004;
const TRUN_DURATION = 0x000100;
const TRUN_SIZE = 0x000200;
const TRUN_FLAGS = 0x000400;
const TRUN_COMPOSITION_OFFSET = 0x000800;

/**
 * The samples of a `moof` + `mdat` media segment, data offsets taken from the
 * start of the `moof` (where the base data offset is not given explicitly, as
 * `default-base-is-moof` and MSE both assume). Empty for anything malformed.
 */
export function fragmentSamples(segment: Uint8Array): FragmentSample[] {
  const top = boxes(segment);
  const moofIndex = top.findIndex((b) => b.type === 'moof');
  if (moofIndex < 0) return [];
  const moof = top[moofIndex]!;
  const moofStart = moof.bytes.byteOffset - segment.byteOffset;
  const out: FragmentSample[] = [];
  for (const traf of boxes(moof.body).filter((b) => b.type === 'traf')) {
    const tfhd = child(traf.body, 'tfhd');
    const tfdt = child(traf.body, 'tfdt');
    if (!tfhd || tfhd.body.byteLength < 8) return [];
    const hv = view(tfhd.body);
    const tfFlags = hv.getUint32(0) & 0xffffff;
    const trackId = hv.getUint32(4);
    let at = 8;
    let base = moofStart;
    if (tfFlags & TFHD_BASE_DATA_OFFSET) {
      base = u64(hv, at);
      at += 8;
    }
    if (tfFlags & TFHD_SAMPLE_DESCRIPTION_INDEX) at += 4;
    const defaultDuration = tfFlags & TFHD_DEFAULT_DURATION ? hv.getUint32(at) : 0;
    if (tfFlags & TFHD_DEFAULT_DURATION) at += 4;
    const defaultSize = tfFlags & TFHD_DEFAULT_SIZE ? hv.getUint32(at) : 0;
    if (tfFlags & TFHD_DEFAULT_SIZE) at += 4;
    if (tfFlags & TFHD_DEFAULT_FLAGS) at += 4;
    let decodeTime = 0;
    if (tfdt && tfdt.body.byteLength >= 8) decodeTime = tfdt.body[0] === 1 ? u64(view(tfdt.body), 4) : view(tfdt.body).getUint32(4);
    for (const trun of boxes(traf.body).filter((b) => b.type === 'trun')) {
      const tv = view(trun.body);
      if (trun.body.byteLength < 8) return [];
      const version = trun.body[0]!;
      const flags = tv.getUint32(0) & 0xffffff;
      const count = tv.getUint32(4);
      let p = 8;
      let dataAt = base;
      if (flags & TRUN_DATA_OFFSET) {
        dataAt = base + tv.getInt32(p);
        p += 4;
      }
      if (flags & TRUN_FIRST_SAMPLE_FLAGS) p += 4;
      for (let i = 0; i < count; i++) {
        if (p > trun.body.byteLength) return [];
        const duration = flags & TRUN_DURATION ? tv.getUint32(p) : defaultDuration;
        if (flags & TRUN_DURATION) p += 4;
        const size = flags & TRUN_SIZE ? tv.getUint32(p) : defaultSize;
        if (flags & TRUN_SIZE) p += 4;
        if (flags & TRUN_FLAGS) p += 4;
        let compositionOffset = 0;
        if (flags & TRUN_COMPOSITION_OFFSET) {
          compositionOffset = version === 0 ? tv.getUint32(p) : tv.getInt32(p);
          p += 4;
        }
        if (p > trun.body.byteLength || dataAt + size > segment.byteLength) return [];
        out.push({ trackId, decodeTime, compositionOffset, duration, data: segment.subarray(dataAt, dataAt + size) });
        dataAt += size;
        decodeTime += duration;
      }
    }
  }
  return out;
}

/** `video/mp4; codecs="avc1.64001f"` for one track's codec string. */
export function singleTrackMime(kind: 'video' | 'audio', codec: string): string {
  return `${kind}/mp4; codecs="${codec}"`;
}
