import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  annexBToAvcc,
  avccToAnnexB,
  avcCodecString,
  buildAvcDecoderConfig,
  forEachNal,
  H264Error,
  h264TrackInfo,
  isIdrAccessUnit,
  nalUnitType,
  OUT_OF_BAND_NAL_TYPES,
  parseAvcDecoderConfig,
  parseSps,
  splitAnnexB,
} from '../../src/codec/h264.js';
import { removeEmulationPrevention } from '../../src/codec/bits.js';
import { addEmulationPrevention, BitWriter, concat, ffmpegDiagnostics, makeTempDir } from './helpers.js';

interface SpsSpec {
  profile?: number;
  constraint?: number;
  level?: number;
  chromaFormat?: number;
  bitDepth?: number;
  /** One entry per scaling list: null = not present, else the deltas to write. */
  scaling?: (number[] | null)[];
  pocType?: 0 | 1 | 2;
  widthMbs: number;
  heightMapUnits: number;
  frameMbsOnly?: boolean;
  crop?: [number, number, number, number];
  vui?: { sar?: number | [number, number]; timing?: [number, number] };
}

/** Write an SPS NAL unit field by field (H.264 §7.3.2.1.1), escaped like an encoder would. */
function buildSps(s: SpsSpec): Uint8Array {
  const profile = s.profile ?? 100;
  const w = new BitWriter().u(8, profile).u(8, s.constraint ?? 0).u(8, s.level ?? 40).ue(0);
  if ([100, 110, 122, 244].includes(profile)) {
    const chroma = s.chromaFormat ?? 1;
    w.ue(chroma);
    if (chroma === 3) w.flag(false);
    w.ue((s.bitDepth ?? 8) - 8).ue((s.bitDepth ?? 8) - 8).flag(false);
    w.flag(s.scaling !== undefined);
    for (const list of s.scaling ?? []) {
      w.flag(list !== null);
      list?.forEach((d) => w.se(d));
    }
  }
  w.ue(0); // log2_max_frame_num_minus4
  const poc = s.pocType ?? 0;
  w.ue(poc);
  if (poc === 0) w.ue(2);
  if (poc === 1) w.flag(false).se(-3).se(5).ue(3).se(1).se(-1).se(7);
  w.ue(4).flag(false).ue(s.widthMbs - 1).ue(s.heightMapUnits - 1);
  const frameMbsOnly = s.frameMbsOnly ?? true;
  w.flag(frameMbsOnly);
  if (!frameMbsOnly) w.flag(true);
  w.flag(true); // direct_8x8_inference_flag
  w.flag(s.crop !== undefined);
  s.crop?.forEach((c) => w.ue(c));
  w.flag(s.vui !== undefined);
  if (s.vui) {
    const sar = s.vui.sar;
    w.flag(sar !== undefined);
    if (typeof sar === 'number') w.u(8, sar);
    else if (sar) w.u(8, 255).u(16, sar[0]).u(16, sar[1]);
    w.flag(false).flag(true).u(3, 5).flag(false).flag(true).u(8, 1).u(8, 1).u(8, 1).flag(false);
    w.flag(s.vui.timing !== undefined);
    if (s.vui.timing) w.u(32, s.vui.timing[0]).u(32, s.vui.timing[1]).flag(true);
    w.flag(false).flag(false).flag(false).flag(false); // no HRD, no pic_struct, no restriction
  }
  return concat(Uint8Array.of(0x67), addEmulationPrevention(w.trailing().bytes()));
}

const pps = Uint8Array.of(0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0);
const idr = Uint8Array.of(0x65, 0x88, 0x84, 0x00, 0x21, 0xff);
const nonIdr = Uint8Array.of(0x41, 0x9a, 0x02, 0x80); // a NAL unit never ends in 0x00 (rbsp_stop_one_bit)
const aud = Uint8Array.of(0x09, 0xf0);
const sei = Uint8Array.of(0x06, 0x05, 0x01, 0xaa, 0x80);

function avcc(nals: Uint8Array[], size = 4): Uint8Array {
  return concat(
    ...nals.flatMap((n) => {
      const len = new Uint8Array(size);
      for (let k = 0; k < size; k++) len[k] = (n.length >>> (8 * (size - 1 - k))) & 0xff;
      return [len, n];
    }),
  );
}

const startCode = Uint8Array.of(0, 0, 0, 1);
const annexB = (nals: Uint8Array[]) => concat(...nals.flatMap((n) => [startCode, n]));

