/**
 * ISO BMFF box writing (ISO/IEC 14496-12 §4.2).
 *
 * A segment is described as a tree of `Chunk`s whose sizes are known when the
 * tree is built; `serialize` then allocates the output once and every chunk
 * writes itself in place. Nothing is concatenated, so a one-frame fragment
 * costs one allocation however many boxes it has.
 */

const U32_LIMIT = 0x1_0000_0000;

/** Sequential big-endian writer over one preallocated buffer. */
export class ByteWriter {
  private readonly view: DataView;
  private pos = 0;

  constructor(readonly buffer: Uint8Array) {
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  u8(v: number): void {
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }

  u16(v: number): void {
    this.view.setUint16(this.pos, v);
    this.pos += 2;
  }

  i16(v: number): void {
    this.view.setInt16(this.pos, v);
    this.pos += 2;
  }

  u24(v: number): void {
    this.view.setUint8(this.pos, (v >>> 16) & 0xff);
    this.view.setUint16(this.pos + 1, v & 0xffff);
    this.pos += 3;
  }

  u32(v: number): void {
    this.view.setUint32(this.pos, v);
    this.pos += 4;
  }

  i32(v: number): void {
    this.view.setInt32(this.pos, v);
    this.pos += 4;
  }

  /** Any safe non-negative integer; BMFF 64-bit fields never need more than 2^53 here. */
  u64(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`u64 field out of range: ${v}`);
    this.view.setUint32(this.pos, Math.floor(v / U32_LIMIT));
    this.view.setUint32(this.pos + 4, v % U32_LIMIT);
    this.pos += 8;
  }

  fourcc(code: string): void {
    if (code.length !== 4) throw new RangeError(`four-character code expected, got '${code}'`);
    for (let i = 0; i < 4; i++) this.view.setUint8(this.pos + i, code.charCodeAt(i));
    this.pos += 4;
  }

  bytes(data: Uint8Array): void {
    this.buffer.set(data, this.pos);
    this.pos += data.byteLength;
  }

  /** The buffer comes from `new Uint8Array`, already zeroed: skipping is enough. */
  zeros(count: number): void {
    this.pos += count;
  }
}

/** A piece of a segment whose byte length is known before it is written. */
export interface Chunk {
  readonly size: number;
  write(w: ByteWriter): void;
}

/** Fixed-size payload written by a callback (the field list of one box). */
export function fields(size: number, write: (w: ByteWriter) => void): Chunk {
  return { size, write };
}

export function raw(data: Uint8Array): Chunk {
  return { size: data.byteLength, write: (w) => w.bytes(data) };
}

function sumSizes(children: readonly Chunk[]): number {
  let total = 0;
  for (const c of children) total += c.size;
  return total;
}

/**
 * A box; switches to the 64-bit `largesize` header only when the 32-bit size
 * cannot hold it, so ordinary boxes keep the compact header every reader expects.
 */
export function box(type: string, children: readonly Chunk[] = []): Chunk {
  const body = sumSizes(children);
  const large = body + 8 >= U32_LIMIT;
  const size = body + (large ? 16 : 8);
  return {
    size,
    write(w) {
      if (large) {
        w.u32(1);
        w.fourcc(type);
        w.u64(size);
      } else {
        w.u32(size);
        w.fourcc(type);
      }
      for (const c of children) c.write(w);
    },
  };
}

/** A FullBox: a box whose body starts with an 8-bit version and 24-bit flags. */
export function fullBox(type: string, version: number, flags: number, children: readonly Chunk[] = []): Chunk {
  return box(type, [fields(4, (w) => { w.u8(version); w.u24(flags); }), ...children]);
}

/** Writes top-level chunks into a single exactly-sized buffer. */
export function serialize(chunks: readonly Chunk[]): Uint8Array {
  const out = new Uint8Array(sumSizes(chunks));
  const w = new ByteWriter(out);
  for (const c of chunks) c.write(w);
  if (w.offset !== out.byteLength) {
    throw new Error(`box tree declared ${out.byteLength} bytes but wrote ${w.offset}`);
  }
  return out;
}
