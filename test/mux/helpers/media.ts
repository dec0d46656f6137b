/**
 * Real test media: ffmpeg encodes a clip to a plain MP4, whose samples are
 * already AVCC / raw AAC frames; ffprobe lists them and the moov gives the
 * decoder configurations. From those we build the `Frame`s ingest would emit.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AacTrackInfo, Frame, H264TrackInfo } from '../../../src/stream/types.js';
import {
  AUDIO_ENTRY_FIELDS, VISUAL_ENTRY_FIELDS, ascFromEsds, child, childrenOf, handlerType, readBoxes, sampleEntry, u16,
} from './mp4.js';

export function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command and returns its stderr, for `ffmpeg -v error` decode checks. */
export function stderrOf(cmd: string, args: readonly string[]): string {
  try {
    execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'ignore', 'pipe'] });
    return '';
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return err.stderr || err.message;
  }
}

export interface ClipOptions {
  readonly seconds: number;
  readonly fps: number;
  readonly sampleRate: number;
  readonly channels: number;
  readonly bFrames: number;
  readonly gop: number;
}

export const DEFAULT_CLIP: ClipOptions = { seconds: 3, fps: 30, sampleRate: 48000, channels: 2, bFrames: 2, gop: 30 };

export function encodeClip(dir: string, o: ClipOptions = DEFAULT_CLIP): string {
  const out = join(dir, 'source.mp4');
  run('ffmpeg', [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${o.fps}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${o.sampleRate}`,
    '-t', String(o.seconds),
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-bf', String(o.bFrames), '-g', String(o.gop),
    '-c:a', 'aac', '-ar', String(o.sampleRate), '-ac', String(o.channels), '-b:a', '96k',
    out,
  ]);
  return out;
}

export interface ProbedStream {
  readonly index: number;
  readonly codec_type: string;
  readonly codec_name?: string;
  readonly time_base: string;
  readonly width?: number;
  readonly height?: number;
  readonly sample_rate?: string;
  readonly channels?: number;
}

export interface ProbedPacket {
  readonly stream_index: number;
  readonly pts: number;
  readonly dts: number;
  readonly flags: string;
  readonly pos?: string;
  readonly size: string;
}

export interface Probe {
  readonly streams: ProbedStream[];
  readonly packets: ProbedPacket[];
}

export function probe(file: string): Probe {
  const json = run('ffprobe', [
    '-v', 'error',
    '-show_entries', 'stream=index,codec_type,codec_name,time_base,width,height,sample_rate,channels:packet=stream_index,pts,dts,flags,pos,size',
    '-of', 'json', file,
  ]);
  const parsed = JSON.parse(json) as Partial<Probe>;
  return { streams: parsed.streams ?? [], packets: parsed.packets ?? [] };
}

export function timeBase(stream: ProbedStream): { num: number; den: number } {
  const [num, den] = stream.time_base.split('/').map(Number);
  return { num: num as number, den: den as number };
}

/** Exact seconds of a timestamp in a stream's time base, as a ratio-safe float. */
export function seconds(ts: number, stream: ProbedStream): number {
  const { num, den } = timeBase(stream);
  return (ts * num) / den;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function h264Info(avcC: Uint8Array, width: number, height: number): H264TrackInfo {
  const sps: Uint8Array[] = [];
  const pps: Uint8Array[] = [];
  let p = 5;
  const numSps = (avcC[p++] as number) & 0x1f;
  for (let i = 0; i < numSps; i++) {
    const len = u16(avcC, p);
    sps.push(avcC.slice(p + 2, p + 2 + len));
    p += 2 + len;
  }
  const numPps = avcC[p++] as number;
  for (let i = 0; i < numPps; i++) {
    const len = u16(avcC, p);
    pps.push(avcC.slice(p + 2, p + 2 + len));
    p += 2 + len;
  }
  return {
    kind: 'video',
    codec: 'h264',
    codecString: `avc1.${hex2(avcC[1] as number)}${hex2(avcC[2] as number)}${hex2(avcC[3] as number)}`,
    width,
    height,
    avcC,
    sps,
    pps,
    nalLengthSize: ((avcC[4] as number) & 0x03) + 1,
  };
}

function aacInfo(asc: Uint8Array, sampleRate: number, channels: number): AacTrackInfo {
  const objectType = (asc[0] as number) >> 3;
  return { kind: 'audio', codec: 'aac', codecString: `mp4a.40.${objectType}`, sampleRate, channels, samplesPerFrame: 1024, asc };
}

export interface SourcePacket {
  readonly frame: Frame;
  /** Exact source times in seconds, for comparing with the output. */
  readonly dtsSec: number;
  readonly ptsSec: number;
}

export interface Source {
  readonly file: Uint8Array;
  readonly video: H264TrackInfo;
  readonly audio: AacTrackInfo;
  readonly videoPackets: SourcePacket[];
  readonly audioPackets: SourcePacket[];
  /** All frames, in decode order across tracks, as a live ingest would deliver them. */
  readonly frames: Frame[];
}

function toUs(ts: number, stream: ProbedStream): number {
  const { num, den } = timeBase(stream);
  return Math.round((ts * 1e6 * num) / den);
}

export function loadSource(path: string): Source {
  const file = new Uint8Array(readFileSync(path));
  const moov = child(readBoxes(file), 'moov');
  const traks = childrenOf(moov).filter((b) => b.type === 'trak');
  const videoTrak = traks.find((t) => handlerType(t) === 'vide');
  const audioTrak = traks.find((t) => handlerType(t) === 'soun');
  if (!videoTrak || !audioTrak) throw new Error('source needs a video and an audio track');
  const avcC = child(childrenOf(sampleEntry(videoTrak), VISUAL_ENTRY_FIELDS), 'avcC').body.slice();
  const esds = child(childrenOf(sampleEntry(audioTrak), AUDIO_ENTRY_FIELDS), 'esds');
  const asc = ascFromEsds(esds.body).asc.slice();

  const { streams, packets } = probe(path);
  const vStream = streams.find((s) => s.codec_type === 'video');
  const aStream = streams.find((s) => s.codec_type === 'audio');
  if (!vStream || !aStream) throw new Error('ffprobe found no video or audio stream');
  const video = h264Info(avcC, vStream.width as number, vStream.height as number);
  const audio = aacInfo(asc, Number(aStream.sample_rate), aStream.channels as number);

  const videoPackets: SourcePacket[] = [];
  const audioPackets: SourcePacket[] = [];
  for (const p of packets) {
    const stream = p.stream_index === vStream.index ? vStream : p.stream_index === aStream.index ? aStream : undefined;
    if (!stream) continue;
    const kind = stream === vStream ? 'video' : 'audio';
    const pos = Number(p.pos);
    const data = file.slice(pos, pos + Number(p.size));
    const frame: Frame = {
      kind,
      dts: toUs(p.dts, stream),
      pts: toUs(p.pts, stream),
      key: kind === 'audio' || p.flags.includes('K'),
      data,
      receivedAt: 0,
    };
    (kind === 'video' ? videoPackets : audioPackets).push({ frame, dtsSec: seconds(p.dts, stream), ptsSec: seconds(p.pts, stream) });
  }
  const byDts = (a: SourcePacket, b: SourcePacket) => a.frame.dts - b.frame.dts;
  videoPackets.sort(byDts);
  audioPackets.sort(byDts);
  const frames = [...videoPackets, ...audioPackets].map((p) => p.frame).sort((a, b) => a.dts - b.dts);
  return { file, video, audio, videoPackets, audioPackets, frames };
}
