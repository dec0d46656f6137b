/**
 * The codec configuration parsers on spec examples and hostile bytes (the
 * real-encoder cross-checks are in encoders.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { Av1Error, av1CodecString, av1TrackInfo, splitObus, stripTemporalDelimiters } from '../../src/codec/av1.js';
import { HevcError, hevcCodecString, parseHevcDecoderConfig } from '../../src/codec/hevc.js';
import { OpusError, opusPacketSamples, parseOpusHead } from '../../src/codec/opus.js';
import { Vp9Error, parseVp9Keyframe, parseVpcConfig, vp9CodecString } from '../../src/codec/vp9.js';

describe('HEVC codec string (ISO 14496-15 E.3)', () => {
  it('writes the examples of the standard', () => {
    // Main, compatible with Main and Main 10, progressive + frame-only constraints.
    expect(hevcCodecString({ profileSpace: 0, profileIdc: 1, compatibilityFlags: 0x60000000, tierFlag: 0, levelIdc: 93, constraintFlags: Uint8Array.of(0xb0, 0, 0, 0, 0, 0) })).toBe('hvc1.1.6.L93.B0');
    // Profile space 1, reversed flags 0x82000000 → 0x41, high tier, two constraint bytes.
    expect(hevcCodecString({ profileSpace: 1, profileIdc: 4, compatibilityFlags: 0x82000000, tierFlag: 1, levelIdc: 120, constraintFlags: Uint8Array.of(0xb0, 0x23, 0, 0, 0, 0) }, 'hev1')).toBe('hev1.A4.41.H120.B0.23');
    // No constraint bytes at all: the field is left out.
    expect(hevcCodecString({ profileSpace: 0, profileIdc: 2, compatibilityFlags: 0x20000000, tierFlag: 0, levelIdc: 120, constraintFlags: new Uint8Array(6) })).toBe('hvc1.2.4.L120');
  });

  it('refuses truncated or overrunning records with a reason', () => {
    expect(() => parseHevcDecoderConfig(new Uint8Array(10))).toThrow(HevcError);
    const header = new Uint8Array(23);
    header[0] = 1;
    header[21] = 3;
    header[22] = 1; // one array...
    const overrun = Uint8Array.from([...header, 0x21, 0, 1, 0xff, 0xff, 0x42]); // ...whose NAL claims 65535 bytes
    expect(() => parseHevcDecoderConfig(overrun)).toThrow(/overruns/);
    expect(() => parseHevcDecoderConfig(Uint8Array.from([2, ...header.subarray(1)]))).toThrow(/configurationVersion 2/);
  });
});

describe('AV1', () => {
  it('writes av01.P.LLT.DD', () => {
    expect(av1CodecString({ seqProfile: 0, seqLevelIdx0: 8, seqTier0: 0, bitDepth: 8 })).toBe('av01.0.08M.08');
    expect(av1CodecString({ seqProfile: 2, seqLevelIdx0: 13, seqTier0: 1, bitDepth: 12 })).toBe('av01.2.13H.12');
  });

  it('refuses an OBU whose declared size exceeds its buffer, or a leb128 past 8 bytes', () => {
    // Sequence header OBU with has_size_field, size 0xFFFFFFFF.
    expect(() => splitObus(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3))).toThrow(/overruns/);
    expect(() => splitObus(Uint8Array.of(0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01))).toThrow(Av1Error);
    expect(() => splitObus(Uint8Array.of(0x8a, 0))).toThrow(/forbidden/);
  });

  it('refuses an av1C without a sequence header', () => {
    expect(() => av1TrackInfo(Uint8Array.of(0x81, 0x08, 0x0c, 0x00))).toThrow(/no sequence header/);
    expect(() => av1TrackInfo(Uint8Array.of(0x01, 0x08, 0x0c, 0x00))).toThrow(/marker/);
  });

  it('drops temporal delimiters and padding, keeping the other OBUs byte for byte', () => {
    const td = Uint8Array.of(0x12, 0x00);
    const frame = Uint8Array.of(0x32, 0x03, 0xaa, 0xbb, 0xcc);
    const padding = Uint8Array.of(0x7a, 0x01, 0x00);
    expect(stripTemporalDelimiters(Uint8Array.from([...td, ...frame, ...padding]))).toEqual(frame);
    expect(stripTemporalDelimiters(frame)).toBe(frame);
  });
});

describe('VP9', () => {
  it('writes vp09.PP.LL.DD and reads the record with or without the FullBox word', () => {
    const record = Uint8Array.of(0, 31, 0x80 | 0x02, 1, 1, 1, 0, 0);
    expect(vp9CodecString(parseVpcConfig(record))).toBe('vp09.00.31.08');
    expect(parseVpcConfig(Uint8Array.from([1, 0, 0, 0, ...record]))).toEqual(parseVpcConfig(record));
  });

  it('refuses impossible records and broken keyframes', () => {
    expect(() => parseVpcConfig(Uint8Array.of(0, 31, 0x80))).toThrow(/too short/);
    expect(() => parseVpcConfig(Uint8Array.of(5, 31, 0x80, 1, 1, 1, 0, 0))).toThrow(/profile 5/);
    expect(() => parseVpcConfig(Uint8Array.of(0, 33, 0x80, 1, 1, 1, 0, 0))).toThrow(/level 33/);
    expect(() => parseVpcConfig(Uint8Array.of(0, 31, 0x90, 1, 1, 1, 0, 0))).toThrow(/bit depth 9/);
    expect(() => parseVp9Keyframe(Uint8Array.of(0x00))).toThrow(/frame_marker/);
    // Profile 0 keyframe header cut off before its size.
    expect(() => parseVp9Keyframe(Uint8Array.of(0x82, 0x49, 0x83, 0x42, 0x00))).toThrow(Vp9Error);
    // An inter frame says nothing about the size.
    expect(parseVp9Keyframe(Uint8Array.of(0x86, 0x00))).toBeUndefined();
  });
});

describe('Opus', () => {
  const head = (channels: number, family: number, extra: number[] = []) =>
    Uint8Array.from([...Buffer.from('OpusHead'), 1, channels, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, family, ...extra]);

  it('reads the identification header', () => {
    expect(parseOpusHead(head(2, 0))).toEqual({ channels: 2, preSkip: 312, inputSampleRate: 48000, outputGain: 0, channelMappingFamily: 0 });
  });

  it('refuses bad magic, impossible channel counts and truncated mappings', () => {
    expect(() => parseOpusHead(Uint8Array.from([...Buffer.from('OpusTags'), ...head(2, 0).subarray(8)]))).toThrow(/magic/);
    expect(() => parseOpusHead(head(0, 0))).toThrow(/zero channels/);
    expect(() => parseOpusHead(head(6, 0))).toThrow(/family 0/);
    expect(() => parseOpusHead(head(6, 1, [4, 2, 0, 4]))).toThrow(/truncated/);
    expect(() => parseOpusHead(head(2, 1, [1, 2, 0, 1]))).toThrow(/stream counts/);
  });

  it('gives packet durations from the TOC (RFC 6716 §3.1)', () => {
    expect(opusPacketSamples(Uint8Array.of(0xfc))).toBe(960); // CELT FB 20 ms, one frame
    expect(() => opusPacketSamples(Uint8Array.of(0x1b))).toThrow(/frame count/); // SILK NB 60 ms, code 3 without its count
    expect(opusPacketSamples(Uint8Array.of(0x1b, 0x02))).toBe(5760); // two 60 ms frames
    expect(() => opusPacketSamples(Uint8Array.of(0x1b, 0x03))).toThrow(/120 ms/); // three would be 180 ms
    expect(opusPacketSamples(Uint8Array.of(0x71))).toBe(960); // hybrid 10 ms, two frames
    expect(() => opusPacketSamples(new Uint8Array(0))).toThrow(OpusError);
  });
});
