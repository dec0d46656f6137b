/**
 * The catalog of a Polycast path in the MOQT Streaming Format
 * (draft-ietf-moq-msf): a JSON document on the track `catalog` listing the
 * media tracks, each packaged in LOC (draft-ietf-moq-loc: every object is
 * one raw coded frame, its timestamp an object property).
 */
import { avcCodecString } from '../../codec/h264.js';
import { hevcCodecString, parseHevcDecoderConfig } from '../../codec/hevc.js';
import { webCodecsDescription } from '../../codec/webcodecs-description.js';
import type { AudioTrackInfo, StreamDescription, TrackInfo, VideoTrackInfo } from '../../stream/types.js';

export const CATALOG_TRACK = 'catalog';
export const VIDEO_TRACK = 'video';
export const AUDIO_TRACK = 'audio';
export type MoqtTrackName = typeof CATALOG_TRACK | typeof VIDEO_TRACK | typeof AUDIO_TRACK;

export function isMoqtTrackName(name: string): name is MoqtTrackName {
  return name === CATALOG_TRACK || name === VIDEO_TRACK || name === AUDIO_TRACK;
}

export interface MsfTrack {
  name: string;
  packaging: 'loc';
  isLive: true;
  role: 'video' | 'audio';
  /** Tracks to be rendered together share a render group: Polycast has one rendition of each kind. */
  renderGroup: 1;
  codec: string;
  /** The decoder configuration record (avcC, hvcC, av1C, AudioSpecificConfig, OpusHead), base64: the WebCodecs `description`. */
  initData?: string;
  width?: number;
  height?: number;
  samplerate?: number;
  /** MSF gives the channel configuration as a string. */
  channelConfig?: string;
}

export interface MsfCatalog {
  version: 1;
  tracks: MsfTrack[];
}

function initDataOf(track: TrackInfo): { initData?: string } {
  const description = webCodecsDescription(track);
  return description === undefined ? {} : { initData: Buffer.from(description).toString('base64') };
}

export function buildMsfCatalog(desc: StreamDescription): MsfCatalog {
  const tracks: MsfTrack[] = [];
  const { video, audio } = desc;
  if (video !== undefined) {
    tracks.push({
      name: VIDEO_TRACK,
      packaging: 'loc',
      isLive: true,
      role: 'video',
      renderGroup: 1,
      codec: video.codecString,
      ...initDataOf(video),
      width: video.width,
      height: video.height,
    });
  }
  if (audio !== undefined) {
    tracks.push({
      name: AUDIO_TRACK,
      packaging: 'loc',
      isLive: true,
      role: 'audio',
      renderGroup: 1,
      codec: audio.codecString,
      ...initDataOf(audio),
      samplerate: audio.sampleRate,
      channelConfig: String(audio.channels),
    });
  }
  return { version: 1, tracks };
}

// ---- the catalog MediaMTX's clients read ----

/** MediaMTX's catalog track: what its `moqt://` source and its reader page take. */
export const MEDIAMTX_CATALOG_TRACK = '.catalog';

export interface MediaMtxTrack {
  /** The track's index in the catalog, as MediaMTX names its tracks. */
  name: string;
  packaging: 'loc';
  isLive: true;
  codec: string;
  /** AV1's av1C, AAC's AudioSpecificConfig, Opus's OpusHead; none for H.264, HEVC (in band) and VP9. */
  initData?: string;
  width?: number;
  height?: number;
  samplerate?: number;
  channels?: number;
  /** Units per second of the LOC timestamps: 90 kHz for video, the sample rate for audio (48 kHz for Opus). */
  clockrate: number;
}

export interface MediaMtxCatalog {
  version: 1;
  tracks: MediaMtxTrack[];
}

/** MediaMTX's clock rates: RTP's, which its timestamps keep. */
export const VIDEO_CLOCK_RATE = 90_000;

export function clockRateOf(track: TrackInfo): number {
  return track.kind === 'video' ? VIDEO_CLOCK_RATE : track.codec === 'opus' ? 48_000 : track.sampleRate;
}

