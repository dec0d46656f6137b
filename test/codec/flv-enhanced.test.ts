/**
 * Enhanced RTMP tag headers (veovera enhanced-rtmp v1/v2), byte by byte from
 * the specification's syntax: packet types, ModEx, multitrack, and hostile
 * headers that must come back as `invalid` values rather than throw.
 */
import { describe, expect, it } from 'vitest';
import { parseFlvPayload } from '../../src/codec/flv.js';

const VIDEO = 9;
const AUDIO = 8;
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const video = (...bytes: number[]) => parseFlvPayload(VIDEO, 40, Uint8Array.from(bytes));
const audio = (...bytes: number[]) => parseFlvPayload(AUDIO, 40, Uint8Array.from(bytes));
const u24 = (n: number) => [n >> 16, (n >> 8) & 0xff, n & 0xff];

describe('enhanced video', () => {
  it('reads sequence start, coded frames with and without composition time, and sequence end for hvc1', () => {
    expect(video(0x90, ...ascii('hvc1'), 1, 2, 3)).toEqual({ type: 'video-config', timestamp: 40, codec: 'hvc1', config: Uint8Array.of(1, 2, 3) });
    // Key frame, CodedFrames, CTO −2 ms.
    expect(video(0x91, ...ascii('hvc1'), 0xff, 0xff, 0xfe, 9, 9)).toEqual({ type: 'video', timestamp: 40, compositionTime: -2, key: true, codec: 'hvc1', data: Uint8Array.of(9, 9) });
    // Inter frame, CodedFramesX: no CTO field.
    expect(video(0xa3, ...ascii('hvc1'), 9, 9)).toEqual({ type: 'video', timestamp: 40, compositionTime: 0, key: false, codec: 'hvc1', data: Uint8Array.of(9, 9) });
    expect(video(0x92, ...ascii('hvc1'))).toEqual({ type: 'video-end', timestamp: 40 });
  });

  it('reads AV1 and VP9 coded frames without a composition time field', () => {
    expect(video(0x91, ...ascii('av01'), 0x12, 0x00)).toMatchObject({ type: 'video', codec: 'av01', compositionTime: 0, key: true, data: Uint8Array.of(0x12, 0x00) });
    expect(video(0xa1, ...ascii('vp09'), 0x86, 0x00)).toMatchObject({ type: 'video', codec: 'vp09', compositionTime: 0, key: false, data: Uint8Array.of(0x86, 0x00) });
  });

  it('skips ModEx data (a TimestampOffsetNano) before the real packet type', () => {
    // ModEx: size 3 (stored as 2), three bytes of nanoseconds, then modExType 0 | packet type 1.
    expect(video(0x97, 2, 0x01, 0x02, 0x03, 0x01, ...ascii('hvc1'), 0, 0, 0, 7)).toMatchObject({ type: 'video', codec: 'hvc1', data: Uint8Array.of(7) });
    // A 256-byte ModEx block takes the 16-bit size form.
    expect(video(0x97, 255, 0, 255, ...new Array<number>(256).fill(0), 0x00, ...ascii('av01'), 5)).toMatchObject({ type: 'video-config', codec: 'av01', config: Uint8Array.of(5) });
  });

  it('takes track 0 of a multitrack tag and names the others', () => {
    // OneTrack: multitrack type 0, packet type SequenceStart, FourCC, track id 3, the rest is the payload.
    expect(video(0x96, 0x00, ...ascii('hvc1'), 3, 1, 2)).toEqual({ type: 'video-config', timestamp: 40, codec: 'hvc1', config: Uint8Array.of(1, 2), track: { id: 3, ignored: [] } });
    // ManyTracks: one FourCC, tracks 1 and 0 with 24-bit sizes.
    expect(video(0x96, 0x13, ...ascii('vp09'), 1, ...u24(2), 0xaa, 0xbb, 0, ...u24(1), 0xcc)).toEqual({
      type: 'video', timestamp: 40, compositionTime: 0, key: true, codec: 'vp09', data: Uint8Array.of(0xcc), track: { id: 0, ignored: [1] },
    });
    // ManyTracksManyCodecs: a FourCC per track; the carried one may follow one Polycast does not carry.
    expect(video(0x96, 0x23, ...ascii('vp08'), 1, ...u24(1), 0xaa, ...ascii('av01'), 0, ...u24(1), 0xcc)).toMatchObject({ codec: 'av01', track: { id: 0, ignored: [1] } });
  });

  it('names codecs it does not carry', () => {
    expect(video(0x90, ...ascii('vp08'), 1)).toMatchObject({ type: 'unsupported', codec: { kind: 'video', label: 'video codec VP8 (FourCC vp08)' } });
    expect(video(0x90, 0xff, 0, 1, 2)).toMatchObject({ type: 'unsupported', codec: { label: 'video codec unknown (FourCC 0xff000102)' } });
  });

  it('ignores metadata, MPEG-2 TS sequence starts and command frames with a reason', () => {
    expect(video(0x94, ...ascii('hvc1'), 2, 0, 9)).toMatchObject({ type: 'unsupported', reason: expect.stringMatching(/metadata/) });
    expect(video(0x95, ...ascii('av01'), 0x80)).toMatchObject({ type: 'unsupported', reason: expect.stringMatching(/MPEG2TSSequenceStart/) });
    expect(video(0xd1, 0x01)).toMatchObject({ type: 'unsupported', reason: expect.stringMatching(/command frame/) });
  });

  it('refuses hostile headers as invalid values', () => {
    const invalid = (reason: RegExp) => ({ type: 'invalid', reason: expect.stringMatching(reason) });
    expect(video(0x91, ...ascii('hv'))).toMatchObject(invalid(/truncated in FourCC/));
    expect(video(0x91, ...ascii('hvc1'), 0)).toMatchObject(invalid(/need 3/));
    // A track that declares 16 MiB in a tag of a few bytes.
    expect(video(0x96, 0x11, ...ascii('hvc1'), 0, ...u24(0xffffff), 1, 2)).toMatchObject(invalid(/declares 16777215 byte\(s\), the tag holds 2/));
    // ModEx larger than the tag.
    expect(video(0x97, 200, 1, 2)).toMatchObject(invalid(/ModEx data/));
    expect(video(0x97)).toMatchObject(invalid(/ModEx size/));
    // Multitrack inside multitrack, reserved multitrack type, reserved packet type.
    expect(video(0x96, 0x06, ...ascii('hvc1'), 0)).toMatchObject(invalid(/wraps packet type 6/));
    expect(video(0x96, 0x31, ...ascii('hvc1'), 0, 0, 0, 0)).toMatchObject(invalid(/reserved multitrack type 3/));
    expect(video(0x98, ...ascii('hvc1'))).toMatchObject(invalid(/reserved VideoPacketType 8/));
  });
});

