/**
 * One media track of a `moqt://` origin: its catalog entry turned into the
 * stream model's track (decoder configuration record included), and its LOC
 * objects into frames. Two publishers are expected:
 *
 * - Polycast: `avc1`/`hvc1`/`av01` with the configuration record in
 *   `initData`, no parameter sets in band, a video group per GOP, LOC
 *   timestamps in microseconds (TIMESCALE 1 000 000 from draft 17);
 * - MediaMTX: `avc3`/`hev1` with the parameter sets in band in every
 *   keyframe (the record is built from them here and they are taken out of
 *   the frames, as every ingest keeps them in the track), one object per
 *   subgroup, LOC timestamps in the track's clock rate (90 kHz video, the
 *   sample rate for audio).
 *
 * Every problem is a `LocTrackError` with the reason; the pull connection
 * ends with it.
 */
import { aacTrackInfo } from '../../codec/aac.js';
import { av1TrackInfo, hasSequenceHeader, stripTemporalDelimiters } from '../../codec/av1.js';
import { buildAvcDecoderConfig, forEachNal, h264TrackInfo, NalType } from '../../codec/h264.js';
import { buildHevcDecoderConfig } from '../../codec/hevc-config-build.js';
import { h265TrackInfo, HevcNalType, hevcNalTypeOfByte } from '../../codec/hevc.js';
import { opusTrackInfo } from '../../codec/opus.js';
import { parseVp9Keyframe, vp9TrackInfo } from '../../codec/vp9.js';
import type { CatalogMediaTrack } from '../../protocols/moqt/msf.js';
import type { TrackInfo } from '../../stream/types.js';

export class LocTrackError extends Error {
  override readonly name = 'LocTrackError';
}

export interface LocFrame {
  readonly data: Uint8Array;
  readonly key: boolean;
  /** µs */
  readonly pts: number;
  /** The track's configuration changed with this frame (new in-band parameter sets). */
  readonly configChanged: boolean;
}

const H264_PARAMETER_SETS: ReadonlySet<number> = new Set([NalType.sps, NalType.pps]);
const HEVC_PARAMETER_SETS: ReadonlySet<number> = new Set([HevcNalType.vps, HevcNalType.sps, HevcNalType.pps]);
/** HEVC IRAP pictures: BLA, IDR, CRA (and the reserved IRAP types). */
const HEVC_IRAP_FIRST = 16;
const HEVC_IRAP_LAST = 23;
const NAL_LENGTH = 4;

export class LocTrack {
  private current: TrackInfo | undefined;
  private readonly kind: 'h264' | 'h265' | 'av1' | 'vp9' | 'aac' | 'opus';
  /** Parameter sets travel in band (avc3/hev1, or no record in the catalog). */
  private readonly inBand: boolean;
  private readonly vpcC: Uint8Array | undefined;

  constructor(
    readonly entry: CatalogMediaTrack,
    /** LOC timestamp units per second. */
    readonly timescale: number,
    /** Video keyframes are the first object of each group (Polycast's groups are GOPs); otherwise the bitstream says. */
    private readonly groupIsGop: boolean,
  ) {
    const c = entry.codec;
    this.kind = c.startsWith('avc') ? 'h264' : c.startsWith('hvc1') || c.startsWith('hev1') ? 'h265' : c.startsWith('av01') ? 'av1' : c.startsWith('vp09') ? 'vp9' : c === 'opus' ? 'opus' : 'aac';
    this.inBand = (this.kind === 'h264' || this.kind === 'h265') && (c.startsWith('avc3') || c.startsWith('hev1') || entry.initData === undefined);
    try {
      switch (this.kind) {
        case 'h264':
          if (entry.initData !== undefined) this.current = h264TrackInfo(entry.initData);
          break;
        case 'h265':
          if (entry.initData !== undefined) this.current = h265TrackInfo(entry.initData);
          break;
        case 'av1':
          if (entry.initData === undefined) throw new LocTrackError(`AV1 track '${entry.name}' has no initData (av1C): Polycast needs the record from the catalog`);
          this.current = av1TrackInfo(entry.initData);
          break;
        case 'vp9':
          // Polycast's and MediaMTX's catalogs carry none; the codec string has what a vpcC needs but the size, which the first keyframe gives.
          this.vpcC = entry.initData ?? vpcCOfCodecString(c);
          break;
        case 'aac':
          this.current = aacTrackInfo(entry.initData ?? aacLcConfig(entry));
          break;
        case 'opus':
          this.current = opusTrackInfo(entry.initData ?? opusHead(entry.channels ?? 2));
          break;
      }
    } catch (err) {
      if (err instanceof LocTrackError) throw err;
      throw new LocTrackError(`track '${entry.name}' (${c}): unusable configuration: ${(err as Error).message}`);
    }
  }

