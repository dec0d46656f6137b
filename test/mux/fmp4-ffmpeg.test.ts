import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID, type MuxTracks } from '../../src/mux/fmp4/index.js';
import { parseFragments } from './helpers/fragments.js';
import type { Frame } from '../../src/stream/types.js';
import { encodeClip, loadSource, probe, seconds, stderrOf, type ProbedPacket, type Source, type SourcePacket } from './helpers/media.js';
import { concat, minDts, muxMulti, muxPerFrame, muxRuns, writeParts } from './helpers/mux.js';

let dir: string;
let src: Source;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'polycast-fmp4-'));
  src = loadSource(encodeClip(dir));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Checks a muxed stream against the source packet by packet, twice: our own
 * box reader must find every sample's bytes, flags and timestamps (exactly as
 * written), and ffprobe must see the same stream parameters, packet count,
 * timestamps within one tick of the source's (shifted by the origin) and
 * keyframes. Finally ffmpeg must decode it without a single error.
 */
function verify(parts: readonly Uint8Array[], name: string, tracks: MuxTracks, expected: { video?: SourcePacket[]; audio?: SourcePacket[] }, originUs: number): void {
  const file = writeParts(dir, name, parts);
  const written = parseFragments(concat(parts)).samples;
  const out = probe(file);
  expect(out.streams).toHaveLength(Number(Boolean(tracks.video)) + Number(Boolean(tracks.audio)));
  const originSec = originUs / 1e6;

  for (const kind of ['video', 'audio'] as const) {
    const info = tracks[kind];
    const sourcePackets = expected[kind];
    if (!info || !sourcePackets) continue;
    const timescale = info.kind === 'video' ? VIDEO_TIMESCALE : info.sampleRate;

    const samples = written.filter((s) => s.trackId === (kind === 'video' ? VIDEO_TRACK_ID : AUDIO_TRACK_ID));
    expect(samples).toHaveLength(sourcePackets.length);
    samples.forEach((s, i) => {
      const src = sourcePackets[i] as SourcePacket;
      expect(Math.abs(s.decodeTime - (src.dtsSec - originSec) * timescale), `${kind} #${i} decode`).toBeLessThanOrEqual(1);
      expect(Math.abs(s.decodeTime + s.compositionOffset - (src.ptsSec - originSec) * timescale), `${kind} #${i} pts`).toBeLessThanOrEqual(1);
      expect(s.data).toEqual(src.frame.data);
      expect(s.duration).toBeGreaterThan(0);
      expect((s.flags & 0x10000) === 0, `${kind} #${i} sync`).toBe(src.frame.key);
    });

    const stream = out.streams.find((s) => s.codec_type === kind);
    expect(stream, `${kind} stream`).toBeDefined();
    if (!stream) return;
    if (info.kind === 'video') {
      expect(stream.codec_name).toBe('h264');
      expect([stream.width, stream.height]).toEqual([info.width, info.height]);
    } else {
      expect(stream.codec_name).toBe('aac');
      expect(Number(stream.sample_rate)).toBe(info.sampleRate);
      expect(stream.channels).toBe(info.channels);
    }
    expect(stream.time_base).toBe(`1/${timescale}`);
    const packets: ProbedPacket[] = out.packets.filter((p) => p.stream_index === stream.index);
    expect(packets).toHaveLength(sourcePackets.length);

    // ffmpeg's mov demuxer keeps pts >= dts by delaying every pts of a track by
    // its most negative composition offset; the stream itself carries none.
    const ffmpegPtsDelay = Math.max(0, ...samples.map((s) => -s.compositionOffset)) / timescale;
    const tickErrors = packets.map((p, i) => {
      const s = sourcePackets[i] as SourcePacket;
      return {
        dts: Math.abs(seconds(p.dts, stream) - (s.dtsSec - originSec)) * timescale,
        pts: Math.abs(seconds(p.pts, stream) - ffmpegPtsDelay - (s.ptsSec - originSec)) * timescale,
      };
    });
    expect(Math.max(...tickErrors.map((e) => e.dts)), `${kind} dts error in ticks`).toBeLessThanOrEqual(1);
    expect(Math.max(...tickErrors.map((e) => e.pts)), `${kind} pts error in ticks`).toBeLessThanOrEqual(1);
    expect(packets.map((p) => p.flags.includes('K'))).toEqual(sourcePackets.map((s) => s.frame.key));
    expect(packets.map((p) => Number(p.size))).toEqual(sourcePackets.map((s) => s.frame.data.byteLength));
  }

  expect(stderrOf('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'])).toBe('');
}

