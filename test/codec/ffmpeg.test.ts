/**
 * Real bytes: FLV files written by ffmpeg (libx264 + aac), demuxed by our
 * code and checked against what ffprobe reports about the same files.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aacTrackInfo, buildAdtsHeader, parseAudioSpecificConfig } from '../../src/codec/aac.js';
import type { FlvTag } from '../../src/codec/flv.js';
import {
  annexBToAvcc,
  avccToAnnexB,
  buildAvcDecoderConfig,
  forEachNal,
  h264TrackInfo,
  isIdrAccessUnit,
  parseAvcDecoderConfig,
  parseSps,
} from '../../src/codec/h264.js';
import { concat, demux, ffmpeg, ffmpegDiagnostics, ffprobeJson, makeTempDir, type DemuxedTag } from './helpers.js';

interface Sample {
  readonly name: string;
  readonly args: string[];
  readonly width: number;
  readonly height: number;
  readonly audio: boolean;
}

const lavfiVideo = (size: string, rate: number, seconds: number) => [
  '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${rate}`, '-t', String(seconds),
];
const lavfiAudio = (rate: number) => ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${rate}`];

const SAMPLES: Sample[] = [
  {
    // 1080 is not a multiple of 16: the SPS must crop 1088 → 1080. B-frames give non-zero composition times.
    name: 'high-1080p-bframes',
    args: [...lavfiVideo('1920x1080', 30, 2), ...lavfiAudio(48000), '-t', '2', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2', '-g', '30', '-c:a', 'aac', '-ac', '2'],
    width: 1920, height: 1080, audio: true,
  },
  {
    name: 'baseline-720p',
    args: [...lavfiVideo('1280x720', 25, 2), ...lavfiAudio(44100), '-t', '2', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-profile:v', 'baseline', '-g', '25', '-c:a', 'aac', '-ac', '1'],
    width: 1280, height: 720, audio: true,
  },
  {
    name: 'high-360p',
    args: [...lavfiVideo('640x360', 25, 2), ...lavfiAudio(22050), '-t', '2', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-profile:v', 'high', '-bf', '3', '-g', '20', '-c:a', 'aac', '-ac', '2'],
    width: 640, height: 360, audio: true,
  },
  {
    // Chroma format 3 and 10-bit: crop units are single luma samples, and avcC grows its extension.
    name: 'high444-10bit-odd-size',
    args: [...lavfiVideo('642x362', 25, 1), '-pix_fmt', 'yuv444p10le', '-c:v', 'libx264', '-g', '10'],
    width: 642, height: 362, audio: false,
  },
  {
    // Field coding: frame_mbs_only_flag = 0 doubles map units and crop rows; 4:2:2 changes the crop unit.
    name: 'high422-interlaced',
    args: [...lavfiVideo('640x360', 25, 1), '-pix_fmt', 'yuv422p', '-c:v', 'libx264', '-x264-params', 'interlaced=1', '-g', '10'],
    width: 640, height: 360, audio: false,
  },
];

interface ProbeStream {
  codec_type: 'video' | 'audio';
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  pix_fmt?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
}
interface ProbePacket {
  codec_type: 'video' | 'audio';
  pts: number;
  dts: number;
  size: string;
  flags: string;
}
interface Probe {
  streams: ProbeStream[];
  packets: ProbePacket[];
}

// H.264 Annex A profile names as ffprobe prints them.
const PROFILE_IDC: Record<string, number> = {
  'Constrained Baseline': 66, Baseline: 66, Main: 77, High: 100, 'High 10': 110, 'High 4:2:2': 122, 'High 4:4:4 Predictive': 244,
};

const PIX_FMT: Record<string, { chroma: number; depth: number }> = {
  yuv420p: { chroma: 1, depth: 8 }, yuv422p: { chroma: 2, depth: 8 }, yuv444p10le: { chroma: 3, depth: 10 },
};

interface Loaded {
  sample: Sample;
  file: string;
  bytes: Uint8Array;
  tags: DemuxedTag[];
  probe: Probe;
}

let dir: string;
let cleanup: () => Promise<void>;
const loaded = new Map<string, Loaded>();

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir());
  for (const sample of SAMPLES) {
    const file = join(dir, `${sample.name}.flv`);
    await ffmpeg([...sample.args, '-f', 'flv', file]);
    const bytes = new Uint8Array(await readFile(file));
    const probe = await ffprobeJson<Probe>(['-show_streams', '-show_packets', file]);
    loaded.set(sample.name, { sample, file, bytes, tags: demux(bytes, 65536), probe });
  }
}, 120_000);

afterAll(() => cleanup?.());

const get = (name: string) => loaded.get(name)!;
const ofType = <T extends FlvTag['type']>(tags: DemuxedTag[], type: T) =>
  tags.map((t) => t.parsed).filter((p): p is Extract<FlvTag, { type: T }> => p.type === type);

describe.each(SAMPLES.map((s) => [s.name, s] as const))('%s', (name, sample) => {
  it('demuxes to the same tags whatever the chunk size, down to 1 byte', () => {
    const { bytes, tags } = get(name);
    const whole = demux(bytes);
    expect(whole).toEqual(tags);
    expect(demux(bytes, 1)).toEqual(whole);
    expect(tags.map((t) => t.parsed.type).filter((t) => t === 'unsupported' || t === 'invalid')).toEqual([]);
    expect(tags.at(-1)!.parsed.type).toBe('video-end'); // ffmpeg closes AVC streams with an end-of-sequence tag
  });

  it('derives size, codec string, chroma format, bit depth and frame rate that ffprobe agrees with', () => {
    const { tags, probe } = get(name);
    const [config] = ofType(tags, 'video-config');
    const video = probe.streams.find((s) => s.codec_type === 'video')!;
    const info = h264TrackInfo(config!.config);
    const sps = parseSps(info.sps[0]!);

    expect(info.width).toBe(sample.width);
    expect(info.height).toBe(sample.height);
    expect([info.width, info.height]).toEqual([video.width, video.height]);
    const profileIdc = PROFILE_IDC[video.profile!]!;
    const hex = (n: number) => n.toString(16).padStart(2, '0');
    expect(info.codecString).toMatch(new RegExp(`^avc1\\.${hex(profileIdc)}[0-9a-f]{2}${hex(video.level!)}$`));
    if (video.profile === 'Constrained Baseline') expect(sps.constraintFlags & 0x40).toBe(0x40);
    expect({ chroma: sps.chromaFormatIdc, depth: sps.bitDepth }).toEqual(PIX_FMT[video.pix_fmt!]);
    const [num, den] = video.r_frame_rate!.split('/').map(Number);
    expect(sps.frameRate).toBe(num! / den!);
    expect(info.nalLengthSize).toBe(4);
    // Rebuilding the record from its parameter sets gives ffmpeg's exact bytes (extension included).
    expect(buildAvcDecoderConfig(info.sps, info.pps, info.nalLengthSize)).toEqual(config!.config);
    expect(parseAvcDecoderConfig(config!.config).profile).toBe(profileIdc);
  });

  it('finds every packet ffprobe finds, with the same sizes, keyframes and timestamps', () => {
    const { tags, probe } = get(name);
    const frames = ofType(tags, 'video');
    const probed = probe.packets.filter((p) => p.codec_type === 'video');
    expect(frames.length).toBe(probed.length);
    expect(frames.filter((f) => f.key).length).toBe(probed.filter((p) => p.flags.startsWith('K')).length);
    expect(frames.map((f) => [f.data.length, f.key, f.timestamp, f.timestamp + f.compositionTime])).toEqual(
      probed.map((p) => [Number(p.size), p.flags.startsWith('K'), p.dts, p.pts]),
    );
    for (const f of frames) {
      let count = 0;
      forEachNal(f.data, 4, () => void count++);
      expect(count).toBeGreaterThan(0);
      expect(isIdrAccessUnit(f.data, 4)).toBe(f.key);
    }

    const audio = ofType(tags, 'audio');
    const probedAudio = probe.packets.filter((p) => p.codec_type === 'audio');
    expect(audio.length).toBe(probedAudio.length);
    expect(audio.map((a) => [a.data.length, a.timestamp])).toEqual(probedAudio.map((p) => [Number(p.size), p.pts]));
    expect(audio.length > 0).toBe(sample.audio);
  });

  it('reads onMetaData', () => {
    const [meta] = ofType(get(name).tags, 'script');
    expect(meta).toMatchObject({ name: 'onMetaData', data: { width: sample.width, height: sample.height, videocodecid: 7 } });
  });
});

describe('composition times', () => {
  it('are non-zero with B-frames, and never negative from ffmpeg', () => {
    const frames = ofType(get('high-1080p-bframes').tags, 'video');
    expect(frames.some((f) => f.compositionTime > 0)).toBe(true);
    expect(frames.every((f) => f.compositionTime >= 0)).toBe(true);
    const pts = frames.map((f) => f.timestamp + f.compositionTime);
    expect(new Set(pts).size).toBe(frames.length);
    expect([...pts].sort((a, b) => a - b)).not.toEqual(pts); // presentation order differs from decode order
  });
});

describe('AAC against ffprobe', () => {
  it.each(SAMPLES.filter((s) => s.audio).map((s) => s.name))('%s: sample rate, channels, codec string', (name) => {
    const { tags, probe } = get(name);
    const [config] = ofType(tags, 'audio-config');
    const info = aacTrackInfo(config!.config);
    const stream = probe.streams.find((s) => s.codec_type === 'audio')!;
    expect(info.sampleRate).toBe(Number(stream.sample_rate));
    expect(info.channels).toBe(stream.channels);
    expect(stream.profile).toBe('LC');
    expect(info.codecString).toBe('mp4a.40.2');
    expect(info.samplesPerFrame).toBe(1024);
  });

  it('ADTS-framed frames form a stream ffmpeg decodes cleanly', async () => {
    const { tags } = get('baseline-720p');
    const [config] = ofType(tags, 'audio-config');
    const asc = parseAudioSpecificConfig(config!.config);
    const frames = ofType(tags, 'audio');
    const file = join(dir, 'audio.aac');
    await writeFile(file, concat(...frames.flatMap((f) => [buildAdtsHeader(asc, f.data.length), f.data])));
    const probe = await ffprobeJson<{ streams: (ProbeStream & { nb_read_packets: string })[] }>(['-count_packets', '-show_streams', file]);
    expect(probe.streams[0]).toMatchObject({ sample_rate: '44100', channels: 1, profile: 'LC', nb_read_packets: String(frames.length) });
    expect(await ffmpeg(['-i', file, '-f', 'null', '-'])).toBe('');
  });
});

describe('Annex B output', () => {
  it('round-trips every access unit', () => {
    for (const frame of ofType(get('high-1080p-bframes').tags, 'video')) {
      expect(annexBToAvcc(avccToAnnexB(frame.data, 4))).toEqual(frame.data);
    }
  });

  it('decodes from a mid-stream keyframe when SPS/PPS are prepended to keyframes', async () => {
    const { tags } = get('high-1080p-bframes');
    const [config] = ofType(tags, 'video-config');
    const info = h264TrackInfo(config!.config);
    const frames = ofType(tags, 'video');
    const start = frames.findIndex((f, i) => i > 0 && f.key);
    expect(start).toBeGreaterThan(0);
    const tail = frames.slice(start);
    const ps = [...info.sps, ...info.pps];
    const file = join(dir, 'tail.h264');
    await writeFile(file, concat(...tail.map((f) => avccToAnnexB(f.data, 4, f.key ? ps : undefined))));
    expect(await ffmpeg(['-f', 'h264', '-i', file, '-f', 'null', '-'])).toBe('');
    const probe = await ffprobeJson<{ streams: { nb_read_frames: string; width: number; height: number }[] }>([
      '-count_frames', '-show_streams', file,
    ]);
    expect(probe.streams[0]).toMatchObject({ width: 1920, height: 1080, nb_read_frames: String(tail.length) });

    // Without the prepended parameter sets there is nothing to decode with.
    const bare = join(dir, 'bare.h264');
    await writeFile(bare, concat(...tail.map((f) => avccToAnnexB(f.data, 4))));
    expect(await ffmpegDiagnostics(['-v', 'error', '-f', 'h264', '-i', bare, '-f', 'null', '-'])).toMatch(/non-existing PPS/);
  });
});
