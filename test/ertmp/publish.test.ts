/**
 * Enhanced RTMP ingest end to end: real encoder output (libx265, libsvtav1,
 * libvpx-vp9, libopus, aac) wrapped in enhanced tags by the test publisher,
 * pushed over a real RTMP connection, and compared with what ffprobe says
 * about the same clip and with the clip's own samples, byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/protocols/rtmp/chunk-reader.js';
import { Reader } from '../../src/stream/reader.js';
import type { Frame, StreamDescription } from '../../src/stream/types.js';
import { ffprobeJson } from '../codec/helpers.js';
import { encodeClip, enhancedTags, publishTags, type Clip, type ClipOptions, type RtmpTag, type TagOptions } from '../helpers/ertmp-publisher.js';
import { NalClient } from '../helpers/nal-client.js';
import { until, useErtmpServer, type ProbedStream as Probed } from './fixture.js';

/** Publishes the tags and records, as a reader of the path, every description and frame the stream model gets. */
const fx = useErtmpServer();

async function publishAndRecord(name: string, clip: Clip | undefined, tags: readonly RtmpTag[]) {
  const frames: Frame[] = [];
  const descriptions: StreamDescription[] = [];
  const reader = new Reader({ id: `test-${name}`, protocol: 'test', remoteAddress: 'internal' }, {
    writable: () => true,
    write: (f) => void frames.push(f),
    describe: (d) => void descriptions.push(d),
    offline: () => undefined,
  }, 100_000);
  const published = await publishTags(fx.srv.rtmpPort, 'ertmp', name, clip, tags, { beforeMedia: () => fx.srv.server.paths.get(`ertmp/${name}`)!.addReader(reader) });
  fx.keep(published.client);
  return { frames, descriptions, client: published.client, status: published.status };
}

const HEVC_PROFILES: Record<string, number> = { Main: 1, 'Main 10': 2 };
const AV1_PROFILES: Record<string, number> = { Main: 0, High: 1, Professional: 2 };

/** The codec string ffprobe's view of the stream implies (profile, level; 8-bit 4:2:0 clips). */
function expectCodecStringMatches(codecString: string, probe: Probed): void {
  switch (probe.codec_name) {
    case 'hevc':
      expect(codecString).toMatch(new RegExp(`^hvc1\\.${HEVC_PROFILES[probe.profile!]}\\.[0-9A-F]+\\.L${probe.level}(\\.[0-9A-F]{2})*$`));
      return;
    case 'av1':
      expect(codecString).toBe(`av01.${AV1_PROFILES[probe.profile!]}.${String(probe.level).padStart(2, '0')}M.08`);
      return;
    case 'vp9':
      expect(codecString).toMatch(new RegExp(`^vp09\\.0${/\d/.exec(probe.profile!)![0]}\\.\\d{2}\\.08$`));
      return;
    default:
      throw new Error(`no codec string rule for ${probe.codec_name}`);
  }
}

const MODEL: Record<string, string> = { hevc: 'h265', av1: 'av1', vp9: 'vp9', opus: 'opus', aac: 'aac' };

