/**
 * Reads a whole (non-fragmented) MP4 as ffmpeg writes it: each track's
 * sample entry, the configuration boxes inside it (hvcC, av1C, vpcC, dOps,
 * avcC, esds) and its samples with timestamps. For tests and the E-RTMP test
 * publisher, which need an encoder's real configuration records and frames.
 */

export interface Mp4Sample {
  /** Decode and presentation time in the track's timescale. */
  readonly dts: number;
  readonly pts: number;
  readonly sync: boolean;
  readonly data: Uint8Array;
}

export interface Mp4Track {
  readonly handler: string;
  readonly timescale: number;
  /** Sample entry type: `hvc1`, `av01`, `vp09`, `Opus`, `avc1`, `mp4a`, ... */
  readonly sampleEntry: string;
  /** Child boxes of the sample entry by type, payload only (after the 8-byte header). */
  readonly configs: ReadonlyMap<string, Uint8Array>;
  readonly samples: readonly Mp4Sample[];
}

interface Box {
  readonly type: string;
  readonly payload: Uint8Array;
}

function boxes(data: Uint8Array): Box[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: Box[] = [];
  for (let at = 0; at + 8 <= data.byteLength; ) {
    let size = view.getUint32(at);
    let header = 8;
    if (size === 1) {
      size = Number(view.getBigUint64(at + 8));
      header = 16;
    } else if (size === 0) size = data.byteLength - at;
    if (size < header || at + size > data.byteLength) throw new Error(`MP4 box at ${at} overruns its parent`);
    out.push({ type: String.fromCharCode(...data.subarray(at + 4, at + 8)), payload: data.subarray(at + header, at + size) });
    at += size;
  }
  return out;
}

function child(parent: Uint8Array, type: string): Uint8Array | undefined {
  return boxes(parent).find((b) => b.type === type)?.payload;
}

function need(parent: Uint8Array, path: string): Uint8Array {
  let at = parent;
  for (const type of path.split('/')) {
    const next = child(at, type);
    if (next === undefined) throw new Error(`MP4 box ${path} missing (at ${type})`);
    at = next;
  }
  return at;
}

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);
const i32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getInt32(at);

/** Sample entry header sizes after the box header (ISO 14496-12 §12.1.3, §12.2.3). */
const ENTRY_HEADER: Readonly<Record<string, number>> = { vide: 78, soun: 28 };

function table(box: Uint8Array | undefined, fields: number): number[][] {
  if (box === undefined) return [];
  const count = u32(box, 4);
  const rows: number[][] = [];
  for (let i = 0; i < count; i++) {
    const row: number[] = [];
    for (let f = 0; f < fields; f++) row.push(u32(box, 8 + (i * fields + f) * 4));
    rows.push(row);
  }
  return rows;
}

function readTrack(file: Uint8Array, trak: Uint8Array): Mp4Track {
  const mdia = need(trak, 'mdia');
  const hdlr = need(mdia, 'hdlr');
  const handler = String.fromCharCode(...hdlr.subarray(8, 12));
  const mdhd = need(mdia, 'mdhd');
  const timescale = mdhd[0] === 1 ? u32(mdhd, 20) : u32(mdhd, 12);
  const stbl = need(mdia, 'minf/stbl');
  const stsd = need(stbl, 'stsd');
  const entry = boxes(stsd.subarray(8))[0];
  if (entry === undefined) throw new Error('stsd has no sample entry');
  const configs = new Map<string, Uint8Array>();
  const skip = ENTRY_HEADER[handler];
  if (skip !== undefined) for (const b of boxes(entry.payload.subarray(skip))) configs.set(b.type, b.payload);

  const sizesBox = need(stbl, 'stsz');
  const fixed = u32(sizesBox, 4);
  const count = u32(sizesBox, 8);
  const sizes = Array.from({ length: count }, (_, i) => (fixed !== 0 ? fixed : u32(sizesBox, 12 + i * 4)));
  const co64 = child(stbl, 'co64');
  const offsets = co64 !== undefined
    ? Array.from({ length: u32(co64, 4) }, (_, i) => Number(new DataView(co64.buffer, co64.byteOffset).getBigUint64(8 + i * 8)))
    : table(need(stbl, 'stco'), 1).map((r) => r[0]!);
  const stsc = table(need(stbl, 'stsc'), 3);
  const stts = table(need(stbl, 'stts'), 2);
  const cttsBox = child(stbl, 'ctts');
  const ctts = cttsBox === undefined ? [] : Array.from({ length: u32(cttsBox, 4) }, (_, i) => [u32(cttsBox, 8 + i * 8), i32(cttsBox, 12 + i * 8)] as const);
  const stssBox = child(stbl, 'stss');
  const sync = stssBox === undefined ? undefined : new Set(table(stssBox, 1).map((r) => r[0]! - 1));

  // Where each sample lies: chunk offsets, samples per chunk (stsc runs).
  const positions: number[] = [];
  for (let c = 0; c < offsets.length; c++) {
    let perChunk = 0;
    for (const [first, n] of stsc) if (first! - 1 <= c) perChunk = n!;
    let at = offsets[c]!;
    for (let k = 0; k < perChunk && positions.length < count; k++) {
      positions.push(at);
      at += sizes[positions.length - 1]!;
    }
  }
  const deltas = stts.flatMap(([n, d]) => Array<number>(n!).fill(d!));
  const offsetsCt = ctts.flatMap(([n, o]) => Array<number>(n).fill(o));
  const samples: Mp4Sample[] = [];
  let dts = 0;
  for (let i = 0; i < count; i++) {
    const at = positions[i]!;
    samples.push({ dts, pts: dts + (offsetsCt[i] ?? 0), sync: sync === undefined || sync.has(i), data: file.subarray(at, at + sizes[i]!) });
    dts += deltas[i] ?? 0;
  }
  return { handler, timescale, sampleEntry: entry.type, configs, samples };
}

/** Every track of an MP4 file, in file order. */
export function readMp4(file: Uint8Array): Mp4Track[] {
  const moov = boxes(file).find((b) => b.type === 'moov');
  if (moov === undefined) throw new Error('no moov box (a fragmented or truncated file?)');
  return boxes(moov.payload).filter((b) => b.type === 'trak').map((b) => readTrack(file, b.payload));
}

/** The one track with this handler (`vide`, `soun`). */
export function mp4Track(file: Uint8Array, handler: string): Mp4Track {
  const track = readMp4(file).find((t) => t.handler === handler);
  if (track === undefined) throw new Error(`no ${handler} track`);
  return track;
}
