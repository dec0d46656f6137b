import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlvKeyframeScanner, ReferenceSink } from '../../bench/flv-sink.js';

let dir: string;
let flvPath: string;
let flv: Buffer;
/** Keyframe timestamps (ms) of the file according to ffprobe. */
let expected: number[];

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
}

function scan(chunks: number[]): Array<{ ms: number; at: number }> {
  const out: Array<{ ms: number; at: number }> = [];
  const scanner = new FlvKeyframeScanner((ms, at) => out.push({ ms, at }));
  let from = 0;
  let chunk = 0;
  for (const to of [...chunks, flv.length]) {
    scanner.push(flv.subarray(from, to), chunk++);
    from = to;
  }
  expect(scanner.error).toBeUndefined();
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'polycast-bench-flv-'));
  flvPath = join(dir, 'clip.flv');
  // AAC priming moves the whole FLV timeline by a few ms, as in the bench clip: the stamps must follow the file, not the frame count.
  ffmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '3',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-keyint_min', '15', '-sc_threshold', '0', '-bf', '0',
    '-c:a', 'aac', '-f', 'flv', flvPath,
  ]);
  flv = readFileSync(flvPath);
  const probe = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=dts,flags', '-of', 'csv=p=0', flvPath], { encoding: 'utf8' });
  expected = probe.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(','))
    .filter(([, flags]) => flags?.startsWith('K'))
    .map(([dts]) => Number(dts));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('reference sink', () => {
  it('finds exactly the keyframes ffprobe finds in a real ffmpeg FLV', () => {
    expect(expected.length).toBe(6);
    expect(scan([]).map((k) => k.ms)).toEqual(expected);
  });

  it('finds the same keyframes however the stream is split, stamped with the chunk that completed each', () => {
    const whole = scan([]).map((k) => k.ms);
    for (let cut = 1; cut < 1500; cut++) expect(scan([cut]).map((k) => k.ms)).toEqual(whole);
    const bytes = Array.from({ length: flv.length - 1 }, (_, i) => i + 1);
    const byByte = scan(bytes);
    expect(byByte.map((k) => k.ms)).toEqual(whole);
    // With one-byte chunks a stamp is the offset of the tag's last byte: the previous-tag-size that follows leads back to a video tag.
    for (const k of byByte) {
      const tagSize = flv.readUInt32BE(k.at + 1);
      expect(flv[k.at + 1 - tagSize]).toBe(9);
    }
  });

  it('stamps the keyframes ffmpeg tees to it over TCP', async () => {
    const sink = new ReferenceSink();
    const port = await sink.listen();
    try {
      ffmpeg(['-i', flvPath, '-c', 'copy', '-map', '0', '-f', 'tee', `[f=flv:flvflags=no_duration_filesize]tcp://127.0.0.1:${port}?tcp_nodelay=1`]);
      const deadline = Date.now() + 5000;
      while (sink.order.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(sink.error).toBeUndefined();
      // Remuxing may move the whole timeline by a few ms; every tee output moves alike, so only the spacing is the file's.
      const got = sink.order.map((s) => s.ms);
      expect(got.map((ms) => ms - got[0]!)).toEqual(expected.map((ms) => ms - expected[0]!));
      expect([...sink.stamps.keys()]).toEqual(got);
      const ats = sink.order.map((s) => s.at);
      expect(ats).toEqual([...ats].sort((a, b) => a - b));
      expect(Math.abs(ats[0]! - Date.now())).toBeLessThan(10_000);
    } finally {
      await sink.close();
    }
  });
});
