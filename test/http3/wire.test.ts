import { describe, expect, it } from 'vitest';
import {
  CapsuleReader,
  CapsuleType,
  decodeCloseSessionValue,
  decodeDatagram,
  decodeFieldSection,
  decodeSettingsPayload,
  encodeBidiStreamHeader,
  encodeCloseSessionCapsule,
  encodeDatagram,
  encodeDrainSessionCapsule,
  encodeFieldSection,
  encodeFrame,
  encodeSettingsPayload,
  encodeUniStreamHeader,
  encodeVarint,
  FrameReader,
  FrameType,
  H3ErrorCode,
  Http3Error,
  http3ToWebTransportCode,
  HUFFMAN_CODE_LENGTHS,
  HUFFMAN_CODES,
  huffmanDecode,
  huffmanEncode,
  isReservedCodepoint,
  parseRequestHead,
  QpackError,
  readVarint,
  readVarintBigInt,
  SettingId,
  STATIC_TABLE,
  webTransportCodeToHttp3,
} from '../../src/protocols/http3/index.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('varint (RFC 9000 §16, Appendix A.1)', () => {
  it('decodes the RFC examples', () => {
    expect(readVarintBigInt(hex('c2197c5eff14e88c'))).toEqual({ value: 151288809941952652n, length: 8 });
    expect(readVarint(hex('9d7f3e7d'))).toEqual({ value: 494878333, length: 4 });
    expect(readVarint(hex('7bbd'))).toEqual({ value: 15293, length: 2 });
    expect(readVarint(hex('25'))).toEqual({ value: 37, length: 1 });
    expect(readVarint(hex('4025'))).toEqual({ value: 37, length: 2 });
  });

  it('encodes the RFC examples in their shortest form', () => {
    expect(toHex(encodeVarint(151288809941952652n))).toBe('c2197c5eff14e88c');
    expect(toHex(encodeVarint(494878333))).toBe('9d7f3e7d');
    expect(toHex(encodeVarint(15293))).toBe('7bbd');
    expect(toHex(encodeVarint(37))).toBe('25');
  });

  it('round-trips every length boundary', () => {
    for (const v of [0, 63, 64, 16383, 16384, 2 ** 30 - 1, 2 ** 30, Number.MAX_SAFE_INTEGER]) {
      const enc = encodeVarint(v);
      expect(readVarint(enc)).toEqual({ value: v, length: enc.length });
    }
    expect(readVarintBigInt(encodeVarint((1n << 62n) - 1n))!.value).toBe((1n << 62n) - 1n);
  });

  it('reports an incomplete varint as null and rejects unencodable values', () => {
    expect(readVarint(hex('c2197c'))).toBeNull();
    expect(readVarint(new Uint8Array(0))).toBeNull();
    expect(() => encodeVarint(-1)).toThrow(RangeError);
    expect(() => encodeVarint(1n << 62n)).toThrow(RangeError);
    expect(() => encodeVarint(2 ** 60)).toThrow(RangeError);
  });
});

