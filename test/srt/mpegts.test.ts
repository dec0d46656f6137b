/** The MPEG-TS demuxer and the HEVC configuration builder against what ffmpeg writes. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { splitAnnexB } from '../../src/codec/h264.js';
import { buildHevcDecoderConfig } from '../../src/codec/hevc-config-build.js';
import { hevcCodecString, HevcNalType, parseHevcDecoderConfig } from '../../src/codec/hevc.js';
import { splitAdts } from '../../src/protocols/mpegts/adts.js';
import { TS_PACKET_SIZE, TsDemuxer, type PesPacket } from '../../src/protocols/mpegts/ts-demuxer.js';

const dir = mkdtempSync(join(tmpdir(), 'polycast-ts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function encode(name: string, videoArgs: string[], extra: string[] = []): string {
  const file = join(dir, name);
  const run = spawnSync('ffmpeg', [
    '-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '2', ...videoArgs, '-pix_fmt', 'yuv420p', '-g', '25', '-c:a', 'aac', ...extra, '-y', file,
  ]);
  if (run.status !== 0) throw new Error(run.stderr.toString());
  return file;
}

function demux(bytes: Uint8Array, chunk = 1316) {
  const pes: PesPacket[] = [];
  const problems: string[] = [];
  const programs: number[][] = [];
  const d = new TsDemuxer({
    program: (s) => {
      programs.push(s.map((x) => x.streamType));
      return s.map((x) => x.pid);
    },
    pes: (p) => pes.push(p),
    problem: (r) => problems.push(r),
  });
  for (let i = 0; i < bytes.length; i += chunk) d.push(bytes.subarray(i, i + chunk));
  d.flush();
  return { pes, problems, programs };
}

const h264Ts = readFileSync(encode('h264.ts', ['-c:v', 'libx264', '-preset', 'ultrafast']));

describe('MPEG-TS demuxer', () => {
  it('finds the program and every PES of an ffmpeg stream, in any chunking', () => {
    const whole = demux(h264Ts);
    expect(whole.problems).toEqual([]);
    expect(whole.programs[0]).toEqual([0x1b, 0x0f]);
    const video = whole.pes.filter((p) => p.streamType === 0x1b);
    const audio = whole.pes.filter((p) => p.streamType === 0x0f);
    expect(video).toHaveLength(50);
    // ffmpeg packs several ADTS frames into one audio PES (pes_payload_size).
    expect(audio.length).toBeGreaterThan(3);
    // Every AAC frame of 2 s at 48 kHz, 1024 samples each.
    expect(audio.flatMap((p) => splitAdts(p.data).frames)).toHaveLength(Math.ceil((2 * 48000) / 1024) + 1);
    const odd = demux(h264Ts, 97);
    expect(odd.pes.map((p) => p.data.length)).toEqual(whole.pes.map((p) => p.data.length));
    // A PTS rises by 3600 (90 kHz) per frame at 25 fps.
    expect(video[1]!.dts! - video[0]!.dts!).toBe(3600);
  });

  it('discards a PES with a continuity gap, says so, and ignores a repeated packet', () => {
    const packets = h264Ts.length / TS_PACKET_SIZE;
    const pidOf = (i: number) => ((h264Ts[i * TS_PACKET_SIZE + 1]! & 0x1f) << 8) | h264Ts[i * TS_PACKET_SIZE + 2]!;
    const unitStart = (i: number) => (h264Ts[i * TS_PACKET_SIZE + 1]! & 0x40) !== 0;
    // A video packet in the middle of a PES (not its start, not followed by one).
    let victim = -1;
    for (let i = Math.floor(packets / 2); i < packets - 1; i++) {
      if (pidOf(i) === 0x100 && !unitStart(i) && pidOf(i + 1) === 0x100 && !unitStart(i + 1)) {
        victim = i;
        break;
      }
    }
    expect(victim).toBeGreaterThan(0);
    const cut = Buffer.concat([h264Ts.subarray(0, victim * TS_PACKET_SIZE), h264Ts.subarray((victim + 1) * TS_PACKET_SIZE)]);
    const lossy = demux(cut);
    expect(lossy.problems).toEqual(['continuity gap: PES discarded']);
    expect(lossy.pes.filter((p) => p.streamType === 0x1b)).toHaveLength(49);
    const repeated = Buffer.concat([h264Ts.subarray(0, (victim + 1) * TS_PACKET_SIZE), h264Ts.subarray(victim * TS_PACKET_SIZE)]);
    const dup = demux(repeated);
    expect(dup.problems).toEqual([]);
    expect(dup.pes.filter((p) => p.streamType === 0x1b)).toHaveLength(50);
  });

  it('resynchronises after garbage between packets', () => {
    const garbage = Buffer.concat([h264Ts.subarray(0, 10 * TS_PACKET_SIZE), Buffer.from('not a TS packet'), h264Ts.subarray(10 * TS_PACKET_SIZE)]);
    const r = demux(garbage);
    expect(r.problems.every((p) => p === 'lost TS sync' || p === 'continuity gap: PES discarded')).toBe(true);
    expect(r.pes.filter((p) => p.streamType === 0x1b).length).toBeGreaterThanOrEqual(49);
  });
});

describe('hvcC from in-band parameter sets', () => {
  it('describes the stream as ffmpeg’s own MP4 muxer does', () => {
    const ts = encode('hevc.ts', ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error']);
    const mp4 = join(dir, 'hevc.mp4');
    const remux = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-i', ts, '-c', 'copy', '-tag:v', 'hvc1', '-y', mp4]);
    expect(remux.status).toBe(0);
    const mp4Bytes = readFileSync(mp4);
    const at = mp4Bytes.indexOf('hvcC');
    const theirs = parseHevcDecoderConfig(mp4Bytes.subarray(at + 4, at - 4 + mp4Bytes.readUInt32BE(at - 4)));

    const first = demux(readFileSync(ts)).pes.find((p) => p.streamType === 0x24)!;
    const nals = splitAnnexB(first.data);
    const ofType = (t: number) => nals.filter((n) => ((n[0]! >> 1) & 0x3f) === t);
    const ours = parseHevcDecoderConfig(buildHevcDecoderConfig(ofType(HevcNalType.vps), ofType(HevcNalType.sps), ofType(HevcNalType.pps)));
    expect(hevcCodecString(ours)).toBe(hevcCodecString(theirs));
    expect([ours.chromaFormat, ours.bitDepthLuma, ours.bitDepthChroma]).toEqual([theirs.chromaFormat, theirs.bitDepthLuma, theirs.bitDepthChroma]);
    expect([ours.vps, ours.sps, ours.pps].map((s) => s.map((n) => Buffer.from(n).toString('hex')))).toEqual(
      [theirs.vps, theirs.sps, theirs.pps].map((s) => s.map((n) => Buffer.from(n).toString('hex'))),
    );
  });
});
