import { describe, expect, it } from 'vitest';
import { ByteWriter, box, fields, fullBox, serialize, type Chunk } from '../../src/mux/fmp4/boxes.js';
import { FragmentWriter, createInitSegment, mseMimeType } from '../../src/mux/fmp4/index.js';
import type { AacTrackInfo, Frame, H264TrackInfo } from '../../src/stream/types.js';
import { parseFragments } from './helpers/fragments.js';
import {
  AUDIO_ENTRY_FIELDS, VISUAL_ENTRY_FIELDS, ascFromEsds, child, childrenOf, fourcc, handlerType, path, readBoxes,
  sampleEntry, u16, u32, type Box,
} from './helpers/mp4.js';

// avcC and ASC of the ffmpeg test clip (libx264 320x240 High, AAC-LC 48 kHz stereo).
const AVCC = Uint8Array.from(Buffer.from(
  '0164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000468ef8fcbfdf8f800', 'hex',
));
const ASC = Uint8Array.from([0x11, 0x90, 0x56, 0xe5, 0x00]);

const video: H264TrackInfo = {
  kind: 'video', codec: 'h264', codecString: 'avc1.64000d', width: 320, height: 240, avcC: AVCC,
  sps: [], pps: [], nalLengthSize: 4,
};
const audio: AacTrackInfo = {
  kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, samplesPerFrame: 1024, asc: ASC,
};

function frame(kind: 'video' | 'audio', dts: number, pts: number, key: boolean, bytes: number[]): Frame {
  return { kind, dts, pts, key, data: Uint8Array.from(bytes), receivedAt: 0 };
}

/** Walks the whole tree: readBoxes throws if any child overruns or underfills its parent. */
function walk(boxes: readonly Box[], containers: ReadonlySet<string>, seen: string[] = [], prefix = ''): string[] {
  for (const b of boxes) {
    const name = `${prefix}${b.type}`;
    seen.push(name);
    if (containers.has(b.type)) walk(childrenOf(b), containers, seen, `${name}/`);
  }
  return seen;
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'dinf', 'stbl', 'mvex', 'moof', 'traf']);

describe('box writer', () => {
  it('prefixes sizes, writes full-box version and flags, and nests', () => {
    const out = serialize([
      box('abcd', [fields(3, (w) => { w.u8(1); w.u16(0x0203); })]),
      fullBox('efgh', 1, 0x0a0b0c, [box('ijkl')]),
    ]);
    expect(Array.from(out)).toEqual([
      0, 0, 0, 11, 0x61, 0x62, 0x63, 0x64, 1, 2, 3,
      0, 0, 0, 20, 0x65, 0x66, 0x67, 0x68, 1, 0x0a, 0x0b, 0x0c,
      0, 0, 0, 8, 0x69, 0x6a, 0x6b, 0x6c,
    ]);
  });

  it('switches to a 64-bit largesize header only past 4 GiB', () => {
    const huge: Chunk = { size: 2 ** 32, write: () => {} };
    expect(box('mdat', [huge]).size).toBe(2 ** 32 + 16);
    expect(box('mdat', [{ size: 2 ** 32 - 9, write: () => {} }]).size).toBe(2 ** 32 - 1);
  });

  it('refuses a tree whose chunks write less than they declare', () => {
    expect(() => serialize([box('oops', [fields(4, (w) => w.u16(1))])])).toThrow(/declared 12 bytes but wrote 10/);
  });

  it('writes 64-bit fields beyond 2^32 exactly', () => {
    const buf = new Uint8Array(8);
    new ByteWriter(buf).u64(2 ** 40 + 5);
    expect(Array.from(buf)).toEqual([0, 0, 1, 0, 0, 0, 0, 5]);
    expect(() => new ByteWriter(new Uint8Array(8)).u64(-1)).toThrow(RangeError);
  });
});

