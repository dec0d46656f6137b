/**
 * An Enhanced RTMP publisher for tests. Debian's ffmpeg 5.1 cannot write
 * enhanced FLV, so ffmpeg encodes a short clip (libx265, libsvtav1,
 * libvpx-vp9, libopus, aac) into MP4, and this wraps its samples in enhanced
 * RTMP tags (veovera enhanced-rtmp v2) sent over a real RTMP connection by
 * the repo's test client (the stack's own chunk writer).
 *
 * MP4 is the elementary source because it is what ffmpeg hands out with the
 * encoder's configuration records already in ISO form (hvcC, av1C, vpcC,
 * dOps), which is also how real enhanced-RTMP writers (ffmpeg's flvenc, OBS)
 * derive their sequence starts; and its samples are the frame formats the
 * specification prescribes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { opusHeadFromDops } from '../../src/codec/opus.js';
import { encodeAmf0 } from '../../src/protocols/rtmp/amf0.js';
import { MessageType } from '../../src/protocols/rtmp/chunk-reader.js';
import { ffmpeg } from '../codec/helpers.js';
import { TestRtmpClient } from '../rtmp/client.js';
import { mp4Track, readMp4, type Mp4Track } from './mp4-file.js';

export type ClipVideo = 'hevc' | 'av1' | 'vp9' | 'h264';
export type ClipAudio = 'opus' | 'aac';

export interface ClipOptions {
  readonly video?: ClipVideo;
  readonly audio?: ClipAudio;
  /** `WxH`, default 320x240. */
  readonly size?: string;
  readonly seconds?: number;
  readonly rate?: number;
}

export interface Clip {
  readonly file: string;
  readonly video?: Mp4Track;
  readonly audio?: Mp4Track;
}

const VIDEO_ENCODERS: Readonly<Record<ClipVideo, string[]>> = {
  hevc: ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error:bframes=2', '-tag:v', 'hvc1'],
  av1: ['-c:v', 'libsvtav1', '-preset', '12'],
  vp9: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8'],
  h264: ['-c:v', 'libx264', '-preset', 'ultrafast'],
};
const AUDIO_ENCODERS: Readonly<Record<ClipAudio, string[]>> = {
  opus: ['-c:a', 'libopus', '-b:a', '64k'],
  aac: ['-c:a', 'aac', '-b:a', '64k'],
};

