/**
 * Turns a publisher's MPEG-TS into the stream model: the demuxer's PES
 * packets become tracks and frames. H.264 and HEVC arrive as Annex B access
 * units with their parameter sets in band; they leave as length-prefixed NAL
 * units with an avcC/hvcC built from those sets. AAC arrives as ADTS, Opus
 * behind its TS control headers.
 */
import { aacTrackInfo } from '../../codec/aac.js';
import { annexBToAvcc, buildAvcDecoderConfig, h264TrackInfo, NalType, OUT_OF_BAND_NAL_TYPES, splitAnnexB } from '../../codec/h264.js';
import { buildHevcDecoderConfig } from '../../codec/hevc-config-build.js';
import { h265TrackInfo, HEVC_OUT_OF_BAND_NAL_TYPES, hevcNalTypeOfByte, HevcNalType } from '../../codec/hevc.js';
import { opusPacketSamples } from '../../codec/opus.js';
import { splitAdts } from '../../protocols/mpegts/adts.js';
import { OPUS_REGISTRATION, splitOpusPackets } from '../../protocols/mpegts/opus-in-ts.js';
import type { ElementaryStreamInfo } from '../../protocols/mpegts/psi.js';
import { TsDemuxer, type PesPacket } from '../../protocols/mpegts/ts-demuxer.js';
import type { Path } from '../../stream/path.js';
import type { Stream } from '../../stream/stream.js';
import type { Frame, TrackInfo } from '../../stream/types.js';
import { opusTrackFromTs } from './opus-track.js';

export interface TsTapEvents {
  /** No elementary stream of the program can be carried: the publish is pointless. */
  refuse(reason: string): void;
  /** A stream or a unit Polycast leaves out (reported once per reason). */
  ignored(reason: string): void;
  /** Damage the demuxer dropped (continuity gaps, bad sections): counted, logged sparingly. */
  problem(reason: string): void;
}

export const StreamType = { aacAdts: 0x0f, h264: 0x1b, hevc: 0x24, privateData: 0x06 } as const;

type Codec = 'h264' | 'h265' | 'aac' | 'opus';

/** IRAP pictures (BLA, IDR, CRA: types 16–23) are where a decoder may start. */
const HEVC_IRAP_FIRST = 16;
const HEVC_IRAP_LAST = 23;
/** 33-bit 90 kHz timestamps wrap every 26.5 hours. */
const PTS_WRAP = 2 ** 33;
/**
 * Frames start one second after the first timestamp seen, so a track whose
 * first decode time is a little earlier than another's (B-frames, audio
 * leading) still starts at a positive time.
 */
const START_MARGIN_US = 1_000_000;
/**
 * Readers are described once, when media starts to flow, so frames are held
 * until every stream of the program has given its configuration (TS repeats
 * parameter sets only at keyframes), but no longer than this much media or
 * this many frames: a stream that never configures must not stall the others.
 */
const MAX_HOLD_US = 2_000_000;
const MAX_HOLD_FRAMES = 400;

const wallClockMs = (): number => performance.timeOrigin + performance.now();

export interface TsTap {
  push(bytes: Uint8Array): void;
  /** Frames delivered so far, for the log line at the end. */
  readonly frames: number;
}

function codecOf(info: ElementaryStreamInfo): Codec | string {
  switch (info.streamType) {
    case StreamType.h264:
      return 'h264';
    case StreamType.hevc:
      return 'h265';
    case StreamType.aacAdts:
      return 'aac';
    case StreamType.privateData:
      if (info.registration === OPUS_REGISTRATION) return 'opus';
      return `private data stream${info.registration !== undefined ? ` '${info.registration}'` : ''}`;
    default:
      return STREAM_TYPE_NAMES[info.streamType] ?? `stream type 0x${info.streamType.toString(16).padStart(2, '0')}`;
  }
}

const STREAM_TYPE_NAMES: Readonly<Record<number, string>> = {
  0x01: 'MPEG-1 video',
  0x02: 'MPEG-2 video',
  0x03: 'MPEG-1 audio',
  0x04: 'MPEG-2 audio',
  0x10: 'MPEG-4 Part 2 video',
  0x11: 'AAC in LATM',
  0x81: 'AC-3',
  0x87: 'E-AC-3',
};