describe('createInitSegment', () => {
  it('lays out ftyp + moov with one trak per track and consistent sizes', () => {
    const init = createInitSegment({ video, audio });
    const top = readBoxes(init);
    expect(top.map((b) => b.type)).toEqual(['ftyp', 'moov']);
    expect(top.reduce((n, b) => n + b.size, 0)).toBe(init.byteLength);

    const ftyp = child(top, 'ftyp');
    expect(fourcc(ftyp.body, 0)).toBe('iso5');
    expect([8, 12, 16].map((at) => fourcc(ftyp.body, at))).toEqual(['iso5', 'iso6', 'mp41']);

    expect(walk(top, CONTAINERS)).toEqual([
      'ftyp', 'moov', 'moov/mvhd',
      'moov/trak', 'moov/trak/tkhd', 'moov/trak/mdia', 'moov/trak/mdia/mdhd', 'moov/trak/mdia/hdlr',
      'moov/trak/mdia/minf', 'moov/trak/mdia/minf/vmhd', 'moov/trak/mdia/minf/dinf', 'moov/trak/mdia/minf/dinf/dref',
      'moov/trak/mdia/minf/stbl', 'moov/trak/mdia/minf/stbl/stsd', 'moov/trak/mdia/minf/stbl/stts',
      'moov/trak/mdia/minf/stbl/stsc', 'moov/trak/mdia/minf/stbl/stsz', 'moov/trak/mdia/minf/stbl/stco',
      'moov/trak', 'moov/trak/tkhd', 'moov/trak/mdia', 'moov/trak/mdia/mdhd', 'moov/trak/mdia/hdlr',
      'moov/trak/mdia/minf', 'moov/trak/mdia/minf/smhd', 'moov/trak/mdia/minf/dinf', 'moov/trak/mdia/minf/dinf/dref',
      'moov/trak/mdia/minf/stbl', 'moov/trak/mdia/minf/stbl/stsd', 'moov/trak/mdia/minf/stbl/stts',
      'moov/trak/mdia/minf/stbl/stsc', 'moov/trak/mdia/minf/stbl/stsz', 'moov/trak/mdia/minf/stbl/stco',
      'moov/mvex', 'moov/mvex/trex', 'moov/mvex/trex',
    ]);

    const moov = childrenOf(child(top, 'moov'));
    expect(child(moov, 'mvhd').size).toBe(108);
    expect(u32(child(moov, 'mvhd').body, 4 + 96 - 4)).toBe(3); // next_track_ID

    const [vTrak, aTrak] = moov.filter((b) => b.type === 'trak') as [Box, Box];
    const tkhdV = path(childrenOf(vTrak), 'tkhd');
    expect(tkhdV.size).toBe(92);
    expect(u32(tkhdV.body, 12)).toBe(1);
    expect(u32(tkhdV.body, 4 + 80 - 8)).toBe(320 * 65536);
    expect(u32(tkhdV.body, 4 + 80 - 4)).toBe(240 * 65536);
    expect(u32(path(childrenOf(aTrak), 'tkhd').body, 12)).toBe(2);
    expect(handlerType(vTrak)).toBe('vide');
    expect(handlerType(aTrak)).toBe('soun');
    expect(u32(path(childrenOf(vTrak), 'mdia', 'mdhd').body, 12)).toBe(90000);
    expect(u32(path(childrenOf(aTrak), 'mdia', 'mdhd').body, 12)).toBe(48000);

    const avc1 = sampleEntry(vTrak);
    expect(avc1.type).toBe('avc1');
    expect([u16(avc1.body, 24), u16(avc1.body, 26)]).toEqual([320, 240]);
    expect(u16(avc1.body, 6)).toBe(1); // data_reference_index
    expect(Array.from(child(childrenOf(avc1, VISUAL_ENTRY_FIELDS), 'avcC').body)).toEqual(Array.from(AVCC));

    const mp4a = sampleEntry(aTrak);
    expect(mp4a.type).toBe('mp4a');
    expect(u16(mp4a.body, 16)).toBe(2); // channelcount
    expect(u32(mp4a.body, 24)).toBe(48000 * 65536);
    const esds = child(childrenOf(mp4a, AUDIO_ENTRY_FIELDS), 'esds');
    const { asc, descriptors } = ascFromEsds(esds.body);
    expect(Array.from(asc)).toEqual(Array.from(ASC));
    expect(descriptors.map((d) => d.tag)).toEqual([0x03, 0x04, 0x05, 0x06]);
    // Each descriptor's length covers exactly what follows it: ES(3 + DC + SL), DC(13 + DSI).
    const [es, dc, dsi, sl] = descriptors as [typeof descriptors[0], typeof descriptors[0], typeof descriptors[0], typeof descriptors[0]];
    expect(dsi.body.byteLength).toBe(ASC.byteLength);
    expect(dc.body.byteLength).toBe(13 + 2 + dsi.body.byteLength);
    expect(es.body.byteLength).toBe(3 + 2 + dc.body.byteLength + 2 + sl.body.byteLength);
    expect(Array.from(sl.body)).toEqual([0x02]);
    expect(esds.body.byteLength).toBe(4 + 2 + es.body.byteLength);

    const trex = childrenOf(child(moov, 'mvex')).map((b) => u32(b.body, 4));
    expect(trex).toEqual([1, 2]);
  });

  it('builds single-track inits with the same track IDs', () => {
    const v = childrenOf(child(readBoxes(createInitSegment({ video })), 'moov'));
    expect(v.filter((b) => b.type === 'trak')).toHaveLength(1);
    expect(u32(path(v, 'trak', 'tkhd').body, 12)).toBe(1);
    expect(u32(path(v, 'mvex', 'trex').body, 4)).toBe(1);

    const a = childrenOf(child(readBoxes(createInitSegment({ audio })), 'moov'));
    expect(a.filter((b) => b.type === 'trak')).toHaveLength(1);
    expect(u32(path(a, 'trak', 'tkhd').body, 12)).toBe(2);
    expect(u32(path(a, 'mvex', 'trex').body, 4)).toBe(2);
    expect(handlerType(child(a, 'trak'))).toBe('soun');

    expect(() => createInitSegment({})).toThrow(RangeError);
  });

  it('uses multi-byte descriptor lengths once a descriptor passes 127 bytes', () => {
    const longAsc = new Uint8Array(200).fill(0x11);
    const init = createInitSegment({ audio: { ...audio, asc: longAsc } });
    const trak = path(childrenOf(child(readBoxes(init), 'moov')), 'trak');
    const esds = child(childrenOf(sampleEntry(trak), AUDIO_ENTRY_FIELDS), 'esds');
    const { asc, descriptors } = ascFromEsds(esds.body);
    expect(asc).toEqual(longAsc);
    expect(descriptors.map((d) => d.lengthBytes)).toEqual([2, 2, 2, 1]);
  });

  it('names the matching MSE MIME type', () => {
    expect(mseMimeType({ video, audio })).toBe('video/mp4; codecs="avc1.64000d, mp4a.40.2"');
    expect(mseMimeType({ audio })).toBe('audio/mp4; codecs="mp4a.40.2"');
  });
});