describe('HTTP/3 frames and settings (RFC 9114)', () => {
  const wanted = new Set<number>([FrameType.HEADERS, FrameType.DATA, FrameType.SETTINGS]);

  it('reassembles frames split across arbitrary chunks and skips unknown ones', () => {
    const grease = encodeFrame(0x21 + 0x1f * 7, new Uint8Array(3000));
    const bytes = Buffer.concat([encodeFrame(FrameType.HEADERS, ascii('abc')), grease, encodeFrame(FrameType.DATA, ascii('hello'))]);
    const r = new FrameReader({ wanted });
    const got: [number, string][] = [];
    for (let i = 0; i < bytes.length; i += 7) {
      r.push(Uint8Array.from(bytes.subarray(i, i + 7)));
      for (let f = r.next(); f; f = r.next()) got.push([f.type, Buffer.from(f.payload).toString()]);
    }
    expect(got).toEqual([
      [FrameType.HEADERS, 'abc'],
      [FrameType.DATA, 'hello'],
    ]);
    expect(r.atBoundary).toBe(true);
  });

  it('rejects HTTP/2-only frame types and oversized frames', () => {
    const r = new FrameReader({ wanted });
    r.push(encodeFrame(0x06, new Uint8Array(8))); // HTTP/2 PING
    expect(() => r.next()).toThrowError(expect.objectContaining({ code: H3ErrorCode.FRAME_UNEXPECTED }));
    const small = new FrameReader({ wanted, maxPayload: 10 });
    small.push(encodeFrameHeaderOnly(FrameType.HEADERS, 11));
    expect(() => small.next()).toThrowError(expect.objectContaining({ code: H3ErrorCode.EXCESSIVE_LOAD }));
  });

  it('recognises GREASE codepoints', () => {
    expect(isReservedCodepoint(0x21)).toBe(true);
    expect(isReservedCodepoint(0x21 + 0x1f * 1000)).toBe(true);
    expect(isReservedCodepoint(0x22)).toBe(false);
    expect(isReservedCodepoint(FrameType.WEBTRANSPORT_STREAM)).toBe(false);
  });

  it('round-trips settings and rejects duplicates and HTTP/2 identifiers', () => {
    const payload = encodeSettingsPayload([
      [SettingId.H3_DATAGRAM, 1],
      [SettingId.ENABLE_WEBTRANSPORT_DRAFT02, 1],
      [0x21 + 0x1f * 3, 77],
    ]);
    expect([...decodeSettingsPayload(payload)]).toEqual([
      [0x33, 1],
      [0x2b603742, 1],
      [0x21 + 0x1f * 3, 77],
    ]);
    expect(() => decodeSettingsPayload(encodeSettingsPayload([[0x33, 1], [0x33, 0]]))).toThrowError(
      expect.objectContaining({ code: H3ErrorCode.SETTINGS_ERROR }),
    );
    expect(() => decodeSettingsPayload(encodeSettingsPayload([[0x02, 1]]))).toThrowError(
      expect.objectContaining({ code: H3ErrorCode.SETTINGS_ERROR }),
    );
    expect(() => decodeSettingsPayload(hex('3340'))).toThrow(Http3Error);
  });
});

function encodeFrameHeaderOnly(type: number, length: number): Uint8Array {
  return Uint8Array.from([...encodeVarint(type), ...encodeVarint(length)]);
}

describe('Huffman (RFC 7541 Appendix B, C.4, C.6)', () => {
  it('derives the code table of Appendix B', () => {
    const rows: [number, number, number][] = [
      [0, 0x1ff8, 13],
      [1, 0x7fffd8, 23],
      [10, 0x3ffffffc, 30],
      [32, 0x14, 6],
      [48, 0x0, 5],
      [92, 0x7fff0, 19],
      [127, 0xffffffc, 28],
      [128, 0xfffe6, 20],
      [203, 0x7ffffde, 27],
      [255, 0x3ffffee, 26],
      [256, 0x3fffffff, 30],
    ];
    for (const [sym, code, len] of rows) {
      expect([HUFFMAN_CODES[sym], HUFFMAN_CODE_LENGTHS[sym]]).toEqual([code, len]);
    }
  });

  const examples: [string, string][] = [
    ['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'],
    ['no-cache', 'a8eb10649cbf'],
    ['custom-key', '25a849e95ba97d7f'],
    ['custom-value', '25a849e95bb8e8b4bf'],
    ['302', '6402'],
    ['private', 'aec3771a4b'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07abe941054d444a8200595040b8166e082a62d1bff'],
    ['https://www.example.com', '9d29ad171863c78f0b97c8e9ae82ae43d3'],
  ];

  it.each(examples)('encodes and decodes %s', (text, encoded) => {
    expect(toHex(huffmanEncode(ascii(text)))).toBe(encoded);
    expect(new TextDecoder().decode(huffmanDecode(hex(encoded)))).toBe(text);
  });

  it('round-trips every byte value', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(huffmanDecode(huffmanEncode(all))).toEqual(all);
  });

  it('rejects bad padding and EOS', () => {
    // 'a' is 00011; padding of zeros is not a prefix of EOS.
    expect(() => huffmanDecode(hex('18'))).toThrow(QpackError);
    // A whole byte of ones after a complete symbol is padding longer than 7 bits.
    expect(() => huffmanDecode(hex('1fff'))).toThrow(QpackError);
    // EOS itself (30 ones) followed by padding.
    expect(() => huffmanDecode(hex('ffffffff'))).toThrow(QpackError);
  });
});