/** Encodes a test pattern and/or tone into `dir/name.mp4` and reads its tracks. */
export async function encodeClip(dir: string, name: string, o: ClipOptions): Promise<Clip> {
  const file = join(dir, `${name}.mp4`);
  const seconds = String(o.seconds ?? 1);
  const rate = o.rate ?? 25;
  const args: string[] = [];
  if (o.video) args.push('-f', 'lavfi', '-i', `testsrc=size=${o.size ?? '320x240'}:rate=${rate}`);
  if (o.audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  args.push('-t', seconds);
  if (o.video) args.push('-pix_fmt', 'yuv420p', '-g', String(rate), ...VIDEO_ENCODERS[o.video]);
  if (o.audio) args.push('-ac', '2', ...AUDIO_ENCODERS[o.audio]);
  await ffmpeg([...args, file]);
  const bytes = new Uint8Array(await readFile(file));
  const tracks = readMp4(bytes);
  return {
    file,
    ...(o.video ? { video: mp4Track(bytes, 'vide') } : {}),
    ...(o.audio ? { audio: tracks.find((t) => t.handler === 'soun')! } : {}),
  };
}

export interface RtmpTag {
  readonly type: typeof MessageType.audio | typeof MessageType.video;
  readonly timestamp: number;
  readonly body: Uint8Array;
}

const FOURCC: Readonly<Record<string, string>> = { hvc1: 'hvc1', av01: 'av01', vp09: 'vp09', avc1: 'avc1', Opus: 'Opus', mp4a: 'mp4a' };
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/** The AudioSpecificConfig inside an esds box payload (its DecoderSpecificInfo, tag 5). */
export function ascOfEsds(esds: Uint8Array): Uint8Array {
  // Descriptors nest (ES 3 > DecoderConfig 4 > DecoderSpecificInfo 5); scanning for tag 5 with a sane length finds it.
  for (let i = 4; i < esds.length - 2; i++) {
    if (esds[i] !== 5) continue;
    let len = 0;
    let p = i + 1;
    for (let k = 0; k < 4; k++) {
      const b = esds[p++]!;
      len = (len << 7) | (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    if (len >= 2 && len <= 8 && p + len <= esds.length) return esds.slice(p, p + len);
  }
  throw new Error('esds holds no AudioSpecificConfig');
}

export interface TagOptions {
  /** Video through v2 multitrack: `one` (track 0 alone) or `many` (track 0 plus a copy as track 1, which must be ignored). */
  readonly multitrack?: 'one' | 'many';
  /** Prepend a temporal delimiter OBU to each AV1 frame, as encoders emit them. */
  readonly av1TemporalDelimiters?: boolean;
  /** AAC through the legacy FLV header (as OBS sends it beside enhanced video) instead of FourCC mp4a. */
  readonly legacyAac?: boolean;
}

const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

function videoHeader(fourCC: string, frameType: number, packetType: number, o: TagOptions, payloads: Uint8Array[]): Uint8Array {
  if (o.multitrack === undefined) return Uint8Array.from([0x80 | (frameType << 4) | packetType, ...ascii(fourCC), ...payloads[0]!]);
  if (o.multitrack === 'one') return Uint8Array.from([0x80 | (frameType << 4) | 6, (0 << 4) | packetType, ...ascii(fourCC), 0, ...payloads[0]!]);
  // ManyTracks: the ignored track first, so "track 0" is not simply "the first".
  const tracks = [1, 0].flatMap((id) => [id, ...u24(payloads[0]!.length), ...payloads[0]!]);
  return Uint8Array.from([0x80 | (frameType << 4) | 6, (1 << 4) | packetType, ...ascii(fourCC), ...tracks]);
}

const TEMPORAL_DELIMITER = Uint8Array.of(0x12, 0x00);

/** Every sample of the clip as enhanced RTMP tags, sequence starts first, in decode order (ms). */
export function enhancedTags(clip: Clip, o: TagOptions = {}): RtmpTag[] {
  const tags: (RtmpTag & { order: number })[] = [];
  const v = clip.video;
  if (v !== undefined) {
    const fourCC = FOURCC[v.sampleEntry]!;
    let config: Uint8Array;
    if (fourCC === 'hvc1') config = v.configs.get('hvcC')!;
    else if (fourCC === 'av01') config = v.configs.get('av1C')!;
    else if (fourCC === 'avc1') config = v.configs.get('avcC')!;
    // ffmpeg's flvenc sends the record without the FullBox version and flags.
    else config = v.configs.get('vpcC')!.subarray(4);
    tags.push({ type: MessageType.video, timestamp: 0, body: videoHeader(fourCC, 1, 0, o, [config]), order: 0 });
    const ms = (t: number) => Math.round((t * 1000) / v.timescale);
    v.samples.forEach((s, i) => {
      const frameType = s.sync ? 1 : 2;
      const cto = ms(s.pts) - ms(s.dts);
      let data = s.data;
      if (fourCC === 'av01' && o.av1TemporalDelimiters) data = Uint8Array.from([...TEMPORAL_DELIMITER, ...data]);
      // NAL-unit codecs: CodedFrames with the composition offset, CodedFramesX when it is zero (both forms exercised).
      const body = (fourCC === 'hvc1' || fourCC === 'avc1') && cto !== 0
        ? videoHeader(fourCC, frameType, 1, o, [Uint8Array.from([...u24(cto), ...data])])
        : videoHeader(fourCC, frameType, fourCC === 'hvc1' || fourCC === 'avc1' ? 3 : 1, o, [data]);
      tags.push({ type: MessageType.video, timestamp: ms(s.dts), body, order: 2 * i + 1 });
    });
  }
  const a = clip.audio;
  if (a !== undefined) {
    const ms = (t: number) => Math.round((t * 1000) / a.timescale);
    if (a.sampleEntry === 'Opus') {
      tags.push({ type: MessageType.audio, timestamp: 0, body: Uint8Array.from([0x90, ...ascii('Opus'), ...opusHeadFromDops(a.configs.get('dOps')!)]), order: 0 });
      for (const s of a.samples) tags.push({ type: MessageType.audio, timestamp: ms(s.dts), body: Uint8Array.from([0x91, ...ascii('Opus'), ...s.data]), order: 1 });
    } else {
      const asc = ascOfEsds(a.configs.get('esds')!);
      const header = (packetType: number) => (o.legacyAac ? [0xaf, packetType] : [0x90 | packetType, ...ascii('mp4a')]);
      tags.push({ type: MessageType.audio, timestamp: 0, body: Uint8Array.from([...header(0), ...asc]), order: 0 });
      for (const s of a.samples) tags.push({ type: MessageType.audio, timestamp: ms(s.dts), body: Uint8Array.from([...header(1), ...s.data]), order: 1 });
    }
  }
  // Stable by time: configurations (order 0) lead, then media interleaved by decode time.
  return tags
    .map((t, i) => ({ t, i }))
    .sort((x, y) => (x.t.order === 0 ? -1 : 0) - (y.t.order === 0 ? -1 : 0) || x.t.timestamp - y.t.timestamp || x.i - y.i)
    .map(({ t }) => ({ type: t.type, timestamp: t.timestamp, body: t.body }));
}

/** onMetaData as enhanced-RTMP encoders send it: codec ids as FourCC numbers. */
function metadata(clip: Clip): Uint8Array {
  const fourCCNumber = (s: string) => ascii(s).reduce((n, c) => n * 256 + c, 0);
  const props: Record<string, number> = {};
  if (clip.video) props['videocodecid'] = fourCCNumber(FOURCC[clip.video.sampleEntry]!);
  if (clip.audio) props['audiocodecid'] = clip.audio.sampleEntry === 'Opus' ? fourCCNumber('Opus') : 10;
  return encodeAmf0('@setDataFrame', 'onMetaData', props);
}

export interface PublishedClip {
  readonly client: TestRtmpClient;
  /** The publish's onStatus info. */
  readonly status: Record<string, unknown>;
}

export interface PublishOptions {
  /** Runs between the publish and the first tag. */
  readonly beforeMedia?: () => void;
  /** Send each tag at its timestamp, as a live encoder would, instead of all at once. */
  readonly paced?: boolean;
}

/** Connects to the server, publishes `app/name` and sends the tags. */
export async function publishTags(port: number, app: string, name: string, clip: Clip | undefined, tags: readonly RtmpTag[], o: PublishOptions = {}): Promise<PublishedClip> {
  const client = await TestRtmpClient.connect(port);
  await client.handshake();
  const status = await client.publish(app, name);
  o.beforeMedia?.();
  if (clip !== undefined) client.send({ csid: 5, type: MessageType.dataAmf0, streamId: 1, timestamp: 0, payload: metadata(clip) });
  const start = performance.now();
  for (const tag of tags) {
    const wait = start + tag.timestamp - performance.now();
    if (o.paced && wait > 0) await new Promise((r) => setTimeout(r, wait));
    client.media(tag.type, tag.timestamp, tag.body);
  }
  return { client, status };
}