// A 1080p High-profile SPS with explicit, default-signalled and early-ending scaling lists.
const scaled: SpsSpec = {
  profile: 100,
  level: 41,
  scaling: [
    [8, 1, 0, 2, -1, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], // full 4x4 list
    [-8], // first delta to 0: "use the default matrix", nothing else follows
    null,
    [4, -12], // 12 → 0 after two entries: the rest repeats the last value
    null,
    null,
    Array.from({ length: 64 }, (_, j) => (j % 5) - 2), // full 8x8 list
    [127, -128, -7], // 135, 7, then 0: ends early
  ],
  widthMbs: 120,
  heightMapUnits: 68,
  crop: [0, 0, 0, 4],
  vui: { sar: [4, 3], timing: [1001, 60000] },
};

describe('parseSps', () => {
  it('skips High-profile scaling lists bit-exactly and applies 4:2:0 cropping', () => {
    const info = parseSps(buildSps(scaled));
    expect(info).toEqual({
      profileIdc: 100,
      constraintFlags: 0,
      levelIdc: 41,
      width: 1920,
      height: 1080,
      chromaFormatIdc: 1,
      bitDepth: 8,
      bitDepthChroma: 8,
      frameMbsOnly: true,
      frameRate: 60000 / 2002,
      sampleAspectRatio: { width: 4, height: 3 },
    });
  });

  it('reads 12 scaling lists and luma-unit cropping for 4:4:4, and high bit depth', () => {
    const info = parseSps(
      buildSps({
        profile: 244,
        chromaFormat: 3,
        bitDepth: 10,
        scaling: [...Array<null>(6).fill(null), [1, -9], null, null, null, null, [-8]],
        widthMbs: 41,
        heightMapUnits: 23,
        crop: [0, 14, 0, 6],
      }),
    );
    expect(info).toMatchObject({ width: 642, height: 362, chromaFormatIdc: 3, bitDepth: 10, bitDepthChroma: 10 });
    expect(info.frameRate).toBeUndefined();
  });

  it('doubles map units and crop rows for field coding (frame_mbs_only_flag = 0)', () => {
    const info = parseSps(
      buildSps({ profile: 77, widthMbs: 45, heightMapUnits: 17, frameMbsOnly: false, crop: [0, 0, 0, 4], pocType: 1 }),
    );
    // 17 map units × 2 × 16 = 544 rows, minus 4 × (2 × 2) = 528
    expect(info).toMatchObject({ profileIdc: 77, width: 720, height: 528, frameMbsOnly: false, chromaFormatIdc: 1 });
  });

  it('parses an SPS whose RBSP needed emulation-prevention bytes', () => {
    const nal = buildSps({ profile: 66, constraint: 0xc0, level: 30, widthMbs: 40, heightMapUnits: 23, crop: [0, 0, 0, 4], vui: { sar: 1, timing: [1, 60] }, pocType: 2 });
    // num_units_in_tick = 1 is 31 zero bits then a one: it cannot be written without escaping
    expect(removeEmulationPrevention(nal).length).toBeLessThan(nal.length);
    expect(parseSps(nal)).toMatchObject({ width: 640, height: 360, frameRate: 30, sampleAspectRatio: { width: 1, height: 1 } });
  });

  it('never reads out of bounds: every truncation throws H264Error or only loses VUI fields', () => {
    const full = buildSps(scaled);
    const expected = parseSps(full);
    let threw = 0;
    for (let n = 0; n < full.length; n++) {
      try {
        const info = parseSps(full.subarray(0, n));
        expect(info.width).toBe(expected.width);
        expect(info.height).toBe(expected.height);
      } catch (err) {
        expect(err).toBeInstanceOf(H264Error);
        threw++;
      }
    }
    expect(threw).toBeGreaterThan(10);
    expect(() => parseSps(full.subarray(0, 10))).toThrow(/SPS: bitstream truncated/);
  });

  it('rejects non-SPS NAL units and impossible values', () => {
    expect(() => parseSps(pps)).toThrow(/not an SPS/);
    expect(() => parseSps(buildSps({ chromaFormat: 4, widthMbs: 1, heightMapUnits: 1 }))).toThrow(/chroma_format_idc/);
    expect(() => parseSps(buildSps({ profile: 66, widthMbs: 1, heightMapUnits: 1, crop: [8, 0, 0, 0] }))).toThrow(/empty picture/);
  });
});

