import { describe, expect, it } from 'vitest';
import { AacError, aacTrackInfo, buildAdtsHeader, parseAudioSpecificConfig } from '../../src/codec/aac.js';
import { BitWriter } from './helpers.js';

/** GASpecificConfig with frameLengthFlag, no core coder, no extension. */
const ga = (w: BitWriter, frameLength960 = false) => w.flag(frameLength960).flag(false).flag(false);

describe('parseAudioSpecificConfig', () => {
  it('parses plain AAC-LC configs as RTMP encoders send them', () => {
    expect(parseAudioSpecificConfig(Uint8Array.of(0x12, 0x10))).toEqual({
      objectType: 2,
      sampleRate: 44100,
      channels: 2,
      samplesPerFrame: 1024,
      codecString: 'mp4a.40.2',
    });
    // ffmpeg appends the backward-compatible SBR sync extension (0x2b7): ignored.
    expect(parseAudioSpecificConfig(Uint8Array.of(0x11, 0x90, 0x56, 0xe5, 0x00))).toMatchObject({ sampleRate: 48000, channels: 2 });
    expect(parseAudioSpecificConfig(Uint8Array.of(0x14, 0x08))).toMatchObject({ sampleRate: 16000, channels: 1 });
  });

  it('handles the escape values for object type (31) and sampling frequency (15)', () => {
    const asc = new BitWriter().u(5, 31).u(6, 42 - 32).u(4, 15).u(24, 37800).u(4, 2).trailing().bytes();
    expect(parseAudioSpecificConfig(asc)).toEqual({
      objectType: 42,
      sampleRate: 37800,
      channels: 2,
      samplesPerFrame: 1024,
      codecString: 'mp4a.40.42',
    });
  });

  it('treats explicitly signalled SBR and PS as their AAC-LC core', () => {
    const heAac = ga(new BitWriter().u(5, 5).u(4, 6).u(4, 2).u(4, 3).u(5, 2)).trailing().bytes();
    expect(parseAudioSpecificConfig(heAac)).toEqual({
      objectType: 2,
      sampleRate: 24000,
      channels: 2,
      samplesPerFrame: 1024,
      codecString: 'mp4a.40.2',
    });
    const heAacV2 = ga(new BitWriter().u(5, 29).u(4, 15).u(24, 22050).u(4, 1).u(4, 4).u(5, 2)).trailing().bytes();
    expect(parseAudioSpecificConfig(heAacV2)).toMatchObject({ objectType: 2, sampleRate: 22050, channels: 1 });
  });

  it('reads the 960-sample frame length flag', () => {
    const asc = ga(new BitWriter().u(5, 2).u(4, 3).u(4, 2), true).trailing().bytes();
    expect(parseAudioSpecificConfig(asc).samplesPerFrame).toBe(960);
  });

  it('counts channels from a program config element when channelConfiguration is 0', () => {
    const w = ga(new BitWriter().u(5, 2).u(4, 3).u(4, 0));
    w.u(4, 0).u(2, 1).u(4, 3); // element_instance_tag, object_type, sampling_frequency_index
    w.u(4, 2).u(4, 0).u(4, 1).u(2, 1); // 2 front, 0 side, 1 back, 1 LFE element
    w.u(3, 0).u(4, 0).flag(false).flag(false).flag(false);
    w.flag(false).u(4, 0).flag(true).u(4, 0); // front: centre SCE, L/R CPE
    w.flag(true).u(4, 1); // back: surround CPE
    w.u(4, 0); // LFE
    expect(parseAudioSpecificConfig(w.trailing().bytes()).channels).toBe(6);
  });

  it('throws AacError on truncated or reserved values', () => {
    expect(() => parseAudioSpecificConfig(Uint8Array.of(0x12))).toThrow(/truncated/);
    expect(() => parseAudioSpecificConfig(Uint8Array.of(0xf8, 0x00))).toThrow(AacError); // escape, then not enough bits
    expect(() => parseAudioSpecificConfig(new BitWriter().u(5, 2).u(4, 13).u(4, 2).u(3, 0).bytes())).toThrow(/samplingFrequencyIndex 13/);
    expect(() => parseAudioSpecificConfig(new BitWriter().u(5, 2).u(4, 3).u(4, 8).u(3, 0).bytes())).toThrow(/channelConfiguration 8/);
    expect(() => parseAudioSpecificConfig(Uint8Array.of(0x00, 0x10))).toThrow(/object type 0/);
    expect(() => parseAudioSpecificConfig(new BitWriter().u(5, 2).u(4, 15).u(7, 0).bytes())).toThrow(AacError);
  });
});

describe('aacTrackInfo', () => {
  it('describes the track and keeps its own copy of the config', () => {
    const asc = Uint8Array.of(0x11, 0x90);
    const info = aacTrackInfo(asc);
    expect(info).toEqual({
      kind: 'audio',
      codec: 'aac',
      codecString: 'mp4a.40.2',
      sampleRate: 48000,
      channels: 2,
      samplesPerFrame: 1024,
      asc,
    });
    expect(info.asc).not.toBe(asc);
  });
});

describe('buildAdtsHeader', () => {
  it('writes the 7-byte header with frame length including itself', () => {
    expect([...buildAdtsHeader({ objectType: 2, sampleRate: 44100, channels: 2 }, 100)]).toEqual([
      0xff, 0xf1, 0x50, 0x80, 0x0d, 0x7f, 0xfc,
    ]);
    const h = buildAdtsHeader({ objectType: 2, sampleRate: 48000, channels: 8 }, 8184);
    expect(((h[2]! & 1) << 2) | (h[3]! >> 6)).toBe(7); // 8 channels = configuration 7
    expect(((h[3]! & 3) << 11) | (h[4]! << 3) | (h[5]! >> 5)).toBe(8191);
  });

  it('refuses what ADTS cannot express', () => {
    expect(() => buildAdtsHeader({ objectType: 5, sampleRate: 44100, channels: 2 }, 10)).toThrow(/object type 5/);
    expect(() => buildAdtsHeader({ objectType: 2, sampleRate: 37800, channels: 2 }, 10)).toThrow(/37800/);
    expect(() => buildAdtsHeader({ objectType: 2, sampleRate: 44100, channels: 7 }, 10)).toThrow(/7 channel/);
    expect(() => buildAdtsHeader({ objectType: 2, sampleRate: 44100, channels: 2 }, 8185)).toThrow(/8192/);
  });
});
