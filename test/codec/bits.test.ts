import { describe, expect, it } from 'vitest';
import { BitReader, BitstreamError, removeEmulationPrevention } from '../../src/codec/bits.js';
import { addEmulationPrevention, BitWriter } from './helpers.js';

describe('BitReader', () => {
  it('reads fixed-width fields MSB first, across byte boundaries', () => {
    const r = new BitReader(Uint8Array.from([0b1011_0011, 0b1100_0101, 0xff, 0xff, 0xff, 0xff]));
    expect(r.readBit()).toBe(1);
    expect(r.readBits(3)).toBe(0b011);
    expect(r.readBits(6)).toBe(0b0011_11);
    expect(r.readFlag()).toBe(false);
    expect(r.position).toBe(11);
    r.skipBits(5);
    expect(r.readBits(32)).toBe(0xffffffff); // unsigned, not -1
    expect(r.bitsLeft).toBe(0);
  });

  it('decodes Exp-Golomb ue(v) and se(v) as the table in H.264 §9.1 gives', () => {
    const values = [0, 1, 2, 3, 4, 7, 8, 255, 65535, 2 ** 31, 2 ** 32 - 2];
    const signed = [0, 1, -1, 2, -2, 100, -100, 2 ** 30, -(2 ** 30)];
    const w = new BitWriter();
    values.forEach((v) => w.ue(v));
    signed.forEach((v) => w.se(v));
    const r = new BitReader(w.bytes());
    expect(values.map(() => r.readUe())).toEqual(values);
    expect(signed.map(() => r.readSe())).toEqual(signed);
    // Known encodings: 1 → "1", 010 → 1, 011 → 2, 00100 → 3
    const k = new BitReader(Uint8Array.from([0b1010_0110, 0b0100_0000]));
    expect([k.readUe(), k.readUe(), k.readUe(), k.readUe()]).toEqual([0, 1, 2, 3]);
  });

  it('throws instead of reading past the end', () => {
    const r = new BitReader(Uint8Array.from([0xf0]));
    expect(() => r.readBits(9)).toThrow(BitstreamError);
    expect(r.readBits(4)).toBe(0xf);
    expect(() => r.readUe()).toThrow(/truncated/); // four zero bits, never a stop bit
    expect(() => new BitReader(new Uint8Array(8)).readUe()).toThrow(/leading zeros/);
  });
});

describe('removeEmulationPrevention', () => {
  it('drops the 0x03 of every 00 00 03, including consecutive ones', () => {
    const nal = Uint8Array.from([0x67, 0, 0, 3, 0, 0, 0, 3, 1, 0, 0, 3, 3, 0, 0, 3]);
    expect([...removeEmulationPrevention(nal)]).toEqual([0x67, 0, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0]);
  });

  it('returns the input untouched when there is nothing to strip', () => {
    const nal = Uint8Array.from([0x67, 0, 3, 0, 1, 3, 0, 0]);
    expect(removeEmulationPrevention(nal)).toBe(nal);
  });

  it('inverts an encoder’s emulation prevention', () => {
    const rbsp = Uint8Array.from({ length: 4096 }, (_, i) => ((i * 2654435761) >>> 29) & 3);
    const escaped = addEmulationPrevention(rbsp);
    expect(escaped.length).toBeGreaterThan(rbsp.length);
    expect(removeEmulationPrevention(escaped)).toEqual(rbsp);
  });
});
