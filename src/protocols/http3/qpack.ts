/**
 * QPACK (RFC 9204) for an endpoint that never uses the dynamic table: we
 * advertise SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0, so every field section a
 * peer sends may only reference the static table or carry literals, and
 * every section we send does the same. That removes the encoder/decoder
 * stream state machines and head-of-line blocking entirely.
 */
import { ByteWriter } from './bytes.js';
import { QpackError } from './errors.js';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.js';

export interface HeaderField {
  readonly name: string;
  readonly value: string;
}

/** RFC 9204 Appendix A. */
// prettier-ignore
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':path', '/'], ['age', '0'], ['content-disposition', ''], ['content-length', '0'],
  ['cookie', ''], ['date', ''], ['etag', ''], ['if-modified-since', ''], ['if-none-match', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['referer', ''], ['set-cookie', ''],
  [':method', 'CONNECT'], [':method', 'DELETE'], [':method', 'GET'], [':method', 'HEAD'], [':method', 'OPTIONS'],
  [':method', 'POST'], [':method', 'PUT'], [':scheme', 'http'], [':scheme', 'https'], [':status', '103'],
  [':status', '200'], [':status', '304'], [':status', '404'], [':status', '503'], ['accept', '*/*'],
  ['accept', 'application/dns-message'], ['accept-encoding', 'gzip, deflate, br'], ['accept-ranges', 'bytes'],
  ['access-control-allow-headers', 'cache-control'], ['access-control-allow-headers', 'content-type'],
  ['access-control-allow-origin', '*'], ['cache-control', 'max-age=0'], ['cache-control', 'max-age=2592000'],
  ['cache-control', 'max-age=604800'], ['cache-control', 'no-cache'], ['cache-control', 'no-store'],
  ['cache-control', 'public, max-age=31536000'], ['content-encoding', 'br'], ['content-encoding', 'gzip'],
  ['content-type', 'application/dns-message'], ['content-type', 'application/javascript'],
  ['content-type', 'application/json'], ['content-type', 'application/x-www-form-urlencoded'],
  ['content-type', 'image/gif'], ['content-type', 'image/jpeg'], ['content-type', 'image/png'],
  ['content-type', 'text/css'], ['content-type', 'text/html; charset=utf-8'], ['content-type', 'text/plain'],
  ['content-type', 'text/plain;charset=utf-8'], ['range', 'bytes=0-'], ['strict-transport-security', 'max-age=31536000'],
  ['strict-transport-security', 'max-age=31536000; includesubdomains'],
  ['strict-transport-security', 'max-age=31536000; includesubdomains; preload'], ['vary', 'accept-encoding'],
  ['vary', 'origin'], ['x-content-type-options', 'nosniff'], ['x-xss-protection', '1; mode=block'],
  [':status', '100'], [':status', '204'], [':status', '206'], [':status', '302'], [':status', '400'],
  [':status', '403'], [':status', '421'], [':status', '425'], [':status', '500'], ['accept-language', ''],
  ['access-control-allow-credentials', 'FALSE'], ['access-control-allow-credentials', 'TRUE'],
  ['access-control-allow-headers', '*'], ['access-control-allow-methods', 'get'],
  ['access-control-allow-methods', 'get, post, options'], ['access-control-allow-methods', 'options'],
  ['access-control-expose-headers', 'content-length'], ['access-control-request-headers', 'content-type'],
  ['access-control-request-method', 'get'], ['access-control-request-method', 'post'], ['alt-svc', 'clear'],
  ['authorization', ''], ['content-security-policy', "script-src 'none'; object-src 'none'; base-uri 'none'"],
  ['early-data', '1'], ['expect-ct', ''], ['forwarded', ''], ['if-range', ''], ['origin', ''],
  ['purpose', 'prefetch'], ['server', ''], ['timing-allow-origin', '*'], ['upgrade-insecure-requests', '1'],
  ['user-agent', ''], ['x-forwarded-for', ''], ['x-frame-options', 'deny'], ['x-frame-options', 'sameorigin'],
];

const STATIC_EXACT = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  STATIC_EXACT.set(`${name}\0${value}`, i);
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i);
});

export interface DecodeOptions {
  /**
   * Cap on the decoded section size, counted as RFC 9114 §4.2.2 does (name +
   * value + 32 per field). Our SETTINGS_MAX_FIELD_SECTION_SIZE.
   */
  readonly maxFieldSectionSize?: number;
}

export const DEFAULT_MAX_FIELD_SECTION_SIZE = 16 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