describe('enhanced audio', () => {
  it('reads Opus sequence start and coded frames, and AAC through mp4a', () => {
    expect(audio(0x90, ...ascii('Opus'), 1, 2)).toEqual({ type: 'audio-config', timestamp: 40, codec: 'Opus', config: Uint8Array.of(1, 2) });
    expect(audio(0x91, ...ascii('Opus'), 0xfc, 0xff)).toEqual({ type: 'audio', timestamp: 40, codec: 'Opus', data: Uint8Array.of(0xfc, 0xff) });
    expect(audio(0x91, ...ascii('mp4a'), 0x21)).toMatchObject({ type: 'audio', codec: 'mp4a' });
  });

  it('takes the default track of multitrack audio', () => {
    expect(audio(0x95, 0x11, ...ascii('Opus'), 2, ...u24(1), 0xaa, 0, ...u24(1), 0xbb)).toMatchObject({ type: 'audio', codec: 'Opus', data: Uint8Array.of(0xbb), track: { id: 0, ignored: [2] } });
  });

  it('names audio codecs it does not carry, and ignores multichannel configs', () => {
    expect(audio(0x91, ...ascii('ac-3'), 0)).toMatchObject({ type: 'unsupported', codec: { kind: 'audio', label: 'audio codec AC-3 (FourCC ac-3)' } });
    expect(audio(0x94, ...ascii('Opus'), 0, 2)).toMatchObject({ type: 'unsupported', reason: expect.stringMatching(/multichannel/) });
  });

  it('refuses hostile headers as invalid values', () => {
    expect(audio(0x95, 0x11, ...ascii('Opus'), 0, ...u24(100), 1)).toMatchObject({ type: 'invalid', reason: expect.stringMatching(/declares 100/) });
    expect(audio(0x90, ...ascii('Op'))).toMatchObject({ type: 'invalid' });
    expect(audio(0x93, ...ascii('Opus'))).toMatchObject({ type: 'invalid', reason: expect.stringMatching(/reserved AudioPacketType 3/) });
  });
});

describe('enhanced tags under mutation', () => {
  it('parse every truncation and byte flip of valid tags into a value, never an exception', () => {
    const seeds: [number, number[]][] = [
      [VIDEO, [0x91, ...ascii('hvc1'), 0, 0, 2, 0, 0, 0, 1, 0x26]],
      [VIDEO, [0x96, 0x21, ...ascii('av01'), 1, ...u24(2), 0x12, 0x00, 0, ...u24(1), 0x32]],
      [VIDEO, [0x96, 0x23, ...ascii('vp08'), 1, ...u24(1), 0xaa, ...ascii('vp09'), 0, ...u24(2), 0x82, 0x49]],
      [VIDEO, [0x97, 2, 0x01, 0x02, 0x03, 0x61, ...ascii('hvc1'), 0, 0, 0, 7]],
      [AUDIO, [0x95, 0x11, ...ascii('Opus'), 2, ...u24(1), 0xaa, 0, ...u24(1), 0xbb]],
      [AUDIO, [0x97, 0, 0x09, 0x00, ...ascii('Opus'), ...Buffer.from('OpusHead')]],
    ];
    // A small deterministic generator: the same cases on every run.
    let state = 0x2545f491;
    const next = () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
    let cases = 0;
    for (const [type, seed] of seeds) {
      for (let n = 0; n <= seed.length; n++) {
        expect(() => parseFlvPayload(type, 0, Uint8Array.from(seed.slice(0, n)))).not.toThrow();
        cases++;
      }
      for (let i = 0; i < 300; i++) {
        const bytes = Uint8Array.from(seed);
        for (let k = 0; k < 1 + (next() % 3); k++) bytes[next() % bytes.length] = next();
        expect(() => parseFlvPayload(type, 0, bytes)).not.toThrow();
        cases++;
      }
    }
    expect(cases).toBeGreaterThan(1800);
  });
});
