/**
 * AMF0 (Adobe "Action Message Format AMF 0", 2006), the encoding of RTMP
 * commands and metadata, with the AVM+ escape into AMF3 that Flash-era
 * clients use inside type-17 commands.
 *
 * Decoding is total: any input either decodes or fails with an
 * `RtmpProtocolError('amf')`. Memory is bounded by the input: counts are
 * checked against the bytes left before anything is built, and nesting is
 * capped. Objects come back with a null prototype, so a key such as
 * `__proto__` is an ordinary property.
 */
import { decodeAmf3Value } from './amf3.js';
import { RtmpProtocolError } from './errors.js';

/** An ECMA array (marker 0x08): an associative array, kept distinct from an object so it round-trips. */
export class AmfEcmaArray {
  constructor(readonly properties: AmfObject) {}
}

export type AmfObject = { [key: string]: AmfValue };

export type AmfValue = number | boolean | string | null | undefined | Date | AmfValue[] | AmfObject | AmfEcmaArray;

export const AMF_MAX_DEPTH = 32;

const MARKER = {
  number: 0x00,
  boolean: 0x01,
  string: 0x02,
  object: 0x03,
  null: 0x05,
  undefined: 0x06,
  reference: 0x07,
  ecmaArray: 0x08,
  objectEnd: 0x09,
  strictArray: 0x0a,
  date: 0x0b,
  longString: 0x0c,
  unsupported: 0x0d,
  xml: 0x0f,
  typedObject: 0x10,
  avmPlus: 0x11,
} as const;

const utf8 = new TextDecoder('utf-8');

export class AmfReader {
  pos = 0;
  /** Complex values in order of appearance, for reference markers (0x07). */
  private readonly refs: AmfValue[] = [];

  constructor(readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  fail(message: string): never {
    throw new RtmpProtocolError('amf', `AMF0: ${message} at offset ${this.pos}`);
  }

  need(n: number): void {
    if (n > this.remaining) this.fail(`data truncated (need ${n} byte(s), ${this.remaining} left)`);
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = (this.bytes[this.pos]! << 8) | this.bytes[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const b = this.bytes;
    const v = b[this.pos]! * 0x1000000 + ((b[this.pos + 1]! << 16) | (b[this.pos + 2]! << 8) | b[this.pos + 3]!);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0);
    this.pos += 8;
    return v;
  }

  text(length: number): string {
    this.need(length);
    const s = utf8.decode(this.bytes.subarray(this.pos, this.pos + length));
    this.pos += length;
    return s;
  }

  value(depth = 0): AmfValue {
    if (depth > AMF_MAX_DEPTH) this.fail(`nesting deeper than ${AMF_MAX_DEPTH}`);
    const marker = this.u8();
    switch (marker) {
      case MARKER.number:
        return this.f64();
      case MARKER.boolean:
        return this.u8() !== 0;
      case MARKER.string:
        return this.text(this.u16());
      case MARKER.longString:
        return this.text(this.u32());
      case MARKER.xml:
        return this.text(this.u32());
      case MARKER.null:
        return null;
      case MARKER.undefined:
      case MARKER.unsupported:
        return undefined;
      case MARKER.object: {
        const object = Object.create(null) as AmfObject;
        this.refs.push(object);
        return this.properties(object, depth);
      }
      case MARKER.typedObject: {
        // The class name says which ActionScript class to instantiate; a server has none.
        this.text(this.u16());
        const object = Object.create(null) as AmfObject;
        this.refs.push(object);
        return this.properties(object, depth);
      }
      case MARKER.ecmaArray: {
        // The count is a hint only (encoders get it wrong); the end marker is what ends it.
        this.u32();
        const array = new AmfEcmaArray(Object.create(null) as AmfObject);
        this.refs.push(array);
        this.properties(array.properties, depth, true);
        return array;
      }
      case MARKER.strictArray: {
        const count = this.u32();
        // Each element takes at least one byte: a larger count is a lie, refused before any allocation.
        if (count > this.remaining) this.fail(`strict array of ${count} elements in ${this.remaining} byte(s)`);
        const array: AmfValue[] = [];
        this.refs.push(array);
        for (let i = 0; i < count; i++) array.push(this.value(depth + 1));
        return array;
      }
      case MARKER.date: {
        const ms = this.f64();
        this.u16(); // time zone: reserved, "should be 0x0000"
        return new Date(ms);
      }
      case MARKER.reference: {
        const index = this.u16();
        if (index >= this.refs.length) this.fail(`reference ${index} to one of ${this.refs.length} earlier value(s)`);
        return this.refs[index];
      }
      case MARKER.avmPlus:
        return decodeAmf3Value(this, depth + 1);
      default:
        return this.fail(`unknown marker 0x${marker.toString(16).padStart(2, '0')}`);
    }
  }

  private properties(target: AmfObject, depth: number, endMayBeMissing = false): AmfObject {
    for (;;) {
      // Some muxers end an ECMA array with the data instead of the end marker.
      if (endMayBeMissing && this.remaining === 0) return target;
      const key = this.text(this.u16());
      if (key === '' && this.remaining > 0 && this.bytes[this.pos] === MARKER.objectEnd) {
        this.pos++;
        return target;
      }
      target[key] = this.value(depth + 1);
    }
  }
}

/** Every value in `bytes`, in order (a command: name, transaction id, command object, arguments...). */
export function decodeAmf0(bytes: Uint8Array): AmfValue[] {
  const reader = new AmfReader(bytes);
  const values: AmfValue[] = [];
  while (reader.remaining > 0) values.push(reader.value());
  return values;
}

// ---------------------------------------------------------------------------
// Encoding

const utf8Encoder = new TextEncoder();

class AmfWriter {
  private chunks: Uint8Array[] = [];

