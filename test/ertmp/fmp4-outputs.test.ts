/**
 * The fMP4 transports carry HEVC, AV1, VP9 and Opus: an enhanced-RTMP
 * publish of real encoder output, recorded as a viewer receives it (a `ws`
 * client on /ws/fmp4, HTTP GETs for HLS) and read back by ffprobe.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ffprobeJson } from '../codec/helpers.js';
import { encodeClip, enhancedTags, publishTags, type ClipOptions } from '../helpers/ertmp-publisher.js';
import { topLevelBoxes } from '../helpers/mp4.js';
import { parsePlaylist, text, variantUri } from '../hls/ll-client.js';
import { until, useErtmpServer, type ProbedStream as Probed } from './fixture.js';

const fx = useErtmpServer('hlsAlwaysRemux: yes\nhlsSegmentDuration: 1s\npaths:\n  all_others:\n');
const sockets: WebSocket[] = [];

afterAll(() => {
  for (const ws of sockets) ws.terminate();
});

async function probe(name: string, bytes: Uint8Array): Promise<Probed[]> {
  const file = join(fx.dir, name);
  await writeFile(file, bytes);
  return (await ffprobeJson<{ streams: Probed[] }>(['-count_frames', '-show_streams', file])).streams;
}

/** The variant playlist's init segment and complete segments, concatenated. */
async function hlsRecording(path: string): Promise<Uint8Array> {
  const base = fx.srv.httpUrl(`/${path}`);
  let playlist = parsePlaylist('');
  const poll = async () => {
    const index = await text(`${base}/index.m3u8`);
    if (index.status !== 200) return;
    playlist = parsePlaylist((await text(`${base}/${variantUri(index.body)}`)).body);
  };
  const deadline = Date.now() + 20_000;
  while (playlist.segments.length < 2 && Date.now() < deadline) {
    await poll();
    await new Promise((r) => setTimeout(r, 200));
  }
  if (playlist.segments.length < 2) throw new Error(`timed out waiting for two complete HLS segments: ${playlist.text}`);
  const parts = [playlist.maps[0]!, ...playlist.segments.map((s) => s.uri)];
  const bodies = await Promise.all(parts.map(async (uri) => new Uint8Array(await (await fetch(`${base}/${uri}`)).arrayBuffer())));
  return Buffer.concat(bodies);
}

const cases: { name: string; clip: ClipOptions; mime: RegExp; tags: [string, string] }[] = [
  { name: 'hevc-opus', clip: { video: 'hevc', audio: 'opus', size: '320x240', seconds: 3 }, mime: /^video\/mp4; codecs="hvc1\.1\.6\.L\d+(\.[0-9A-F]{2})*, opus"$/, tags: ['hvc1', 'Opus'] },
  { name: 'av1-aac', clip: { video: 'av1', audio: 'aac', size: '320x240', seconds: 3 }, mime: /^video\/mp4; codecs="av01\.0\.\d\dM\.08, mp4a\.40\.2"$/, tags: ['av01', 'mp4a'] },
  { name: 'vp9-opus', clip: { video: 'vp9', audio: 'opus', size: '352x288', seconds: 3 }, mime: /^video\/mp4; codecs="vp09\.00\.\d\d\.08, opus"$/, tags: ['vp09', 'Opus'] },
];

describe('ws-fmp4 and HLS carry every codec of the stream model', () => {
  for (const c of cases) {
    it(`${c.name}: ffprobe reads the recorded ws-fmp4 and HLS output with the clip's codecs, size and frames`, async () => {
      const clip = await encodeClip(fx.dir, `fmp4-${c.name}`, c.clip);
      const path = `out/${c.name}`;
      const ws = new WebSocket(fx.srv.wsUrl(path, 'ws/fmp4?protocol=standard'));
      sockets.push(ws);
      const texts: Array<Record<string, unknown>> = [];
      const binaries: Buffer[] = [];
      ws.on('message', (d: Buffer, isBinary) => (isBinary ? binaries.push(d) : texts.push(JSON.parse(d.toString()) as Record<string, unknown>)));
      await new Promise((r) => ws.once('open', r));

      const tags = enhancedTags(clip);
      const { client } = await publishTags(fx.srv.rtmpPort, 'out', c.name, clip, tags, { paced: true });
      fx.keep(client);
      const total = clip.video!.samples.length + clip.audio!.samples.length;
      // One init segment, then one segment per frame.
      await until(() => binaries.length >= 1 + total, `${total} ws-fmp4 segments (have ${binaries.length})`, 20_000);

      expect(texts.find((t) => t.type === 'init')?.mime).toMatch(c.mime);
      expect(topLevelBoxes(binaries[0]!)[0]?.type).toBe('ftyp');
      const ws4 = await probe(`${c.name}-ws.mp4`, Buffer.concat(binaries));
      const hls = await probe(`${c.name}-hls.mp4`, await hlsRecording(path));
      const source = await ffprobeJson<{ streams: Probed[] }>(['-show_streams', clip.file]);

      for (const [label, streams] of [['ws-fmp4', ws4], ['hls', hls]] as const) {
        const v = streams.find((s) => s.codec_type === 'video');
        const a = streams.find((s) => s.codec_type === 'audio');
        const sv = source.streams.find((s) => s.codec_type === 'video')!;
        const sa = source.streams.find((s) => s.codec_type === 'audio')!;
        expect([label, v?.codec_name, v?.codec_tag_string, v?.width, v?.height]).toEqual([label, sv.codec_name, c.tags[0], sv.width, sv.height]);
        expect([label, a?.codec_name, a?.codec_tag_string, a?.channels, a?.sample_rate]).toEqual([label, sa.codec_name, c.tags[1], sa.channels, sa.sample_rate]);
        if (label === 'ws-fmp4') {
          // Every frame, decoded: the recording is the whole clip.
          expect(Number(v!.nb_read_frames)).toBe(clip.video!.samples.length);
          expect(Number(a!.nb_read_frames)).toBe(clip.audio!.samples.length);
        } else {
          // Complete segments only (the last one stays open while the publisher is connected): at least a second of each.
          expect(Number(v!.nb_read_frames)).toBeGreaterThanOrEqual(25);
          expect(Number(a!.nb_read_frames)).toBeGreaterThanOrEqual(40);
        }
      }
    }, 60_000);
  }
});