describe('QPACK (RFC 9204)', () => {
  it('has the 99-entry static table of Appendix A', () => {
    expect(STATIC_TABLE).toHaveLength(99);
    expect(STATIC_TABLE[0]).toEqual([':authority', '']);
    expect(STATIC_TABLE[15]).toEqual([':method', 'CONNECT']);
    expect(STATIC_TABLE[25]).toEqual([':status', '200']);
    expect(STATIC_TABLE[98]).toEqual(['x-frame-options', 'sameorigin']);
  });

  it('decodes Appendix B.1 (literal with a static name reference)', () => {
    expect(decodeFieldSection(hex('0000 510b 2f69 6e64 6578 2e68 746d 6c'))).toEqual([{ name: ':path', value: '/index.html' }]);
  });

  it('refuses Appendix B.2, which needs the dynamic table we never allow', () => {
    expect(() => decodeFieldSection(hex('0381 10 11'))).toThrowError(
      expect.objectContaining({ code: H3ErrorCode.QPACK_DECOMPRESSION_FAILED }),
    );
    expect(() => decodeFieldSection(hex('0000 10'))).toThrow(QpackError);
    expect(() => decodeFieldSection(hex('0000 81'))).toThrow(QpackError); // indexed, dynamic (T=0)
  });

  it('decodes a Chromium-style extended CONNECT with Huffman literals', () => {
    const fields = [
      { name: ':method', value: 'CONNECT' },
      { name: ':protocol', value: 'webtransport' },
      { name: ':scheme', value: 'https' },
      { name: ':authority', value: '127.0.0.1:4433' },
      { name: ':path', value: '/echo?x=1' },
      { name: 'origin', value: 'http://127.0.0.1:8080' },
      { name: 'sec-webtransport-http3-draft02', value: '1' },
      { name: 'user-agent', value: 'Mozilla/5.0' },
    ];
    for (const huffman of [true, false]) {
      const block = encodeFieldSection(fields, { huffman });
      expect(decodeFieldSection(block)).toEqual(fields);
    }
  });

  it('encodes a response with static references', () => {
    expect(toHex(encodeFieldSection([{ name: ':status', value: '200' }]))).toBe('0000d9');
    expect(toHex(encodeFieldSection([{ name: ':status', value: '404' }]))).toBe('0000db');
  });

  it('bounds-checks everything', () => {
    expect(() => decodeFieldSection(hex(''))).toThrow(QpackError);
    expect(() => decodeFieldSection(hex('0000 ff'))).toThrow(QpackError); // index continues past end
    expect(() => decodeFieldSection(hex('0000 ff 7f'))).toThrow(QpackError); // index out of the static table
    expect(() => decodeFieldSection(hex('0000 5f 05 7f'))).toThrow(QpackError); // value longer than the section
    expect(() => decodeFieldSection(hex('0000 ffffffffffff7f'))).toThrow(QpackError); // integer overflow
    const big = encodeFieldSection([{ name: 'x-big', value: 'a'.repeat(5000) }]);
    expect(() => decodeFieldSection(big, { maxFieldSectionSize: 4096 })).toThrow(QpackError);
  });
});

