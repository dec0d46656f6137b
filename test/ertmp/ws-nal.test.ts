/**
 * ws-nal version 2 carries every codec of the stream model; a client that
 * asks for no version (every player before it) still gets version 1, with
 * H.264 and AAC only. What a version-2 viewer receives is written out as
 * the elementary stream it is and read back by ffprobe.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hevcToAnnexB } from '../../src/codec/hevc.js';
import { ivfFrame, ivfHeader } from '../../src/codec/ivf.js';
import { ffprobeJson } from '../codec/helpers.js';
import { encodeClip, enhancedTags, publishTags, type ClipOptions } from '../helpers/ertmp-publisher.js';
import { NalClient } from '../helpers/nal-client.js';
import { useErtmpServer, type ProbedStream as Probed } from './fixture.js';

const fx = useErtmpServer();
const viewers: NalClient[] = [];

afterAll(() => {
  for (const v of viewers) v.close();
});

function viewer(path: string, query = ''): NalClient {
  const v = new NalClient(`${fx.srv.wsUrl(path)}${query}`);
  viewers.push(v);
  return v;
}

async function publish(name: string, clip: ClipOptions) {
  const encoded = await encodeClip(fx.dir, `nal-${name}`, clip);
  const v2 = viewer(`nal/${name}`, '?version=2');
  const v1 = viewer(`nal/${name}`);
  await Promise.all([v2.opened, v1.opened]);
  await v2.until(() => v2.texts('offline').length > 0, 5000, 'offline before the publish');
  const { client } = await publishTags(fx.srv.rtmpPort, 'nal', name, encoded, enhancedTags(encoded));
  fx.keep(client);
  const total = (encoded.video?.samples.length ?? 0) + (encoded.audio?.samples.length ?? 0);
  await v2.until(() => v2.media.length >= total, 15_000, `${total} frames`);
  return { clip: encoded, v1, v2 };
}

async function probe(name: string, bytes: Uint8Array): Promise<Probed> {
  const file = join(fx.dir, name);
  await writeFile(file, bytes);
  return (await ffprobeJson<{ streams: Probed[] }>(['-count_frames', '-show_streams', file])).streams[0]!;
}

describe('ws-nal version 2', () => {
  it('HEVC + Opus: Annex B with the parameter sets before keyframes, Opus packets as published; version 1 is refused', async () => {
    const { clip, v1, v2 } = await publish('hevc-opus', { video: 'hevc', audio: 'opus', size: '320x240' });
    expect(v2.texts('hello')[0]).toMatchObject({ version: 2 });
    const init = v2.texts('init')[0]!;
    const desc = fx.srv.server.paths.get('nal/hevc-opus')!.stream!.description;
    expect(init).toMatchObject({
      video: { codec: desc.video!.codecString, codedWidth: 320, codedHeight: 240, description: Buffer.from(clip.video!.configs.get('hvcC')!).toString('base64') },
      audio: { codec: 'opus', sampleRate: 48000, numberOfChannels: 2 },
    });
    // Each access unit is the published sample in Annex B, with VPS/SPS/PPS ahead of keyframes.
    const info = desc.video!.codec === 'h265' ? desc.video! : undefined;
    v2.video.forEach((m, i) => {
      const s = clip.video!.samples[i]!;
      const expected = hevcToAnnexB(s.data, 4, s.sync ? [...info!.vps, ...info!.sps, ...info!.pps] : undefined);
      expect(m.payload.equals(Buffer.from(expected))).toBe(true);
      expect((m.flags & 1) === 1).toBe(s.sync);
    });
    v2.audio.forEach((m, i) => expect(m.payload.equals(Buffer.from(clip.audio!.samples[i]!.data))).toBe(true));
    const probed = await probe('nal.hevc', Buffer.concat(v2.video.map((m) => m.payload)));
    expect(probed).toMatchObject({ codec_name: 'hevc', width: 320, height: 240, nb_read_frames: String(clip.video!.samples.length) });

    const closed = await v1.closed;
    expect(v1.texts('hello')[0]).toMatchObject({ version: 1 });
    expect(closed).toEqual({ code: 1003, reason: `no track this transport carries: ${desc.video!.codecString}, opus` });
  });

  for (const codec of ['av1', 'vp9'] as const) {
    it(`${codec}: frames as published, which ffprobe decodes in IVF`, async () => {
      const { clip, v2 } = await publish(codec, { video: codec, size: '256x144' });
      const init = v2.texts('init')[0]!;
      const video = init['video'] as Record<string, unknown>;
      expect(video['codec']).toBe(fx.srv.server.paths.get(`nal/${codec}`)!.stream!.description.video!.codecString);
      // AV1 hands its av1C along (optional for WebCodecs); VP9 has no description to give.
      expect(video['description']).toBe(codec === 'av1' ? Buffer.from(clip.video!.configs.get('av1C')!).toString('base64') : undefined);
      v2.video.forEach((m, i) => expect(m.payload.equals(Buffer.from(clip.video!.samples[i]!.data))).toBe(true));
      const ivf = [ivfHeader(codec === 'av1' ? 'AV01' : 'VP90', 256, 144), ...v2.video.map((m) => ivfFrame(m.payload, m.pts / 1000))];
      const probed = await probe(`nal-${codec}.ivf`, Buffer.concat(ivf));
      expect(probed).toMatchObject({ codec_name: codec, width: 256, height: 144, nb_read_frames: String(clip.video!.samples.length) });
    });
  }

  it('H.264 + Opus: version 1 gets the H.264 alone, version 2 both', async () => {
    const { clip, v1, v2 } = await publish('h264-opus', { video: 'h264', audio: 'opus', size: '320x240' });
    await v1.until(() => v1.video.length >= clip.video!.samples.length, 15_000, 'version 1 video');
    const init1 = v1.texts('init')[0]!;
    expect(init1['video']).toMatchObject({ codec: expect.stringMatching(/^avc1\./) });
    expect(init1['audio']).toBeUndefined();
    expect(v1.audio).toHaveLength(0);
    expect(v1.closeInfo).toBeUndefined();
    expect(v2.texts('init')[0]!['audio']).toMatchObject({ codec: 'opus' });
    expect(v2.audio).toHaveLength(clip.audio!.samples.length);
    // The H.264 bytes are the same for both versions: one serialization serves them.
    expect(v2.video.map((m) => m.payload.toString('hex'))).toEqual(v1.video.map((m) => m.payload.toString('hex')));
  });

  it('a version it does not know gets the newest it speaks; garbage gets version 1', async () => {
    const newer = viewer('nal/unpublished', '?version=7');
    const junk = viewer('nal/unpublished', '?version=two');
    await newer.until(() => newer.texts('hello').length > 0, 5000, 'hello');
    await junk.until(() => junk.texts('hello').length > 0, 5000, 'hello');
    expect(newer.texts('hello')[0]).toMatchObject({ version: 2 });
    expect(junk.texts('hello')[0]).toMatchObject({ version: 1 });
  });
});