describe('parseSps against ffmpeg’s own SPS parser (trace_headers)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await makeTempDir()));
  afterAll(() => cleanup());

  it('agrees on the fields that follow the scaling lists', async () => {
    const file = join(dir, 'scaled.h264');
    await writeFile(file, annexB([buildSps(scaled), pps]));
    // ffmpeg gives up after tracing (there are no slices to copy): only its trace matters.
    const trace = await ffmpegDiagnostics(['-f', 'h264', '-i', file, '-c', 'copy', '-bsf:v', 'trace_headers', '-f', 'null', '-']);
    const field = (name: string) => Number(new RegExp(`\\b${name}\\s+[01]+ = (\\d+)`).exec(trace)?.[1]);
    expect(field('seq_scaling_list_present_flag\\[7\\]')).toBe(1);
    expect((field('pic_width_in_mbs_minus1') + 1) * 16).toBe(1920);
    expect(field('frame_crop_bottom_offset')).toBe(4);
    expect(field('sar_width')).toBe(4);
    expect(field('time_scale')).toBe(60000);
    const info = parseSps(buildSps(scaled));
    expect(info.frameRate).toBeCloseTo(field('time_scale') / (2 * field('num_units_in_tick')), 9);
  });
});

describe('avcC', () => {
  const sps = buildSps({ profile: 100, level: 31, widthMbs: 80, heightMapUnits: 45 });
  const baseline = buildSps({ profile: 66, constraint: 0xc0, level: 30, widthMbs: 40, heightMapUnits: 23, crop: [0, 0, 0, 4] });

  it('builds and parses a record, with the High-profile extension', () => {
    const record = buildAvcDecoderConfig([sps], [pps]);
    expect([...record.subarray(0, 6)]).toEqual([1, 100, 0, 31, 0xff, 0xe1]);
    expect([...record.subarray(-4)]).toEqual([0xfd, 0xf8, 0xf8, 0]); // 4:2:0, 8-bit, no SPS extensions
    const parsed = parseAvcDecoderConfig(record);
    expect(parsed).toEqual({ profile: 100, compatibility: 0, level: 31, nalLengthSize: 4, sps: [sps], pps: [pps] });
    expect(parsed.sps[0]!.buffer).not.toBe(record.buffer); // copies, not views

    const base = buildAvcDecoderConfig([baseline], [pps, pps], 2);
    expect(base.length).toBe(6 + 2 + baseline.length + 1 + 2 * (2 + pps.length)); // no extension for Baseline
    expect(parseAvcDecoderConfig(base)).toMatchObject({ profile: 66, compatibility: 0xc0, nalLengthSize: 2, pps: [pps, pps] });
  });

  it('throws a descriptive H264Error for every truncation, never reading past the end', () => {
    const record = buildAvcDecoderConfig([sps], [pps]);
    const withoutExtension = 6 + 2 + sps.length + 1 + 2 + pps.length;
    for (let n = 0; n < withoutExtension; n++) {
      expect(() => parseAvcDecoderConfig(record.subarray(0, n))).toThrow(H264Error);
    }
    expect(() => parseAvcDecoderConfig(record.subarray(0, 12))).toThrow(/SPS #0 declares \d+ byte\(s\), only 4 left/);
    expect(() => parseAvcDecoderConfig(Uint8Array.of(0, 100, 0, 31, 0xff, 0xe0, 0))).toThrow(/configurationVersion 0/);
    expect(() => parseAvcDecoderConfig(Uint8Array.of(1, 100, 0, 31, 0xfe, 0xe0, 0))).toThrow(/length size 3/);
  });

  it('gives RFC 6381 codec strings from an SPS or a record', () => {
    expect(avcCodecString(sps)).toBe('avc1.64001f');
    expect(avcCodecString(baseline)).toBe('avc1.42c01e');
    expect(avcCodecString(buildAvcDecoderConfig([baseline], [pps]))).toBe('avc1.42c01e');
    expect(() => avcCodecString(pps)).toThrow(/neither an SPS nor an avcC/);
    expect(() => avcCodecString(Uint8Array.of(1, 2))).toThrow(H264Error);
  });

  it('builds track info from a record', () => {
    const record = buildAvcDecoderConfig([baseline], [pps]);
    const info = h264TrackInfo(record);
    expect(info).toEqual({
      kind: 'video',
      codec: 'h264',
      codecString: 'avc1.42c01e',
      width: 640,
      height: 360,
      avcC: record,
      sps: [baseline],
      pps: [pps],
      nalLengthSize: 4,
    });
    expect(info.avcC).not.toBe(record);
    expect(() => h264TrackInfo(Uint8Array.of(1, 66, 0, 30, 0xff, 0xe0, 0))).toThrow(/no SPS/);
  });
});

describe('NAL unit framing', () => {
  it('splits Annex B with 3- and 4-byte start codes, dropping leading junk and trailing zeros', () => {
    const stream = concat(
      Uint8Array.of(0xaa, 0x00), // junk before the first start code
      Uint8Array.of(0, 0, 1), aud,
      Uint8Array.of(0, 0, 0, 1), sei,
      Uint8Array.of(0, 0, 1), idr, Uint8Array.of(0, 0), // trailing_zero_8bits
      Uint8Array.of(0, 0, 0, 1), nonIdr,
    );
    const nals = splitAnnexB(stream);
    expect(nals).toEqual([aud, sei, idr, nonIdr]);
    expect(nals.map(nalUnitType)).toEqual([9, 6, 5, 1]);
    expect(nals[0]!.buffer).toBe(stream.buffer); // views
    expect(splitAnnexB(Uint8Array.of(1, 2, 3))).toEqual([]);
    expect(splitAnnexB(Uint8Array.of(0, 0, 1))).toEqual([]);
  });

  it('keeps NAL units containing 00 00 03 intact', () => {
    const escaped = Uint8Array.of(0x65, 0, 0, 3, 1, 0, 0, 3, 0, 0x80);
    expect(splitAnnexB(annexB([escaped, nonIdr]))).toEqual([escaped, nonIdr]);
  });

  it('converts Annex B to AVCC and back', () => {
    const nals = [aud, sei, idr];
    const a = annexBToAvcc(concat(Uint8Array.of(0, 0, 1), aud, Uint8Array.of(0, 0, 1), sei, Uint8Array.of(0, 0, 0, 1), idr));
    expect(a).toEqual(avcc(nals));
    expect(avccToAnnexB(a, 4)).toEqual(annexB(nals));
    expect(annexBToAvcc(annexB(nals), 2)).toEqual(avcc(nals, 2));
    expect(avccToAnnexB(avcc(nals, 1), 1)).toEqual(annexB(nals));
    expect(() => annexBToAvcc(annexB([new Uint8Array(300).fill(1)]), 1)).toThrow(/does not fit/);
  });

  it('leaves the parameter sets and the AUD out of an avc1 sample when asked', () => {
    const sps = buildSps({ widthMbs: 2, heightMapUnits: 2 });
    expect(annexBToAvcc(annexB([aud, sps, pps, sei, idr]), 4, OUT_OF_BAND_NAL_TYPES)).toEqual(avcc([sei, idr]));
    expect(annexBToAvcc(annexB([sei, idr]), 4, OUT_OF_BAND_NAL_TYPES)).toEqual(avcc([sei, idr]));
  });

  it('prepends parameter sets after a leading AUD, and only when the access unit has none', () => {
    const sps = buildSps({ widthMbs: 2, heightMapUnits: 2 });
    expect(avccToAnnexB(avcc([idr]), 4, [sps, pps])).toEqual(annexB([sps, pps, idr]));
    expect(avccToAnnexB(avcc([aud, sei, idr]), 4, [sps, pps])).toEqual(annexB([aud, sps, pps, sei, idr]));
    expect(avccToAnnexB(avcc([aud, sps, pps, idr]), 4, [sps, pps])).toEqual(annexB([aud, sps, pps, idr]));
    expect(avccToAnnexB(avcc([pps, idr]), 4, [sps, pps])).toEqual(annexB([pps, idr]));
    // Empty NAL units (length 0) vanish rather than becoming bare start codes.
    expect(avccToAnnexB(avcc([new Uint8Array(0), idr]), 4, [new Uint8Array(0), pps])).toEqual(annexB([pps, idr]));
  });

  it('rejects truncated AVCC instead of reading past the end', () => {
    const good = avcc([sei, idr]);
    for (let n = 1; n < good.length; n++) {
      if (n === 4 + sei.length) continue; // a clean NAL boundary
      expect(() => avccToAnnexB(good.subarray(0, n), 4)).toThrow(/AVCC truncated/);
    }
    expect(() => avccToAnnexB(good, 3)).toThrow(/length size 3/);
  });

  it('walks NAL units with early exit and detects IDR access units', () => {
    const seen: number[] = [];
    forEachNal(avcc([aud, sei, idr, nonIdr]), 4, (_n, type) => {
      seen.push(type);
      return type !== 5;
    });
    expect(seen).toEqual([9, 6, 5]);
    expect(isIdrAccessUnit(avcc([aud, sei, idr]), 4)).toBe(true);
    expect(isIdrAccessUnit(avcc([aud, nonIdr], 2), 2)).toBe(false);
    expect(() => nalUnitType(new Uint8Array(0))).toThrow(H264Error);
  });
});