describe('enhanced RTMP publish of real encoder output', () => {
  const cases: { name: string; clip: ClipOptions; tags: TagOptions }[] = [
    { name: 'hevc-opus', clip: { video: 'hevc', audio: 'opus', size: '642x362' }, tags: {} },
    { name: 'av1-aac', clip: { video: 'av1', audio: 'aac', size: '320x240' }, tags: { av1TemporalDelimiters: true, legacyAac: true } },
    { name: 'vp9-opus', clip: { video: 'vp9', audio: 'opus', size: '352x288' }, tags: {} },
    { name: 'hevc-aac-multitrack', clip: { video: 'hevc', audio: 'aac', size: '320x240' }, tags: { multitrack: 'many' } },
    { name: 'av1-multitrack-one', clip: { video: 'av1', size: '176x144' }, tags: { multitrack: 'one' } },
  ];

  for (const c of cases) {
    it(`${c.name}: the stream description matches ffprobe and every frame arrives intact`, async () => {
      const clip = await encodeClip(fx.dir, c.name, c.clip);
      const { streams } = await ffprobeJson<{ streams: Probed[] }>(['-show_streams', clip.file]);
      const tags = enhancedTags(clip, c.tags);
      const { frames, descriptions, status } = await publishAndRecord(c.name, clip, tags);
      expect(status).toMatchObject({ code: 'NetStream.Publish.Start' });
      const videoSamples = clip.video?.samples ?? [];
      const audioSamples = clip.audio?.samples ?? [];
      await until(() => frames.length >= videoSamples.length + audioSamples.length, `${videoSamples.length} video + ${audioSamples.length} audio frames (have ${frames.length})`);

      const desc = descriptions.at(-1)!;
      const probedVideo = streams.find((s) => s.codec_type === 'video');
      if (probedVideo !== undefined) {
        const v = desc.video!;
        expect(v.codec).toBe(MODEL[probedVideo.codec_name]);
        expect([v.width, v.height]).toEqual([probedVideo.width, probedVideo.height]);
        expectCodecStringMatches(v.codecString, probedVideo);
        const video = frames.filter((f) => f.kind === 'video');
        expect(video).toHaveLength(videoSamples.length);
        // The stream model's frame is the MP4 sample: NAL units as they were, AV1 without the delimiters the publisher added.
        video.forEach((f, i) => {
          expect(Buffer.from(f.data).equals(Buffer.from(videoSamples[i]!.data))).toBe(true);
          expect(f.key).toBe(videoSamples[i]!.sync);
        });
        const ts = clip.video!.timescale;
        const ms = (t: number) => Math.round((t * 1000) / ts);
        video.forEach((f, i) => expect(f.pts - f.dts).toBe((ms(videoSamples[i]!.pts) - ms(videoSamples[i]!.dts)) * 1000));
      }
      const probedAudio = streams.find((s) => s.codec_type === 'audio');
      if (probedAudio !== undefined) {
        const a = desc.audio!;
        expect(a.codec).toBe(MODEL[probedAudio.codec_name]);
        expect(a.channels).toBe(probedAudio.channels);
        expect(String(a.sampleRate)).toBe(probedAudio.sample_rate);
        expect(a.codecString).toBe(probedAudio.codec_name === 'opus' ? 'opus' : 'mp4a.40.2');
        const audio = frames.filter((f) => f.kind === 'audio');
        expect(audio).toHaveLength(audioSamples.length);
        audio.forEach((f, i) => expect(Buffer.from(f.data).equals(Buffer.from(audioSamples[i]!.data))).toBe(true));
      }
      if (c.tags.multitrack === 'many') {
        const ignored = fx.srv.logs.filter((l) => l.path === `ertmp/${c.name}` && typeof l.reason === 'string' && l.reason.includes('track 1 of the multitrack publish is ignored'));
        expect(ignored).toHaveLength(1);
      }
    }, 60_000);
  }

  it('ws-nal, which carries H.264 and AAC only, closes its viewer of an HEVC stream with the reason', async () => {
    const viewer = new NalClient(fx.srv.wsUrl('ertmp/hevc-opus'));
    const closed = await viewer.closed;
    expect(closed.code).toBe(1003);
    expect(closed.reason).toMatch(/^no track this transport carries: hvc1\.1\.6\.L\d+\.[0-9A-F.]+, opus$/);
  });
});