  bytes(b: Uint8Array): void {
    this.chunks.push(b);
  }

  u8(v: number): void {
    this.chunks.push(Uint8Array.of(v));
  }

  u16(v: number): void {
    this.chunks.push(Uint8Array.of(v >> 8, v & 0xff));
  }

  u32(v: number): void {
    this.chunks.push(Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  }

  f64(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v);
    this.chunks.push(b);
  }

  key(k: string): void {
    const b = utf8Encoder.encode(k);
    if (b.length > 0xffff) throw new RangeError(`AMF0 property name of ${b.length} bytes`);
    this.u16(b.length);
    this.bytes(b);
  }

  value(v: AmfValue, depth: number): void {
    if (depth > AMF_MAX_DEPTH) throw new RangeError(`AMF0 value nested deeper than ${AMF_MAX_DEPTH}`);
    if (v === null) return this.u8(MARKER.null);
    if (v === undefined) return this.u8(MARKER.undefined);
    if (typeof v === 'number') {
      this.u8(MARKER.number);
      return this.f64(v);
    }
    if (typeof v === 'boolean') {
      this.u8(MARKER.boolean);
      return this.u8(v ? 1 : 0);
    }
    if (typeof v === 'string') {
      const b = utf8Encoder.encode(v);
      if (b.length > 0xffff) {
        this.u8(MARKER.longString);
        this.u32(b.length);
      } else {
        this.u8(MARKER.string);
        this.u16(b.length);
      }
      return this.bytes(b);
    }
    if (v instanceof Date) {
      this.u8(MARKER.date);
      this.f64(v.getTime());
      return this.u16(0);
    }
    if (Array.isArray(v)) {
      this.u8(MARKER.strictArray);
      this.u32(v.length);
      for (const item of v) this.value(item, depth + 1);
      return;
    }
    if (v instanceof AmfEcmaArray) {
      this.u8(MARKER.ecmaArray);
      this.u32(Object.keys(v.properties).length);
      return this.properties(v.properties, depth);
    }
    this.u8(MARKER.object);
    this.properties(v, depth);
  }

  private properties(object: AmfObject, depth: number): void {
    for (const [k, item] of Object.entries(object)) {
      this.key(k);
      this.value(item, depth + 1);
    }
    this.u16(0);
    this.u8(MARKER.objectEnd);
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The AMF0 encoding of `values`, one after another. */
export function encodeAmf0(...values: AmfValue[]): Buffer {
  const w = new AmfWriter();
  for (const v of values) w.value(v, 0);
  return w.finish();
}

export function isAmfObject(v: AmfValue): v is AmfObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof AmfEcmaArray);
}

/** An object or ECMA array's properties (metadata comes as either), else undefined. */
export function amfProperties(v: AmfValue): AmfObject | undefined {
  if (v instanceof AmfEcmaArray) return v.properties;
  return isAmfObject(v) ? v : undefined;
}