describe('requests (RFC 9114 §4.3, RFC 9220)', () => {
  const base = [
    { name: ':method', value: 'CONNECT' },
    { name: ':protocol', value: 'webtransport' },
    { name: ':scheme', value: 'https' },
    { name: ':authority', value: 'localhost' },
    { name: ':path', value: '/live' },
  ];

  it('parses an extended CONNECT', () => {
    const head = parseRequestHead([...base, { name: 'origin', value: 'https://a.example' }]);
    expect(head).toMatchObject({ method: 'CONNECT', protocol: 'webtransport', path: '/live', headers: { origin: 'https://a.example' } });
  });

  it.each([
    ['uppercase name', [...base, { name: 'Origin', value: 'x' }]],
    ['pseudo after regular', [base[0]!, { name: 'origin', value: 'x' }, ...base.slice(1)]],
    ['duplicate pseudo', [...base, { name: ':path', value: '/x' }]],
    ['missing path', base.filter((f) => f.name !== ':path')],
    ['connection header', [...base, { name: 'connection', value: 'close' }]],
    ['unknown pseudo', [...base, { name: ':status', value: '200' }]],
    ['CR in value', [...base, { name: 'x', value: 'a\rb' }]],
  ])('rejects %s with H3_MESSAGE_ERROR', (_why, fields) => {
    expect(() => parseRequestHead(fields)).toThrowError(expect.objectContaining({ code: H3ErrorCode.MESSAGE_ERROR }));
  });
});

describe('capsules and WebTransport framing', () => {
  it('round-trips CLOSE_WEBTRANSPORT_SESSION through DATA-split chunks, skipping GREASE capsules', () => {
    const bytes = Buffer.concat([
      Buffer.from([...encodeVarint(0x29 + 0x1f * 2), 2, 9, 9]),
      encodeDrainSessionCapsule(),
      encodeCloseSessionCapsule(4242, 'bye ✓'),
    ]);
    const r = new CapsuleReader(new Set([CapsuleType.CLOSE_WEBTRANSPORT_SESSION, CapsuleType.DRAIN_WEBTRANSPORT_SESSION]));
    const got: number[] = [];
    let close;
    for (const b of bytes) {
      r.push(Uint8Array.of(b));
      for (let c = r.next(); c; c = r.next()) {
        got.push(c.type);
        if (c.type === CapsuleType.CLOSE_WEBTRANSPORT_SESSION) close = decodeCloseSessionValue(c.value);
      }
    }
    expect(got).toEqual([CapsuleType.DRAIN_WEBTRANSPORT_SESSION, CapsuleType.CLOSE_WEBTRANSPORT_SESSION]);
    expect(close).toEqual({ code: 4242, reason: 'bye ✓' });
  });

  it('truncates long reasons at a character boundary and rejects short values', () => {
    const capsule = encodeCloseSessionCapsule(1, 'é'.repeat(600));
    const r = new CapsuleReader(new Set([CapsuleType.CLOSE_WEBTRANSPORT_SESSION]), 4096);
    r.push(capsule);
    const info = decodeCloseSessionValue(r.next()!.value);
    expect(info.reason).toBe('é'.repeat(512));
    expect(() => decodeCloseSessionValue(hex('0102'))).toThrow(Http3Error);
    expect(() => encodeCloseSessionCapsule(2 ** 32, '')).toThrow(RangeError);
  });

  it('encodes stream headers and datagrams', () => {
    expect(toHex(encodeUniStreamHeader(0))).toBe('4054' + '00');
    expect(toHex(encodeBidiStreamHeader(4))).toBe('4041' + '04');
    const d = encodeDatagram(8, ascii('hi'));
    expect(toHex(d)).toBe('02' + '6869');
    expect(decodeDatagram(d)).toEqual({ sessionId: 8, payload: ascii('hi') });
    expect(() => decodeDatagram(new Uint8Array(0))).toThrow(Http3Error);
    expect(() => encodeDatagram(5, ascii('x'))).toThrow(RangeError);
  });

  it('maps application error codes around the reserved codepoints', () => {
    expect(webTransportCodeToHttp3(0)).toBe(0x52e4a40fa8db);
    expect(webTransportCodeToHttp3(0xffffffff)).toBe(0x52e5ac983162);
    for (const code of [0, 1, 0x1d, 0x1e, 0x1f, 1000, 0xfffffffe, 0xffffffff]) {
      const h3 = webTransportCodeToHttp3(code);
      expect(isReservedCodepoint(h3)).toBe(false);
      expect(http3ToWebTransportCode(h3)).toBe(code);
    }
    expect(http3ToWebTransportCode(0x100)).toBeNull();
  });
});