/** Cursor over one field section; every read is bounds-checked. */
class SectionReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  peek(): number {
    if (this.pos >= this.buf.length) throw new QpackError('truncated field section');
    return this.buf[this.pos]!;
  }

  /** Prefixed integer (RFC 7541 §5.1) whose first byte has `prefixBits` value bits. */
  int(prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = this.peek() & mask;
    this.pos++;
    if (value < mask) return value;
    let shift = 0;
    for (;;) {
      const b = this.peek();
      this.pos++;
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (value > 0xffff_ffff) throw new QpackError('QPACK integer too large');
      if ((b & 0x80) === 0) return value;
    }
  }

  /** String literal whose length has `prefixBits` value bits, with the H flag just above them. */
  string(prefixBits: number, limit: number): string {
    const huffman = (this.peek() & (1 << prefixBits)) !== 0;
    const len = this.int(prefixBits);
    if (len > this.buf.length - this.pos) throw new QpackError('truncated string literal');
    if (len > limit) throw new QpackError('field section too large');
    const raw = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return utf8.decode(huffman ? huffmanDecode(raw, limit) : raw);
  }
}

function staticEntry(index: number): readonly [string, string] {
  const entry = STATIC_TABLE[index];
  if (entry === undefined) throw new QpackError(`static table index ${index} out of range`);
  return entry;
}

/**
 * Decodes a field section (the payload of a HEADERS frame). A reference to the
 * dynamic table is QPACK_DECOMPRESSION_FAILED: we allowed the peer none.
 */
export function decodeFieldSection(block: Uint8Array, opts: DecodeOptions = {}): HeaderField[] {
  const max = opts.maxFieldSectionSize ?? DEFAULT_MAX_FIELD_SECTION_SIZE;
  const r = new SectionReader(block);
  const requiredInsertCount = r.int(8);
  if (requiredInsertCount !== 0) throw new QpackError('field section references the dynamic table, whose capacity is 0');
  r.int(7); // Sign bit and Delta Base: meaningless without a dynamic table.
  const fields: HeaderField[] = [];
  let size = 0;
  const add = (name: string, value: string): void => {
    size += name.length + value.length + 32;
    if (size > max) throw new QpackError(`field section larger than ${max} bytes`);
    fields.push({ name, value });
  };
  while (!r.done) {
    const b = r.peek();
    if (b & 0x80) {
      // Indexed field line: 1 T index(6)
      if ((b & 0x40) === 0) throw new QpackError('indexed field line references the dynamic table');
      const [name, value] = staticEntry(r.int(6));
      add(name, value);
    } else if (b & 0x40) {
      // Literal with name reference: 0 1 N T index(4), then H value(7)
      if ((b & 0x10) === 0) throw new QpackError('literal field line references a dynamic table name');
      const [name] = staticEntry(r.int(4));
      add(name, r.string(7, max - size));
    } else if (b & 0x20) {
      // Literal with literal name: 0 0 1 N H name(3), then H value(7)
      const name = r.string(3, max - size);
      add(name, r.string(7, max - size - name.length));
    } else {
      // 0001xxxx indexed post-base and 0000xxxx literal with post-base name: both dynamic.
      throw new QpackError('field line references the dynamic table (post-base)');
    }
  }
  return fields;
}

/** Prefixed integer: `flags` fills the bits above the `prefixBits`-bit value. */
function writeInt(w: ByteWriter, flags: number, prefixBits: number, value: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    w.u8(flags | value);
    return;
  }
  w.u8(flags | mask);
  value -= mask;
  while (value >= 0x80) {
    w.u8((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  w.u8(value);
}

function writeString(w: ByteWriter, flags: number, prefixBits: number, text: string, huffman: boolean): void {
  const raw = utf8Encoder.encode(text);
  if (huffman && huffmanEncodedLength(raw) < raw.length) {
    const enc = huffmanEncode(raw);
    writeInt(w, flags | (1 << prefixBits), prefixBits, enc.length);
    w.bytes(enc);
  } else {
    writeInt(w, flags, prefixBits, raw.length);
    w.bytes(raw);
  }
}

export interface EncodeOptions {
  /** Huffman-encode literals when that is shorter (default true). */
  readonly huffman?: boolean;
}

/** Encodes a field section using only the static table and literals. */
export function encodeFieldSection(fields: readonly HeaderField[], opts: EncodeOptions = {}): Uint8Array {
  const huffman = opts.huffman ?? true;
  const w = new ByteWriter(64);
  w.u8(0).u8(0); // Required Insert Count 0, Delta Base 0.
  for (const { name, value } of fields) {
    const exact = STATIC_EXACT.get(`${name}\0${value}`);
    if (exact !== undefined) {
      writeInt(w, 0xc0, 6, exact);
      continue;
    }
    const byName = STATIC_NAME.get(name);
    if (byName !== undefined) {
      writeInt(w, 0x50, 4, byName);
      writeString(w, 0x00, 7, value, huffman);
    } else {
      writeString(w, 0x20, 3, name, huffman);
      writeString(w, 0x00, 7, value, huffman);
    }
  }
  return w.finish();
}