export function createTsTap(path: Path, stream: Stream, events: TsTapEvents): TsTap {
  const reported = new Set<string>();
  const once = (reason: string) => {
    if (reported.has(reason)) return;
    reported.add(reason);
    events.ignored(reason);
  };
  /** The one video and one audio stream carried: the first of each kind the PMT lists. */
  const chosen = new Map<number, { codec: Codec; info: ElementaryStreamInfo }>();
  const sets = { vps: [] as Uint8Array[], sps: [] as Uint8Array[], pps: [] as Uint8Array[] };
  let base: number | undefined;
  const lastUnwrapped = new Map<number, number>();
  let frames = 0;
  /** Streams whose track is set. */
  const described = new Set<number>();
  /** Frames waiting for the other streams' configurations; null once flowing. */
  let held: Frame[] | null = [];

  const toUs = (pid: number, ts: number): number => {
    base ??= ts;
    const previous = lastUnwrapped.get(pid) ?? base;
    const unwrapped = ts + Math.round((previous - ts) / PTS_WRAP) * PTS_WRAP;
    lastUnwrapped.set(pid, unwrapped);
    return Math.round(((unwrapped - base) * 100) / 9) + START_MARGIN_US;
  };

  const write = (frame: Frame) => {
    frames++;
    if (held === null) {
      if (stream.write(frame)) path.markReady(stream);
      return;
    }
    held.push(frame);
    const waited = frame.dts - held[0]!.dts;
    if (described.size < chosen.size && waited < MAX_HOLD_US && held.length < MAX_HOLD_FRAMES) return;
    if (described.size < chosen.size) {
      const missing = [...chosen].filter(([pid]) => !described.has(pid)).map(([pid, c]) => `${c.codec} (PID ${pid})`);
      once(`${missing.join(', ')} sent no usable configuration in time: going on without it`);
    }
    const release = held;
    held = null;
    for (const f of release) if (stream.write(f)) path.markReady(stream);
  };

  const setTrack = (pid: number, make: () => TrackInfo, what: string): boolean => {
    try {
      stream.setTrack(make());
      described.add(pid);
      return true;
    } catch (err) {
      once(`invalid ${what}: ${(err as Error).message}`);
      return false;
    }
  };

  const video = (codec: 'h264' | 'h265', pes: PesPacket) => {
    const nals = splitAnnexB(pes.data);
    const type = codec === 'h264' ? (n: Uint8Array) => n[0]! & 0x1f : (n: Uint8Array) => (n[0]! >> 1) & 0x3f;
    const found = { vps: [] as Uint8Array[], sps: [] as Uint8Array[], pps: [] as Uint8Array[] };
    let key = false;
    for (const nal of nals) {
      if (nal.length === 0) continue;
      const t = type(nal);
      if (codec === 'h264') {
        if (t === NalType.sps) found.sps.push(nal);
        else if (t === NalType.pps) found.pps.push(nal);
        else if (t === NalType.idr) key = true;
      } else {
        if (t === HevcNalType.vps) found.vps.push(nal);
        else if (t === HevcNalType.sps) found.sps.push(nal);
        else if (t === HevcNalType.pps) found.pps.push(nal);
        else if (t >= HEVC_IRAP_FIRST && t <= HEVC_IRAP_LAST) key = true;
      }
    }
    if (found.sps.length > 0 && found.pps.length > 0 && (codec === 'h264' || found.vps.length > 0) && changed(sets, found)) {
      const ok =
        codec === 'h264'
          ? setTrack(pes.pid, () => h264TrackInfo(buildAvcDecoderConfig(found.sps, found.pps)), 'H.264 parameter sets')
          : setTrack(pes.pid, () => h265TrackInfo(buildHevcDecoderConfig(found.vps, found.sps, found.pps)), 'HEVC parameter sets');
      if (ok) Object.assign(sets, copySets(found));
    }
    if (stream.description.video === undefined || pes.dts === undefined) return;
    const data = codec === 'h264' ? annexBToAvcc(pes.data, 4, OUT_OF_BAND_NAL_TYPES) : annexBToAvcc(pes.data, 4, HEVC_OUT_OF_BAND_NAL_TYPES, hevcNalTypeOfByte);
    if (data.length === 0) return;
    write({ kind: 'video', dts: toUs(pes.pid, pes.dts), pts: toUs(pes.pid, pes.pts ?? pes.dts), key, data, receivedAt: wallClockMs() });
  };

  const aac = (pes: PesPacket) => {
    const { frames: adts, problem } = splitAdts(pes.data);
    if (problem !== undefined) events.problem(problem);
    if (pes.pts === undefined) return;
    let at = toUs(pes.pid, pes.pts);
    for (const f of adts) {
      const current = stream.description.audio;
      if ((current?.codec !== 'aac' || !same(current.asc, f.asc)) && !setTrack(pes.pid, () => aacTrackInfo(f.asc), 'AAC configuration')) return;
      write({ kind: 'audio', dts: at, pts: at, key: true, data: f.data, receivedAt: wallClockMs() });
      at += Math.round((1024 * 1_000_000) / f.sampleRate);
    }
  };

  const opus = (pes: PesPacket, info: ElementaryStreamInfo) => {
    const { packets, problem } = splitOpusPackets(pes.data);
    if (problem !== undefined) events.problem(problem);
    if (pes.pts === undefined) return;
    if (stream.description.audio === undefined) {
      const track = opusTrackFromTs(info);
      if (typeof track === 'string') return once(track);
      if (!setTrack(pes.pid, () => track, 'Opus configuration')) return;
    }
    let at = toUs(pes.pid, pes.pts);
    for (const data of packets) {
      let samples: number;
      try {
        samples = opusPacketSamples(data);
      } catch (err) {
        events.problem(`Opus packet: ${(err as Error).message}`);
        continue;
      }
      write({ kind: 'audio', dts: at, pts: at, key: true, data, receivedAt: wallClockMs() });
      at += Math.round((samples * 1_000_000) / 48_000);
    }
  };

  const demuxer = new TsDemuxer({
    program(streams) {
      chosen.clear();
      described.clear();
      let videoPid: number | undefined;
      let audioPid: number | undefined;
      const refused: string[] = [];
      for (const info of streams) {
        const codec = codecOf(info);
        if (codec !== 'h264' && codec !== 'h265' && codec !== 'aac' && codec !== 'opus') {
          refused.push(codec);
          once(`${codec} (PID ${info.pid}) is not carried: Polycast takes H.264, HEVC, AAC and Opus from MPEG-TS`);
          continue;
        }
        const isVideo = codec === 'h264' || codec === 'h265';
        if (isVideo ? videoPid !== undefined : audioPid !== undefined) {
          once(`a second ${isVideo ? 'video' : 'audio'} stream (PID ${info.pid}) is left out: one of each is carried`);
          continue;
        }
        if (isVideo) videoPid = info.pid;
        else audioPid = info.pid;
        chosen.set(info.pid, { codec, info });
      }
      if (chosen.size === 0) events.refuse(`no stream Polycast can carry (${refused.join(', ') || 'the program is empty'})`);
      return [...chosen.keys()];
    },
    pes(pes) {
      const c = chosen.get(pes.pid);
      if (c === undefined) return;
      switch (c.codec) {
        case 'h264':
        case 'h265':
          return video(c.codec, pes);
        case 'aac':
          return aac(pes);
        case 'opus':
          return opus(pes, c.info);
      }
    },
    problem: (reason) => events.problem(reason),
  });

  return {
    push: (bytes) => demuxer.push(bytes),
    get frames() {
      return frames;
    },
  };
}

type Sets = { vps: Uint8Array[]; sps: Uint8Array[]; pps: Uint8Array[] };

function changed(current: Sets, found: Sets): boolean {
  const differ = (a: Uint8Array[], b: Uint8Array[]) => b.length > 0 && (a.length !== b.length || a.some((x, i) => !same(x, b[i]!)));
  return differ(current.vps, found.vps) || differ(current.sps, found.sps) || differ(current.pps, found.pps);
}

/** Parameter sets are views into a PES the frame will not keep. */
function copySets(s: Sets): Sets {
  return { vps: s.vps.map((n) => n.slice()), sps: s.sps.map((n) => n.slice()), pps: s.pps.map((n) => n.slice()) };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