  get info(): TrackInfo | undefined {
    return this.current;
  }

  get role(): 'video' | 'audio' {
    return this.entry.role;
  }

  /** A LOC object as a frame; undefined when it cannot be used yet (video before the first keyframe that describes the track). */
  frame(payload: Uint8Array, timestamp: number, firstOfGroup: boolean): LocFrame | undefined {
    const pts = Math.round((timestamp * 1_000_000) / this.timescale);
    if (!Number.isSafeInteger(pts)) throw new LocTrackError(`track '${this.entry.name}': timestamp ${timestamp} out of range`);
    try {
      switch (this.kind) {
        case 'aac':
        case 'opus':
          return { data: payload, key: true, pts, configChanged: false };
        case 'h264':
        case 'h265':
          return this.nalFrame(payload, pts, firstOfGroup);
        case 'av1': {
          const data = stripTemporalDelimiters(payload);
          const key = this.groupIsGop ? firstOfGroup : hasSequenceHeader(data);
          return { data: data === payload ? payload : data.slice(), key, pts, configChanged: false };
        }
        case 'vp9': {
          const keyframe = parseVp9Keyframe(payload) !== undefined;
          let configChanged = false;
          if (keyframe && this.current === undefined) {
            this.current = vp9TrackInfo(this.vpcC!, payload);
            configChanged = true;
          }
          if (this.current === undefined) return undefined;
          return { data: payload, key: this.groupIsGop ? firstOfGroup : keyframe, pts, configChanged };
        }
      }
    } catch (err) {
      if (err instanceof LocTrackError) throw err;
      throw new LocTrackError(`track '${this.entry.name}': ${(err as Error).message}`);
    }
  }