describe('hostile enhanced tags cost only their publisher', () => {
  const ascii = (s: string) => [...s].map((ch) => ch.charCodeAt(0));

  it('closes a publisher whose hvcC is garbage, naming it, while another publish carries on', async () => {
    const clip = await encodeClip(fx.dir, 'bystander', { video: 'vp9', size: '176x144', seconds: 2 });
    const bystander = await publishAndRecord('bystander', clip, enhancedTags(clip).slice(0, 10));
    await until(() => bystander.frames.length >= 9, 'the bystander frames');

    const garbage: RtmpTag = { type: MessageType.video, timestamp: 0, body: Uint8Array.from([0x90, ...ascii('hvc1'), 1, 0x01, 0x60, 0, 0, 0, 0xff]) };
    const bad = await publishAndRecord('garbage-hvcc', undefined, [garbage]);
    expect(await bad.client.closedByServer()).toBe(true);
    const closing = fx.srv.logs.find((l) => l.path === 'ertmp/garbage-hvcc' && l.msg === 'closing publisher');
    expect(closing?.reason).toMatch(/^invalid HEVC decoder configuration \(hvcC\): hvcC too short/);

    // The bystander's stream is still there and still takes frames.
    for (const tag of enhancedTags(clip).slice(10, 20)) bystander.client.media(tag.type, tag.timestamp, tag.body);
    await until(() => bystander.frames.length >= 19, 'more bystander frames');
    expect(fx.srv.server.paths.get('ertmp/bystander')?.stream?.ready).toBe(true);
  });

  it('drops a tag whose multitrack size is absurd, or that is truncated, and keeps the publish', async () => {
    const clip = await encodeClip(fx.dir, 'hostile-sizes', { video: 'hevc', size: '176x144' });
    const tags = enhancedTags(clip);
    const hostile: RtmpTag[] = [
      // ManyTracks, one track claiming 16 MiB.
      { type: MessageType.video, timestamp: 0, body: Uint8Array.from([0x96, 0x11, ...ascii('hvc1'), 0, 0xff, 0xff, 0xff, 1, 2, 3]) },
      // CodedFrames cut inside the FourCC.
      { type: MessageType.video, timestamp: 0, body: Uint8Array.from([0x91, ...ascii('hv')]) },
      // ModEx in its 16-bit size form, declaring 64 KiB the tag does not hold.
      { type: MessageType.video, timestamp: 0, body: Uint8Array.from([0x97, 0xff, 0xff, 0xff]) },
    ];
    const { frames, client } = await publishAndRecord('hostile-sizes', clip, [tags[0]!, ...hostile, ...tags.slice(1)]);
    await until(() => frames.length >= clip.video!.samples.length, 'every real frame');
    expect(client.closed).toBe(false);
    const reasons = fx.srv.logs.filter((l) => l.path === 'ertmp/hostile-sizes' && l.msg === 'ignoring a track Polycast cannot carry').map((l) => l.reason);
    expect(reasons).toEqual([
      'multitrack track 0 declares 16777215 byte(s), the tag holds 3',
      'enhanced-RTMP tag truncated in FourCC: need 4 byte(s) at offset 1, 2 left',
      'enhanced-RTMP tag truncated in ModEx data: need 65536 byte(s) at offset 4, 0 left',
    ]);
  });

  it('drops an AV1 temporal unit whose OBU declares 4 GiB, and keeps the publish', async () => {
    const clip = await encodeClip(fx.dir, 'hostile-obu', { video: 'av1', size: '176x144' });
    const tags = enhancedTags(clip);
    const overrun: RtmpTag = { type: MessageType.video, timestamp: 0, body: Uint8Array.from([0x91, ...ascii('av01'), 0x32, 0xff, 0xff, 0xff, 0xff, 0x0f]) };
    const { frames, client } = await publishAndRecord('hostile-obu', clip, [tags[0]!, tags[1]!, overrun, ...tags.slice(2)]);
    await until(() => frames.length >= clip.video!.samples.length, 'every real frame');
    expect(frames).toHaveLength(clip.video!.samples.length);
    expect(client.closed).toBe(false);
    const reasons = fx.srv.logs.filter((l) => l.path === 'ertmp/hostile-obu' && l.msg === 'ignoring a track Polycast cannot carry').map((l) => l.reason);
    expect(reasons).toEqual(['invalid AV1 temporal unit dropped: OBU of 4294967295 byte(s) overruns its buffer (0 left)']);
  });

  it('drops a VP9 "keyframe" whose header is broken, then starts the track at the real one', async () => {
    const clip = await encodeClip(fx.dir, 'hostile-vp9', { video: 'vp9', size: '176x144' });
    const tags = enhancedTags(clip);
    const broken: RtmpTag = { type: MessageType.video, timestamp: 0, body: Uint8Array.from([0x91, ...ascii('vp09'), 0x00, 0x01]) };
    const { frames, descriptions, client } = await publishAndRecord('hostile-vp9', clip, [tags[0]!, broken, ...tags.slice(1)]);
    await until(() => frames.length >= clip.video!.samples.length, 'every real frame');
    expect(frames).toHaveLength(clip.video!.samples.length);
    expect(descriptions.at(-1)?.video).toMatchObject({ codec: 'vp9', width: 176, height: 144 });
    expect(client.closed).toBe(false);
    const reasons = fx.srv.logs.filter((l) => l.path === 'ertmp/hostile-vp9' && l.msg === 'ignoring a track Polycast cannot carry').map((l) => l.reason);
    expect(reasons).toEqual(['VP9 frame dropped: VP9 frame_marker is not 2']);
  });

  it('re-describes a VP9 track when a keyframe states a new size under the same record', async () => {
    const big = await encodeClip(fx.dir, 'vp9-big', { video: 'vp9', size: '320x240', seconds: 0.4 });
    const small = await encodeClip(fx.dir, 'vp9-small', { video: 'vp9', size: '176x144', seconds: 0.4 });
    const first = enhancedTags(big);
    const endMs = first.at(-1)!.timestamp + 40;
    // The second clip's frames only: no new sequence start, the size comes from its first keyframe.
    const second = enhancedTags(small).slice(1).map((t) => ({ ...t, timestamp: t.timestamp + endMs }));
    const { frames, descriptions } = await publishAndRecord('vp9-resize', big, [...first, ...second]);
    await until(() => frames.length >= big.video!.samples.length + small.video!.samples.length, 'both clips');
    expect(descriptions.map((d) => [d.video?.width, d.video?.height])).toEqual([[320, 240], [176, 144]]);
  });

  it('refuses a publish whose every enhanced codec is one Polycast does not carry', async () => {
    const tags: RtmpTag[] = [
      { type: MessageType.video, timestamp: 0, body: Uint8Array.from([0x90, ...ascii('vp08'), 1, 2]) },
      { type: MessageType.audio, timestamp: 0, body: Uint8Array.from([0x90, ...ascii('ac-3'), 1, 2]) },
      { type: MessageType.video, timestamp: 40, body: Uint8Array.from([0x91, ...ascii('vp08'), 1, 2]) },
    ];
    const { client } = await publishAndRecord('vp8-ac3', undefined, tags);
    await client.until(() => client.statuses().length >= 2, 'the refusal');
    expect(client.statuses()[1]).toMatchObject({
      code: 'NetStream.Publish.Rejected',
      description: 'video codec VP8 (FourCC vp08) and audio codec AC-3 (FourCC ac-3) are not supported; Polycast carries H.264, HEVC, AV1 and VP9 video (the last three over enhanced RTMP) and AAC and Opus audio',
    });
  });
});