/**
 * The sample entry MediaMTX's clients accept: H.264 only as `avc3` and HEVC
 * only as `hev1` (parameter sets in band), built from the same SPS and hvcC
 * as the stream model's `avc1`/`hvc1` strings.
 */
export function inBandCodecString(video: VideoTrackInfo): string {
  try {
    if (video.codec === 'h264') return avcCodecString(video.sps[0]!).replace(/^avc1\./, 'avc3.');
    if (video.codec === 'h265') return hevcCodecString(parseHevcDecoderConfig(video.hvcC), 'hev1');
  } catch {
    // The track's records parsed when it was described; should they not parse again, the stream model's string says the same.
  }
  return video.codecString.replace(/^avc1\./, 'avc3.').replace(/^hvc1\./, 'hev1.');
}

/**
 * The catalog as MediaMTX serves it: tracks named by index (`"0"`, `"1"`),
 * video first; `channels` as a number; no `role`; H.264 and HEVC announced
 * with in-band parameter sets. MediaMTX's readers list every catalog track
 * and refuse the session over one they cannot map, so only what they map is
 * listed (every codec Polycast carries qualifies).
 */
export function buildMediaMtxCatalog(desc: StreamDescription): MediaMtxCatalog {
  const tracks: MediaMtxTrack[] = [];
  for (const track of mediaMtxTracks(desc)) {
    const name = String(tracks.length);
    if (track.kind === 'video') {
      const initData = track.codec === 'av1' ? initDataOf(track) : {};
      tracks.push({ name, packaging: 'loc', isLive: true, codec: inBandCodecString(track), ...initData, width: track.width, height: track.height, clockrate: VIDEO_CLOCK_RATE });
    } else {
      tracks.push({ name, packaging: 'loc', isLive: true, codec: track.codecString, ...initDataOf(track), samplerate: track.sampleRate, channels: track.channels, clockrate: clockRateOf(track) });
    }
  }
  return { version: 1, tracks };
}

/** The stream's tracks in MediaMTX catalog order: index i is track name `${i}`. */
export function mediaMtxTracks(desc: StreamDescription): Array<VideoTrackInfo | AudioTrackInfo> {
  return [...(desc.video === undefined ? [] : [desc.video]), ...(desc.audio === undefined ? [] : [desc.audio])];
}

// ---- reading a catalog (the `moqt://` pull client) ----

/** A media track of someone's catalog, as far as Polycast reads it. */
export interface CatalogMediaTrack {
  readonly name: string;
  readonly role: 'video' | 'audio';
  readonly codec: string;
  /** The decoder configuration record, decoded from base64. */
  readonly initData?: Uint8Array;
  readonly width?: number;
  readonly height?: number;
  readonly samplerate?: number;
  readonly channels?: number;
  /** Units per second of the LOC timestamps, when the catalog says (`timescale`, or MediaMTX's `clockrate`). */
  readonly timescale?: number;
}

export interface ParsedCatalog {
  readonly video?: CatalogMediaTrack;
  readonly audio?: CatalogMediaTrack;
  /** Tracks left out, with why: for the log. */
  readonly skipped: readonly string[];
}

/** The catalog object is small JSON: anything bigger is not a catalog. */
export const MAX_CATALOG_BYTES = 64 * 1024;
const MAX_CATALOG_TRACKS = 64;
const MAX_TRACK_NAME = 1024;
const MAX_INIT_DATA = 16 * 1024;

/** The catalog could not be used; the message says why. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}

const VIDEO_CODEC = /^(avc1|avc3|hvc1|hev1|av01|vp09)(\.|$)/;
const AUDIO_CODEC = /^(mp4a\.40\.\d+|opus)$/;

/**
 * The first video and the first audio track of an MSF catalog (LOC
 * packaging) whose codec Polycast carries: H.264 (`avc1`/`avc3`), HEVC
 * (`hvc1`/`hev1`), AV1, VP9, AAC and Opus. Other tracks are skipped and
 * listed. Throws `CatalogError` for JSON that is not a catalog, or one with
 * no track Polycast can use.
 */
