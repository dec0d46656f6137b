import { describe, expect, it } from 'vitest';
import { AmfEcmaArray, decodeAmf0, encodeAmf0, type AmfValue } from '../../src/protocols/rtmp/amf0.js';
import { decodeCommand } from '../../src/protocols/rtmp/commands.js';
import { RtmpProtocolError } from '../../src/protocols/rtmp/errors.js';

const obj = (o: Record<string, AmfValue>) => Object.assign(Object.create(null) as Record<string, AmfValue>, o);

function expectAmfError(bytes: Buffer | number[], text: RegExp): void {
  let caught: unknown;
  try {
    decodeAmf0(Buffer.from(bytes));
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(RtmpProtocolError);
  expect((caught as RtmpProtocolError).code).toBe('amf');
  expect((caught as Error).message).toMatch(text);
}

describe('AMF0', () => {
  it('round-trips every value type', () => {
    const values: AmfValue[] = [
      0,
      -1.5,
      Number.MAX_VALUE,
      true,
      false,
      '',
      'connect',
      'ünïcödé ✓',
      'x'.repeat(70_000), // long string
      null,
      undefined,
      new Date(1_700_000_000_000),
      [1, 'two', null, [3]],
      obj({ app: 'live', nested: obj({ deep: obj({ n: 1 }) }), list: [obj({ a: true })] }),
      new AmfEcmaArray(obj({ duration: 0, width: 1280, encoder: 'Lavf' })),
    ];
    const decoded = decodeAmf0(encodeAmf0(...values));
    expect(decoded).toEqual(values);
    expect(decoded[8]).toHaveLength(70_000);
    expect(decoded[14]).toBeInstanceOf(AmfEcmaArray);
  });

  it('knows the wire form: a long string is marker 0x0c with a 32-bit length, an ECMA array 0x08 with a count', () => {
    const long = encodeAmf0('y'.repeat(0x10000));
    expect(long[0]).toBe(0x0c);
    expect(long.readUInt32BE(1)).toBe(0x10000);
    expect(encodeAmf0(new AmfEcmaArray(obj({ a: 1 })))).toEqual(Buffer.from([0x08, 0, 0, 0, 1, 0, 1, 0x61, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09]));
  });

  it('decodes references, typed objects, XML and an ECMA array without its end marker', () => {
    const o = [0x03, 0, 1, 0x6b, 0x02, 0, 1, 0x76, 0, 0, 0x09]; // { k: 'v' }
    expect(decodeAmf0(Buffer.from([...o, 0x07, 0, 0]))).toEqual([obj({ k: 'v' }), obj({ k: 'v' })]);
    expect(decodeAmf0(Buffer.from([0x10, 0, 2, 0x41, 0x42, 0, 1, 0x6b, 0x01, 1, 0, 0, 0x09]))).toEqual([obj({ k: true })]);
    expect(decodeAmf0(Buffer.from([0x0f, 0, 0, 0, 3, 0x3c, 0x61, 0x3e]))).toEqual(['<a>']);
    expect(decodeAmf0(Buffer.from([0x08, 0, 0, 0, 9, 0, 1, 0x6b, 0x05]))[0]).toEqual(new AmfEcmaArray(obj({ k: null })));
  });

  it('keeps __proto__ an ordinary key', () => {
    const [decoded] = decodeAmf0(Buffer.from([0x03, 0, 9, ...Buffer.from('__proto__'), 0x01, 1, 0, 0, 0x09])) as [Record<string, AmfValue>];
    expect(Object.getPrototypeOf(decoded)).toBe(null);
    expect(decoded['__proto__']).toBe(true);
    expect(({} as Record<string, unknown>)['k']).toBeUndefined();
  });

  it('refuses malformed input with a typed error', () => {
    expectAmfError([0x02, 0, 10, 0x61], /truncated \(need 10 byte\(s\), 1 left\)/);
    expectAmfError([0x00, 1, 2], /truncated/);
    expectAmfError([0x42], /unknown marker 0x42/);
    expectAmfError([0x07, 0, 3], /reference 3 to one of 0/);
    expectAmfError([0x0a, 0xff, 0xff, 0xff, 0xff, 0x05], /strict array of 4294967295 elements in 1 byte/);
    expectAmfError([0x03, 0, 1, 0x6b], /truncated/);
    // 40 nested strict arrays of one element.
    expectAmfError(Array.from({ length: 40 }, () => [0x0a, 0, 0, 0, 1]).flat(), /nesting deeper than 32/);
  });
});

describe('AMF3 inside AMF0 (AVM+ marker) and type-17 commands', () => {
  it('decodes integers, doubles, strings with references, arrays and objects with traits', () => {
    const amf3 = Buffer.from([
      0x11, 0x09, 0x07, 0x01, // array: 3 dense, no associative part
      0x04, 0x7f, // int 127
      0x04, 0xff, 0xff, 0xff, 0xff, // int -1 (29-bit)
      0x06, 0x07, 0x61, 0x62, 0x63, // "abc"
      // object, inline dynamic traits with one sealed member 'a', anonymous class; a = string reference 0 ('a',
      // the member name: each AVM+ value has its own tables), then dynamic b = 1.0 and the empty key that ends it.
      0x11, 0x0a, 0x1b, 0x01, 0x03, 0x61, 0x06, 0x00, 0x03, 0x62, 0x05, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x01,
    ]);
    const decoded = decodeAmf0(amf3);
    expect(decoded[0]).toEqual([127, -1, 'abc']);
    expect(decoded[1]).toEqual(obj({ a: 'a', b: 1 }));
  });

  it('reads a type-17 connect: format byte, then AMF0 with an AMF3 command object', () => {
    // 0x00 format byte, "connect", 1, AVM+ object { app: "live" } (dynamic, no sealed members)
    const payload = Buffer.from([0x00, ...encodeAmf0('connect', 1), 0x11, 0x0a, 0x0b, 0x01, 0x07, 0x61, 0x70, 0x70, 0x06, 0x09, 0x6c, 0x69, 0x76, 0x65, 0x01]);
    const c = decodeCommand(17, payload);
    expect(c.name).toBe('connect');
    expect(c.transactionId).toBe(1);
    expect(c.commandObject).toEqual(obj({ app: 'live' }));
  });

  it('refuses AMF3 it cannot read with a typed error', () => {
    expectAmfError([0x11, 0x0a, 0x07, 0x01], /externalizable/);
    expectAmfError([0x11, 0x06, 0x02], /string reference 1 to one of 0/);
    expectAmfError([0x11, 0x0d, 0x01], /unsupported marker 0x0d/);
  });
});

describe('AMF decoding of hostile bytes', () => {
  it('never throws anything but a typed error on random input and mutated commands (seeded)', () => {
    let seed = 1234;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const valid = encodeAmf0('connect', 1, obj({ app: 'live', tcUrl: 'rtmp://h/live', list: [1, 2, obj({ x: new Date(0) })] }), new AmfEcmaArray(obj({ a: 'b' })));
    for (let i = 0; i < 5000; i++) {
      const bytes = i % 2 === 0 ? Buffer.from(Array.from({ length: rand(64) }, () => rand(256))) : Buffer.from(valid);
      if (i % 2 === 1) for (let k = 0; k < 1 + rand(4); k++) bytes[rand(bytes.length)] = rand(256);
      try {
        decodeAmf0(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(RtmpProtocolError);
      }
    }
  });
});