  private nalFrame(payload: Uint8Array, pts: number, firstOfGroup: boolean): LocFrame | undefined {
    const h264 = this.kind === 'h264';
    const typeOf = h264 ? (b: number) => b & 0x1f : hevcNalTypeOfByte;
    const lengthSize = this.current !== undefined && 'nalLengthSize' in this.current ? this.current.nalLengthSize : NAL_LENGTH;
    const vps: Uint8Array[] = [];
    const sps: Uint8Array[] = [];
    const pps: Uint8Array[] = [];
    let irap = false;
    let parameterSets = 0;
    forEachNal(payload, lengthSize, (nal) => {
      const type = typeOf(nal[0]!);
      if (h264) {
        if (type === NalType.sps) sps.push(nal.slice());
        else if (type === NalType.pps) pps.push(nal.slice());
        else if (type === NalType.idr) irap = true;
      } else if (type === HevcNalType.vps) vps.push(nal.slice());
      else if (type === HevcNalType.sps) sps.push(nal.slice());
      else if (type === HevcNalType.pps) pps.push(nal.slice());
      else if (type >= HEVC_IRAP_FIRST && type <= HEVC_IRAP_LAST) irap = true;
      if ((h264 ? H264_PARAMETER_SETS : HEVC_PARAMETER_SETS).has(type)) parameterSets++;
    });
    let configChanged = false;
    if (this.inBand && sps.length > 0 && pps.length > 0 && (h264 || vps.length > 0)) {
      const record = h264 ? buildAvcDecoderConfig(sps, pps, NAL_LENGTH) : buildHevcDecoderConfig(vps, sps, pps);
      const known = this.current === undefined ? undefined : h264 ? (this.current as { avcC: Uint8Array }).avcC : (this.current as { hvcC: Uint8Array }).hvcC;
      if (known === undefined || !sameBytes(known, record)) {
        this.current = h264 ? h264TrackInfo(record) : h265TrackInfo(record);
        configChanged = true;
      }
    }
    if (this.current === undefined) return undefined;
    const key = this.groupIsGop ? firstOfGroup : irap;
    // In-band parameter sets go: the stream model keeps them in the track, as every ingest does.
    const data = this.inBand && parameterSets > 0 ? withoutNals(payload, lengthSize, h264 ? H264_PARAMETER_SETS : HEVC_PARAMETER_SETS, typeOf) : payload;
    return { data, key, pts, configChanged };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}

/** A length-prefixed access unit without the NAL units of `types`. */
function withoutNals(data: Uint8Array, lengthSize: number, types: ReadonlySet<number>, typeOf: (b: number) => number): Uint8Array {
  const keep: Uint8Array[] = [];
  forEachNal(data, lengthSize, (nal) => {
    if (!types.has(typeOf(nal[0]!))) keep.push(nal);
  });
  const out = new Uint8Array(keep.reduce((n, nal) => n + lengthSize + nal.byteLength, 0));
  let p = 0;
  for (const nal of keep) {
    for (let i = lengthSize - 1; i >= 0; i--) out[p + lengthSize - 1 - i] = (nal.byteLength >>> (8 * i)) & 0xff;
    out.set(nal, p + lengthSize);
    p += lengthSize + nal.byteLength;
  }
  return out;
}

/** A VPCodecConfigurationRecord from `vp09.PP.LL.DD[.CC.cp.tc.mc.FF]` (VP9 ISO binding §3, the codec string's defaults for what it leaves out). */
function vpcCOfCodecString(codec: string): Uint8Array {
  const parts = codec.split('.').slice(1).map((p) => Number.parseInt(p, 10));
  if (parts.length < 3 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new LocTrackError(`VP9 codec string '${codec.slice(0, 40)}' is malformed`);
  const [profile, level, bitDepth, chroma = 1, primaries = 1, transfer = 1, matrix = 1, fullRange = 0] = parts as [number, number, number, ...number[]];
  return Uint8Array.of(profile, level, (bitDepth << 4) | ((chroma & 7) << 1) | (fullRange & 1), primaries, transfer, matrix, 0, 0);
}

const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** An AAC-LC AudioSpecificConfig from the catalog's sample rate and channels, for a catalog without initData. */
function aacLcConfig(t: CatalogMediaTrack): Uint8Array {
  const index = AAC_RATES.indexOf(t.samplerate ?? 0);
  const channels = t.channels ?? 0;
  if (index < 0 || channels < 1 || channels > 7) throw new LocTrackError(`AAC track '${t.name}' has no initData and no usable samplerate/channels`);
  return Uint8Array.of((2 << 3) | (index >> 1), ((index & 1) << 7) | (channels << 3));
}

/** An OpusHead (RFC 7845 §5.1) for a catalog without initData: mapping family 0, no pre-skip or gain. */
function opusHead(channels: number): Uint8Array {
  if (channels < 1 || channels > 2) throw new LocTrackError(`Opus with ${channels} channels needs initData (a channel mapping)`);
  const head = new Uint8Array(19);
  head.set(new TextEncoder().encode('OpusHead'));
  head[8] = 1;
  head[9] = channels;
  new DataView(head.buffer).setUint32(12, 48000, true);
  return head;
}
