/**
 * A deliberately separate, minimal ISO BMFF reader for tests: it shares no code
 * with the muxer, so a layout mistake in the writer cannot hide itself.
 */

export interface Box {
  readonly type: string;
  /** Offset of the box header in the buffer. */
  readonly start: number;
  readonly size: number;
  readonly headerSize: number;
  /** Everything after the 8/16-byte header. */
  readonly body: Uint8Array;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function readBoxes(data: Uint8Array, from = 0, to = data.byteLength): Box[] {
  const dv = view(data);
  const boxes: Box[] = [];
  let pos = from;
  while (pos < to) {
    if (to - pos < 8) throw new Error(`truncated box header at ${pos}`);
    let size = dv.getUint32(pos);
    const type = String.fromCharCode(...data.subarray(pos + 4, pos + 8));
    let headerSize = 8;
    if (size === 1) {
      size = Number(dv.getBigUint64(pos + 8));
      headerSize = 16;
    } else if (size === 0) {
      size = to - pos;
    }
    if (size < headerSize || pos + size > to) throw new Error(`box '${type}' at ${pos} has bad size ${size}`);
    boxes.push({ type, start: pos, size, headerSize, body: data.subarray(pos + headerSize, pos + size) });
    pos += size;
  }
  return boxes;
}

/** Children of a box whose own fields take `skip` bytes before them. */
export function childrenOf(box: Box, skip = 0): Box[] {
  return readBoxes(box.body, skip);
}

export function child(boxes: readonly Box[], type: string): Box {
  const found = boxes.find((b) => b.type === type);
  if (!found) throw new Error(`no '${type}' among [${boxes.map((b) => b.type).join(', ')}]`);
  return found;
}

/** Descends through plain container boxes. */
export function path(boxes: readonly Box[], ...types: string[]): Box {
  let current = child(boxes, types[0] as string);
  for (const t of types.slice(1)) current = child(childrenOf(current), t);
  return current;
}

export function u32(b: Uint8Array, at: number): number {
  return view(b).getUint32(at);
}

export function i32(b: Uint8Array, at: number): number {
  return view(b).getInt32(at);
}

export function u16(b: Uint8Array, at: number): number {
  return view(b).getUint16(at);
}

export function u64(b: Uint8Array, at: number): number {
  return Number(view(b).getBigUint64(at));
}

export function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(...b.subarray(at, at + 4));
}

/** The single sample entry of a trak's stsd (skips stsd's version/flags and entry_count). */
export function sampleEntry(trak: Box): Box {
  const stsd = path(childrenOf(trak), 'mdia', 'minf', 'stbl', 'stsd');
  const entries = readBoxes(stsd.body, 8);
  if (entries.length !== 1) throw new Error(`expected one sample entry, got ${entries.length}`);
  return entries[0] as Box;
}

export function handlerType(trak: Box): string {
  const hdlr = path(childrenOf(trak), 'mdia', 'hdlr');
  return fourcc(hdlr.body, 8);
}

/** Visual sample entries have 78 bytes of fields before their child boxes, audio ones 28. */
export const VISUAL_ENTRY_FIELDS = 78;
export const AUDIO_ENTRY_FIELDS = 28;

export interface Descriptor {
  readonly tag: number;
  /** Bytes the size field took, to check the writer's length encoding. */
  readonly lengthBytes: number;
  readonly body: Uint8Array;
}

/** One MPEG-4 descriptor (14496-1 §8.3.3) at `at`. */
export function readDescriptor(b: Uint8Array, at: number): Descriptor & { end: number } {
  const tag = b[at] as number;
  let len = 0;
  let p = at + 1;
  let lengthBytes = 0;
  for (;;) {
    const byte = b[p++] as number;
    lengthBytes++;
    len = len * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) break;
  }
  return { tag, lengthBytes, body: b.subarray(p, p + len), end: p + len };
}

/** AudioSpecificConfig from an `esds` body (after its version/flags). */
export function ascFromEsds(esdsBody: Uint8Array): { asc: Uint8Array; descriptors: Descriptor[] } {
  const es = readDescriptor(esdsBody, 4);
  if (es.tag !== 0x03) throw new Error(`ES_Descriptor expected, got tag ${es.tag}`);
  const flags = es.body[2] as number;
  let p = 3;
  if (flags & 0x80) p += 2; // dependsOn_ES_ID
  if (flags & 0x40) p += 1 + (es.body[p] as number); // URL
  if (flags & 0x20) p += 2; // OCR_ES_Id
  const dc = readDescriptor(es.body, p);
  if (dc.tag !== 0x04) throw new Error(`DecoderConfigDescriptor expected, got tag ${dc.tag}`);
  const dsi = readDescriptor(dc.body, 13);
  if (dsi.tag !== 0x05) throw new Error(`DecoderSpecificInfo expected, got tag ${dsi.tag}`);
  const descriptors: Descriptor[] = [es, dc, dsi];
  if (dc.end < es.body.byteLength) descriptors.push(readDescriptor(es.body, dc.end));
  return { asc: dsi.body, descriptors };
}