describe('fMP4 muxer against ffprobe/ffmpeg with real H.264 (B-frames) + AAC', () => {
  it('source has B-frames and both tracks', () => {
    const pts = src.videoPackets.map((p) => p.frame.pts);
    expect(pts.some((t, i) => i > 0 && t < (pts[i - 1] as number)), 'presentation order differs from decode order').toBe(true);
    expect(src.videoPackets.length).toBe(90);
    expect(src.audioPackets.length).toBeGreaterThan(100);
  });

  it('one frame per fragment (live default) round-trips every packet', () => {
    const tracks = { video: src.video, audio: src.audio };
    const origin = minDts(src.frames);
    verify(muxPerFrame(tracks, src.frames, origin), 'per-frame.mp4', tracks, { video: src.videoPackets, audio: src.audioPackets }, origin);
  });

  it('N-frame fragments round-trip every packet', () => {
    const tracks = { video: src.video, audio: src.audio };
    const origin = minDts(src.frames);
    verify(muxRuns(tracks, src.frames, 7, origin), 'runs.mp4', tracks, { video: src.videoPackets, audio: src.audioPackets }, origin);
  });

  it('two trafs in one moof (fragmentMulti) round-trip every packet', () => {
    const tracks = { video: src.video, audio: src.audio };
    const origin = minDts(src.frames);
    verify(muxMulti(tracks, src.frames, origin), 'multi.mp4', tracks, { video: src.videoPackets, audio: src.audioPackets }, origin);
  });

  it('video-only init and fragments', () => {
    const tracks = { video: src.video };
    const frames = src.videoPackets.map((p) => p.frame);
    const origin = minDts(frames);
    verify(muxPerFrame(tracks, frames, origin), 'video-only.mp4', tracks, { video: src.videoPackets }, origin);
  });

  it('audio-only init and fragments', () => {
    const tracks = { audio: src.audio };
    const frames = src.audioPackets.map((p) => p.frame);
    const origin = minDts(frames);
    verify(muxPerFrame(tracks, frames, origin), 'audio-only.mp4', tracks, { audio: src.audioPackets }, origin);
  });

  it('negative composition offsets (decode times delayed to the first pts) keep exact pts', () => {
    // Move each video dts later by the encoder's reorder delay, as a publisher that
    // starts dts at the first pts does: B-frames then get pts < dts.
    const first = src.videoPackets[0] as SourcePacket;
    const delayUs = first.frame.pts - first.frame.dts;
    const delaySec = first.ptsSec - first.dtsSec;
    expect(delayUs).toBeGreaterThan(0);
    const shifted: SourcePacket[] = src.videoPackets.map((p) => ({
      frame: { ...p.frame, dts: p.frame.dts + delayUs } as Frame,
      dtsSec: p.dtsSec + delaySec,
      ptsSec: p.ptsSec,
    }));
    expect(shifted.some((p) => p.frame.pts < p.frame.dts)).toBe(true);
    const tracks = { video: src.video };
    const frames = shifted.map((p) => p.frame);
    const origin = minDts(frames);
    verify(muxPerFrame(tracks, frames, origin), 'negative-cto.mp4', tracks, { video: shifted }, origin);
  });
});
