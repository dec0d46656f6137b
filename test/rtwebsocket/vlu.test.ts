import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocols/rtwebsocket/errors.js';
import { MAX_VLU, encodeVlu, readVlu, vluLength, writeVlu } from '../../src/protocols/rtwebsocket/vlu.js';
import { fromHex, hex } from './helpers.js';

const vectors: [number, string][] = [
  [0, '00'],
  [1, '01'],
  [127, '7f'],
  [128, '81 00'],
  [129, '81 01'],
  [16383, 'ff 7f'],
  [16384, '81 80 00'],
  [2097151, 'ff ff 7f'], // the reference's default receive window: the largest 3-byte VLU
  [2 ** 32, '90 80 80 80 00'],
  [2 ** 53 - 1, '8f ff ff ff ff ff ff 7f'],
];

describe('VLU', () => {
  it.each(vectors)('encodes %d as %s', (value, bytes) => {
    expect(hex(encodeVlu(value))).toBe(bytes);
    expect(vluLength(value)).toBe(fromHex(bytes).length);
  });

  it.each(vectors)('decodes %d back from %s', (value, bytes) => {
    expect(readVlu(fromHex(bytes), 0)).toEqual({ value, next: fromHex(bytes).length });
  });

  it('reads at an offset and stops at the last digit', () => {
    const buf = fromHex('aa 81 00 05');
    expect(readVlu(buf, 1)).toEqual({ value: 128, next: 3 });
    expect(readVlu(buf, 3)).toEqual({ value: 5, next: 4 });
  });

  it('writes in place and answers the next offset', () => {
    const buf = new Uint8Array(5);
    expect(writeVlu(buf, 1, 300)).toBe(3);
    expect(hex(buf)).toBe('00 82 2c 00 00');
  });

  it('accepts redundant leading zero digits, like the reference parsers', () => {
    // Same vector as rtmfp-cpp's testvlu: 80 80 81 00 is 128.
    expect(readVlu(fromHex('80 80 81 00'), 0)).toEqual({ value: 128, next: 4 });
    expect(readVlu(fromHex('80 00'), 0).value).toBe(0);
  });

  it.each(['', '81', 'ff ff', '80 80 80'])('rejects truncated input %j', (bytes) => {
    expect(() => readVlu(fromHex(bytes), 0)).toThrowError(expect.objectContaining({ kind: 'truncated' }));
  });

  it('never reads past `end`, even with bytes beyond it', () => {
    expect(() => readVlu(fromHex('81 00'), 0, 1)).toThrow(ProtocolError);
  });

  it('rejects values past 2^53-1 as overflow', () => {
    expect(() => readVlu(fromHex('90 80 80 80 80 80 80 00'), 0)).toThrowError(expect.objectContaining({ kind: 'vlu-overflow' })); // 2^53
    expect(() => readVlu(fromHex('ff ff ff ff ff ff ff ff ff ff 7f'), 0)).toThrowError(expect.objectContaining({ kind: 'vlu-overflow' }));
    expect(readVlu(encodeVlu(MAX_VLU), 0).value).toBe(MAX_VLU);
  });

  it('refuses to encode what it could not decode', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Infinity]) expect(() => encodeVlu(bad)).toThrow(RangeError);
  });

  it('round-trips random values', () => {
    for (let i = 0; i < 1000; i++) {
      const value = Math.floor(Math.random() * 2 ** (1 + (i % 53)));
      expect(readVlu(encodeVlu(value), 0).value).toBe(value);
    }
  });
});
