/**
 * Real encoder output: HEVC (libx265), AV1 (libsvtav1, libaom), VP9
 * (libvpx) and Opus (libopus) written by ffmpeg into MP4 and Ogg, parsed by
 * our code and checked against what ffprobe says about the same streams.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Av1Error, av1TrackInfo, parseAv1Config, splitObus, ObuType } from '../../src/codec/av1.js';
import { HevcError, h265TrackInfo, parseHevcDecoderConfig } from '../../src/codec/hevc.js';
import { OpusError, opusHeadFromDops, opusHeadToDops, opusPacketSamples, opusTrackInfo, parseOpusHead } from '../../src/codec/opus.js';
import { Vp9Error, parseVp9Keyframe, parseVpcConfig, vp9TrackInfo } from '../../src/codec/vp9.js';
import { mp4Track } from '../helpers/mp4-file.js';
import { readOggOpus } from '../helpers/ogg.js';
import { ffmpeg, ffprobeJson, makeTempDir } from './helpers.js';

interface ProbedStream {
  codec_name: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  pix_fmt?: string;
  channels?: number;
  sample_rate?: string;
  extradata?: string;
}

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterAll(async () => cleanup?.());

const video = (size: string, seconds = 0.6) => ['-f', 'lavfi', '-i', `testsrc=size=${size}:rate=25`, '-t', String(seconds)];

async function encode(name: string, args: string[]): Promise<{ file: string; bytes: Uint8Array; probe: ProbedStream }> {
  const file = join(dir, name);
  await ffmpeg([...args, file]);
  const { streams } = await ffprobeJson<{ streams: ProbedStream[] }>(['-show_streams', '-show_data', file]);
  return { file, bytes: new Uint8Array(await readFile(file)), probe: streams[0]! };
}

/** ffprobe's `-show_data` hexdump ("00000000: 4f70 7573 ...  text") back to bytes. */
function dumpBytes(dump: string): Uint8Array {
  const hex = dump
    .split('\n')
    .map((line) => line.slice(10, 50).replace(/\s/g, ''))
    .join('');
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/**
 * Hostile input from a real record: every truncation and a few corrupted
 * bytes either parse or throw the codec's own error, never a RangeError or
 * a TypeError from reading past the end.
 */
function expectOnlyTypedErrors(record: Uint8Array, parse: (b: Uint8Array) => unknown, kind: new (...a: never[]) => Error): void {
  const attempts: Uint8Array[] = [];
  for (let n = 0; n < record.length; n++) attempts.push(record.slice(0, n));
  for (let i = 0; i < Math.min(record.length, 40); i++) {
    const bad = record.slice();
    bad[i] = bad[i]! ^ 0xff;
    attempts.push(bad);
  }
  for (const bytes of attempts) {
    try {
      parse(bytes);
    } catch (err) {
      expect(err).toBeInstanceOf(kind);
    }
  }
}

const reverse32 = (v: number) => parseInt(v.toString(2).padStart(32, '0').split('').reverse().join(''), 2);

const bitDepthOf = (pixFmt: string) => (/p(\d+)(le|be)$/.exec(pixFmt)?.[1] === undefined ? 8 : Number(/p(\d+)(le|be)$/.exec(pixFmt)![1]));

describe('HEVC (libx265) against ffprobe', () => {
  const HEVC_PROFILES: Record<number, string> = { 1: 'Main', 2: 'Main 10', 4: 'Rext' };
  const cases = [
    // 642x362 is not a multiple of the 8-sample coding block: the SPS conformance window crops it.
    { name: 'main10-odd', size: '642x362', pixFmt: 'yuv420p10le', profileIdc: 2 },
    { name: 'main-720p', size: '1280x720', pixFmt: 'yuv420p', profileIdc: 1 },
    // 4:4:4 crops in luma samples (SubWidthC 1), and is the range-extensions profile.
    { name: 'rext-444', size: '322x182', pixFmt: 'yuv444p', profileIdc: 4 },
  ];
  for (const c of cases) {
    it(`${c.name}: size, profile, level and codec string`, async () => {
      const { bytes, probe } = await encode(`${c.name}.mp4`, [
        ...video(c.size), '-pix_fmt', c.pixFmt, '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-tag:v', 'hvc1',
      ]);
      const track = mp4Track(bytes, 'vide');
      expect(track.sampleEntry).toBe('hvc1');
      const hvcC = track.configs.get('hvcC')!;
      const info = h265TrackInfo(hvcC);
      const config = parseHevcDecoderConfig(hvcC);
      expect(probe.codec_name).toBe('hevc');
      expect([info.width, info.height]).toEqual([probe.width, probe.height]);
      expect(HEVC_PROFILES[config.profileIdc]).toBe(probe.profile);
      expect(config.profileIdc).toBe(c.profileIdc);
      expect(config.levelIdc).toBe(probe.level);
      expect(config.bitDepthLuma).toBe(bitDepthOf(probe.pix_fmt!));
      const [entry, profile, compat, tierLevel, ...constraints] = info.codecString.split('.');
      expect([entry, profile, tierLevel]).toEqual(['hvc1', String(c.profileIdc), `L${probe.level}`]);
      // Compatibility flags reversed (ISO 14496-15 E.3): flag j, the j-th bit from the top, becomes bit j.
      expect((parseInt(compat!, 16) >>> c.profileIdc) & 1).toBe(1);
      expect(parseInt(compat!, 16)).toBe(reverse32(config.compatibilityFlags));
      expect(constraints.every((b) => /^[0-9A-F]{2}$/.test(b))).toBe(true);
      expect(constraints.at(-1)).not.toBe('00');
      expect(info.nalLengthSize).toBe(4);
      expectOnlyTypedErrors(hvcC, h265TrackInfo, HevcError);
      expect(info.vps.length).toBeGreaterThan(0);
    });
  }
});

describe('AV1 against ffprobe', () => {
  const AV1_PROFILES: Record<number, string> = { 0: 'Main', 1: 'High', 2: 'Professional' };
  const cases = [
    { name: 'svtav1-360p', size: '640x360', args: ['-pix_fmt', 'yuv420p', '-c:v', 'libsvtav1', '-preset', '12'] },
    { name: 'aom-10bit', size: '320x240', args: ['-pix_fmt', 'yuv420p10le', '-c:v', 'libaom-av1', '-cpu-used', '8', '-usage', 'realtime'] },
    { name: 'aom-444', size: '176x144', args: ['-pix_fmt', 'yuv444p', '-c:v', 'libaom-av1', '-cpu-used', '8', '-usage', 'realtime'] },
  ];
  for (const c of cases) {
    it(`${c.name}: size, profile, level, bit depth and codec string`, async () => {
      const { bytes, probe } = await encode(`${c.name}.mp4`, [...video(c.size), ...c.args]);
      const track = mp4Track(bytes, 'vide');
      expect(track.sampleEntry).toBe('av01');
      const av1C = track.configs.get('av1C')!;
      const info = av1TrackInfo(av1C);
      const config = parseAv1Config(av1C);
      expectOnlyTypedErrors(av1C, av1TrackInfo, Av1Error);
      expect(probe.codec_name).toBe('av1');
      expect([info.width, info.height]).toEqual([probe.width, probe.height]);
      expect(AV1_PROFILES[config.seqProfile]).toBe(probe.profile);
      expect(config.seqLevelIdx0).toBe(probe.level);
      expect(config.bitDepth).toBe(bitDepthOf(probe.pix_fmt!));
      const level = String(probe.level).padStart(2, '0');
      expect(info.codecString).toBe(`av01.${config.seqProfile}.${level}M.${String(config.bitDepth).padStart(2, '0')}`);
      // MP4 samples are the stream model's AV1 frames: OBUs that split cleanly, no temporal delimiter.
      for (const s of track.samples) expect(splitObus(s.data).some((o) => o.type === ObuType.temporalDelimiter)).toBe(false);
    });
  }
});

describe('VP9 (libvpx) against ffprobe', () => {
  const cases = [
    { name: 'vp9-p0', size: '640x360', pixFmt: 'yuv420p', profile: 0, depth: 8 },
    { name: 'vp9-p2-10bit-odd', size: '322x242', pixFmt: 'yuv420p10le', profile: 2, depth: 10 },
    { name: 'vp9-p1-444', size: '160x120', pixFmt: 'yuv444p', profile: 1, depth: 8 },
  ];
  for (const c of cases) {
    it(`${c.name}: keyframe size, profile, bit depth and codec string`, async () => {
      const { bytes, probe } = await encode(`${c.name}.mp4`, [
        ...video(c.size), '-pix_fmt', c.pixFmt, '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-g', '10',
      ]);
      const track = mp4Track(bytes, 'vide');
      expect(track.sampleEntry).toBe('vp09');
      const vpcC = track.configs.get('vpcC')!;
      const config = parseVpcConfig(vpcC);
      const info = vp9TrackInfo(vpcC, track.samples[0]!.data);
      expectOnlyTypedErrors(vpcC, parseVpcConfig, Vp9Error);
      expectOnlyTypedErrors(track.samples[0]!.data.subarray(0, 64), parseVp9Keyframe, Vp9Error);
      expect(probe.codec_name).toBe('vp9');
      expect(probe.profile).toBe(`Profile ${c.profile}`);
      expect([config.profile, config.bitDepth]).toEqual([c.profile, c.depth]);
      expect(config.bitDepth).toBe(bitDepthOf(probe.pix_fmt!));
      expect([info.width, info.height]).toEqual([probe.width, probe.height]);
      expect(info.codecString).toBe(`vp09.0${c.profile}.${String(config.level).padStart(2, '0')}.${String(c.depth).padStart(2, '0')}`);
      // Only keyframes state a size; the sync samples are exactly the frames that parse as keyframes.
      for (const s of track.samples) expect(parseVp9Keyframe(s.data) !== undefined).toBe(s.sync);
    });
  }
});

describe('Opus (libopus) against ffprobe', () => {
  for (const channels of [1, 2, 6]) {
    it(`${channels} channel(s): OpusHead, dOps and packet durations`, async () => {
      const source = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '0.6', '-ac', String(channels), '-c:a', 'libopus'];
      const ogg = await encode(`opus-${channels}.ogg`, source);
      const mp4 = await encode(`opus-${channels}.mp4`, source);
      const { head, packets } = readOggOpus(ogg.bytes);
      // ffprobe's extradata of the Ogg stream is the identification header we read from the first page.
      expect(head).toEqual(dumpBytes(ogg.probe.extradata!));
      const info = opusTrackInfo(head);
      expectOnlyTypedErrors(head, opusTrackInfo, OpusError);
      expect(info.channels).toBe(ogg.probe.channels);
      expect(String(info.sampleRate)).toBe(ogg.probe.sample_rate);
      expect(info.channelMappingFamily).toBe(channels > 2 ? 1 : 0);
      // Our dOps for the header is ffmpeg's own dOps for the same encoder settings.
      const track = mp4Track(mp4.bytes, 'soun');
      expect(track.sampleEntry).toBe('Opus');
      expect(info.dOps).toEqual(track.configs.get('dOps'));
      expect(opusHeadToDops(parseOpusHead(head))).toEqual(info.dOps);
      // And back: ffmpeg's dOps gives the Ogg stream's identification header.
      expect(opusHeadFromDops(track.configs.get('dOps')!)).toEqual(head);
      // Each MP4 sample lasts what its TOC says (timescale 48000).
      for (let i = 0; i + 1 < track.samples.length; i++) {
        expect(opusPacketSamples(track.samples[i]!.data)).toBe(track.samples[i + 1]!.dts - track.samples[i]!.dts);
      }
      expect(packets.length).toBeGreaterThan(20);
    });
  }
});