describe('FragmentWriter boxes', () => {
  it('writes moof(mfhd, traf(tfhd, tfdt v1, trun v1)) + mdat with signed composition offsets', () => {
    const w = new FragmentWriter({ video, originUs: 0 });
    // An I-frame shown two frames late and a B-frame shown one frame early (pts < dts).
    const frames = [
      frame('video', 0, 66_667, true, [1, 2, 3]),
      frame('video', 33_333, 0, false, [4, 5]),
    ];
    const seg = w.fragment('video', frames);
    const top = readBoxes(seg);
    expect(top.map((b) => b.type)).toEqual(['moof', 'mdat']);
    expect(walk(top, CONTAINERS)).toEqual(['moof', 'moof/mfhd', 'moof/traf', 'moof/traf/tfhd', 'moof/traf/tfdt', 'moof/traf/trun', 'mdat']);
    const moof = top[0] as Box;
    const mdat = top[1] as Box;
    expect(Array.from(mdat.body)).toEqual([1, 2, 3, 4, 5]);

    const traf = path(childrenOf(moof), 'traf');
    const tfhd = path(childrenOf(traf), 'tfhd');
    expect(Array.from(tfhd.body)).toEqual([0, 0x02, 0, 0, 0, 0, 0, 1]);
    const tfdt = path(childrenOf(traf), 'tfdt');
    expect(tfdt.body[0]).toBe(1);
    expect(tfdt.size).toBe(20);

    const trun = path(childrenOf(traf), 'trun');
    expect(trun.size).toBe(8 + 4 + 4 + 4 + 2 * 16);
    expect(Array.from(trun.body.subarray(0, 4))).toEqual([1, 0x00, 0x0f, 0x01]);
    expect(u32(trun.body, 4)).toBe(2);
    expect(u32(trun.body, 8)).toBe(moof.size + 8);
    const second = trun.body.subarray(12 + 16, 12 + 32);
    // The last sample's duration repeats the observed delta; it is non-sync and shown 3000 ticks early.
    expect(Array.from(second.subarray(4, 8))).toEqual([0, 0, 0, 2]);
    expect(Array.from(second.subarray(8, 12))).toEqual([0x01, 0x01, 0x00, 0x00]);
    expect(Array.from(second.subarray(12, 16))).toEqual([0xff, 0xff, 0xf4, 0x48]);
    expect(u32(second, 0)).toBe(3000);
    const first = trun.body.subarray(12, 28);
    expect(u32(first, 0)).toBe(3000);
    expect(Array.from(first.subarray(8, 12))).toEqual([0x02, 0x00, 0x00, 0x00]);
    expect(u32(first, 12)).toBe(6000);
  });

  it('omits composition offsets when all are zero, and numbers fragments from 1', () => {
    const w = new FragmentWriter({ audio, originUs: 0 });
    const a = parseFragments(w.fragment('audio', [frame('audio', 0, 0, true, [9])]));
    const b = parseFragments(w.fragment('audio', [frame('audio', 21_333, 21_333, true, [8])]));
    expect(a.trafs[0]?.trunFlags).toBe(0x000701);
    expect(a.trafs[0]?.trackId).toBe(2);
    expect([a.sequences, b.sequences]).toEqual([[1], [2]]);
    expect(b.samples[0]?.decodeTime).toBe(1024);
    expect(w.sequenceNumber).toBe(2);
  });

  it('writes decode times past 2^32 ticks in the 64-bit tfdt', () => {
    const w = new FragmentWriter({ video, originUs: 0 });
    const dts = 30 * 3600 * 1e6; // 30 h: 9.72e9 ticks at 90 kHz
    const parsed = parseFragments(w.fragment('video', [frame('video', dts, dts, true, [1])]));
    expect(parsed.samples[0]?.decodeTime).toBe(9_720_000_000);
  });

  it('puts two trafs in one moof with offsets into one shared mdat', () => {
    const w = new FragmentWriter({ video, audio, originUs: 0 });
    const seg = w.fragmentMulti([
      { kind: 'video', frames: [frame('video', 0, 0, true, [1, 1, 1])] },
      { kind: 'audio', frames: [frame('audio', 0, 0, true, [2, 2]), frame('audio', 21_333, 21_333, true, [3])] },
    ]);
    const parsed = parseFragments(seg);
    expect(parsed.trafs.map((t) => t.trackId)).toEqual([1, 2]);
    expect(parsed.samples.map((s) => Array.from(s.data))).toEqual([[1, 1, 1], [2, 2], [3]]);
    expect(parsed.samples.map((s) => s.duration)).toEqual([3000, 1024, 1024]);
  });

  it('rejects bad input without consuming a sequence number', () => {
    const w = new FragmentWriter({ video, originUs: 0 });
    expect(() => w.fragment('video', [])).toThrow(RangeError);
    expect(() => w.fragment('audio', [frame('audio', 0, 0, true, [1])])).toThrow(/no audio track/);
    expect(() => w.fragment('video', [frame('audio', 0, 0, true, [1])])).toThrow(/audio frame in a video run/);
    expect(() => w.fragmentMulti([
      { kind: 'video', frames: [frame('video', 0, 0, true, [1])] },
      { kind: 'video', frames: [frame('video', 1, 1, true, [1])] },
    ])).toThrow(/twice/);
    expect(() => new FragmentWriter({})).toThrow(RangeError);
    expect(w.sequenceNumber).toBe(0);
    expect(parseFragments(w.fragment('video', [frame('video', 0, 0, true, [1])])).sequences).toEqual([1]);
  });
});