export function parseMsfCatalog(bytes: Uint8Array): ParsedCatalog {
  if (bytes.byteLength > MAX_CATALOG_BYTES) throw new CatalogError(`catalog of ${bytes.byteLength} bytes (limit ${MAX_CATALOG_BYTES})`);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new CatalogError(`the catalog is not JSON: ${(err as Error).message.slice(0, 120)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CatalogError('the catalog is not a JSON object');
  const tracks = (doc as Record<string, unknown>)['tracks'];
  if (!Array.isArray(tracks)) throw new CatalogError('the catalog has no "tracks" list');
  if (tracks.length > MAX_CATALOG_TRACKS) throw new CatalogError(`the catalog lists ${tracks.length} tracks (limit ${MAX_CATALOG_TRACKS})`);
  let video: CatalogMediaTrack | undefined;
  let audio: CatalogMediaTrack | undefined;
  const skipped: string[] = [];
  tracks.forEach((entry: unknown, i) => {
    const t = readTrack(entry, i);
    if (typeof t === 'string') skipped.push(t);
    else if (t.role === 'video') {
      if (video === undefined) video = t;
      else skipped.push(`track '${t.name}': a second video track`);
    } else if (audio === undefined) audio = t;
    else skipped.push(`track '${t.name}': a second audio track`);
  });
  if (video === undefined && audio === undefined) {
    throw new CatalogError(`the catalog has no track Polycast can carry${skipped.length > 0 ? ` (${skipped.join('; ').slice(0, 300)})` : ''}`);
  }
  return { ...(video === undefined ? {} : { video }), ...(audio === undefined ? {} : { audio }), skipped };
}

/** A usable track, or why it is skipped. Throws `CatalogError` when an entry is malformed. */
function readTrack(entry: unknown, index: number): CatalogMediaTrack | string {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new CatalogError(`catalog track ${index} is not an object`);
  const t = entry as Record<string, unknown>;
  const name = t['name'];
  if (typeof name !== 'string' || name === '' || name.length > MAX_TRACK_NAME) throw new CatalogError(`catalog track ${index} has no usable name`);
  const codec = t['codec'];
  if (typeof codec !== 'string') return `track '${name}': no codec`;
  const packaging = t['packaging'];
  if (packaging !== undefined && packaging !== 'loc') return `track '${name}': packaging '${String(packaging).slice(0, 20)}' (Polycast reads LOC)`;
  if (t['namespace'] !== undefined) return `track '${name}': in another namespace`;
  const role = VIDEO_CODEC.test(codec) ? 'video' : AUDIO_CODEC.test(codec) ? 'audio' : undefined;
  if (role === undefined) return `track '${name}': codec '${codec.slice(0, 40)}' is not one Polycast carries`;
  const declared = t['role'];
  if (declared !== undefined && declared !== role) return `track '${name}': role '${String(declared).slice(0, 20)}' with a ${role} codec`;
  let initData: Uint8Array | undefined;
  const init = t['initData'];
  if (init !== undefined) {
    if (typeof init !== 'string' || init.length > (MAX_INIT_DATA * 4) / 3 + 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(init)) {
      throw new CatalogError(`catalog track '${name}': initData is not base64 of at most ${MAX_INIT_DATA} bytes`);
    }
    initData = new Uint8Array(Buffer.from(init, 'base64'));
  }
  const channels = t['channels'] ?? (typeof t['channelConfig'] === 'string' ? Number(t['channelConfig']) : undefined);
  const timescale = t['timescale'] ?? t['clockrate'];
  return {
    name,
    role,
    codec,
    ...(initData === undefined ? {} : { initData }),
    ...positive(t['width'], 'width', name),
    ...positive(t['height'], 'height', name),
    ...positive(t['samplerate'], 'samplerate', name),
    ...positive(channels, 'channels', name),
    ...positive(timescale, 'timescale', name),
  };
}

function positive<K extends string>(value: unknown, key: K, track: string): Partial<Record<K, number>> {
  if (value === undefined) return {};
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw new CatalogError(`catalog track '${track}': ${key} is not a positive integer`);
  return { [key]: value } as Partial<Record<K, number>>;
}
