/**
 * The initialization segment: `ftyp` + a `moov` that describes the tracks and
 * holds no samples (ISO/IEC 14496-12 §8.8, MSE ISO BMFF byte stream format §3).
 */

import type { AudioTrackInfo, VideoTrackInfo } from '../../stream/types.js';
import { box, fields, fullBox, raw, serialize, type ByteWriter, type Chunk } from './boxes.js';
import { esDescriptor } from './esds.js';
import { AUDIO_TRACK_ID, VIDEO_TRACK_ID, timescaleOf, type MuxTracks } from './tracks.js';

/**
 * `iso5`/`iso6` announce the fragment features the segments rely on
 * (default-base-is-moof, `tfdt`, version-1 `trun` with signed composition
 * offsets); `mp41` lets ordinary MP4 tools open a recorded session. MSE ignores
 * brands it does not know, so no DASH or CMAF brand is claimed that the
 * segments would then have to honour.
 */
const MAJOR_BRAND = 'iso5';
const MINOR_VERSION = 0;
const COMPATIBLE_BRANDS = ['iso5', 'iso6', 'mp41'] as const;

/** Movie-level clock: only `mvhd`'s (zero) duration uses it. */
const MOVIE_TIMESCALE = 1000;

/** 14496-12 §8.3.2: packed ISO 639-2 'und', since the publisher names no language. */
const LANGUAGE_UND = (('u'.charCodeAt(0) - 0x60) << 10) | (('n'.charCodeAt(0) - 0x60) << 5) | ('d'.charCodeAt(0) - 0x60);

/** tkhd flags track_enabled | track_in_movie. */
const TKHD_FLAGS = 0x000003;
/** dref entry flag: media data is in this file (there is no URL). */
const DREF_SELF_CONTAINED = 0x000001;
/** vmhd's flags field is fixed at 1 by the spec. */
const VMHD_FLAGS = 0x000001;

const FIXED_16_16_ONE = 0x0001_0000;
const FIXED_8_8_ONE = 0x0100;
const UNITY_MATRIX = [FIXED_16_16_ONE, 0, 0, 0, FIXED_16_16_ONE, 0, 0, 0, 0x4000_0000] as const;
/** 72 dpi in 16.16, the value 14496-12 prescribes for horizresolution/vertresolution. */
const DPI_72 = 0x0048_0000;
const DEPTH_COLOUR_NO_ALPHA = 0x0018;

function ftyp(): Chunk {
  return box('ftyp', [
    fields(8 + 4 * COMPATIBLE_BRANDS.length, (w) => {
      w.fourcc(MAJOR_BRAND);
      w.u32(MINOR_VERSION);
      for (const b of COMPATIBLE_BRANDS) w.fourcc(b);
    }),
  ]);
}

function writeMatrix(w: ByteWriter): void {
  for (const v of UNITY_MATRIX) w.u32(v);
}

function mvhd(nextTrackId: number): Chunk {
  return fullBox('mvhd', 0, 0, [
    fields(96, (w) => {
      w.u32(0); // creation_time
      w.u32(0); // modification_time
      w.u32(MOVIE_TIMESCALE);
      w.u32(0); // duration: unknown for a live presentation
      w.u32(FIXED_16_16_ONE); // rate
      w.u16(FIXED_8_8_ONE); // volume
      w.zeros(2 + 8);
      writeMatrix(w);
      w.zeros(24); // pre_defined
      w.u32(nextTrackId);
    }),
  ]);
}

interface TrackLayout {
  readonly id: number;
  readonly timescale: number;
  readonly handler: 'vide' | 'soun';
  readonly handlerName: string;
  readonly width: number;
  readonly height: number;
  readonly mediaHeader: Chunk;
  readonly sampleEntry: Chunk;
}

function tkhd(t: TrackLayout): Chunk {
  return fullBox('tkhd', 0, TKHD_FLAGS, [
    fields(80, (w) => {
      w.u32(0); // creation_time
      w.u32(0); // modification_time
      w.u32(t.id);
      w.zeros(4);
      w.u32(0); // duration
      w.zeros(8);
      w.u16(0); // layer
      w.u16(0); // alternate_group: audio and video play together
      w.u16(t.handler === 'soun' ? FIXED_8_8_ONE : 0);
      w.zeros(2);
      writeMatrix(w);
      w.u32(t.width * FIXED_16_16_ONE);
      w.u32(t.height * FIXED_16_16_ONE);
    }),
  ]);
}

function mdhd(timescale: number): Chunk {
  return fullBox('mdhd', 0, 0, [
    fields(20, (w) => {
      w.u32(0);
      w.u32(0);
      w.u32(timescale);
      w.u32(0);
      w.u16(LANGUAGE_UND);
      w.u16(0);
    }),
  ]);
}

function hdlr(handler: string, name: string): Chunk {
  const nameBytes = new TextEncoder().encode(`${name}\0`);
  return fullBox('hdlr', 0, 0, [
    fields(20, (w) => {
      w.u32(0); // pre_defined
      w.fourcc(handler);
      w.zeros(12);
    }),
    raw(nameBytes),
  ]);
}

/** Tables a fragmented file leaves empty: samples arrive in `moof`s (14496-12 §8.8.1). */
function emptySampleTables(): Chunk[] {
  const zeroCount = fields(4, (w) => w.u32(0));
  return [
    fullBox('stts', 0, 0, [zeroCount]),
    fullBox('stsc', 0, 0, [zeroCount]),
    fullBox('stsz', 0, 0, [fields(8, (w) => { w.u32(0); w.u32(0); })]),
    fullBox('stco', 0, 0, [zeroCount]),
  ];
}

function trak(t: TrackLayout): Chunk {
  return box('trak', [
    tkhd(t),
    box('mdia', [
      mdhd(t.timescale),
      hdlr(t.handler, t.handlerName),
      box('minf', [
        t.mediaHeader,
        box('dinf', [
          fullBox('dref', 0, 0, [fields(4, (w) => w.u32(1)), fullBox('url ', 0, DREF_SELF_CONTAINED)]),
        ]),
        box('stbl', [
          fullBox('stsd', 0, 0, [fields(4, (w) => w.u32(1)), t.sampleEntry]),
          ...emptySampleTables(),
        ]),
      ]),
    ]),
  ]);
}

/** SampleEntry header (14496-12 §8.5.2.2): six reserved bytes, data_reference_index 1. */
function sampleEntryHeader(w: ByteWriter): void {
  w.zeros(6);
  w.u16(1);
}

/** VisualSampleEntry (14496-12 §12.1.3) of `type`, then its codec's configuration boxes. */
function visualEntry(type: string, video: VideoTrackInfo, children: Chunk[]): Chunk {
  return box(type, [
    fields(78, (w) => {
      sampleEntryHeader(w);
      w.u16(0); // pre_defined
      w.u16(0); // reserved
      w.zeros(12); // pre_defined
      w.u16(video.width);
      w.u16(video.height);
      w.u32(DPI_72);
      w.u32(DPI_72);
      w.u32(0); // reserved
      w.u16(1); // frame_count: one frame per sample
      w.zeros(32); // compressorname: empty Pascal string
      w.u16(DEPTH_COLOUR_NO_ALPHA);
      w.i16(-1); // pre_defined
    }),
    ...children,
  ]);
}

/**
 * The sample entry of each video codec, with the publisher's configuration
 * record as it came: `avc1`+`avcC` and `hvc1`+`hvcC` (14496-15 §5.4.2,
 * §8.4.1; `hvc1` because the parameter sets are in the record, which is
 * what its codec string says), `av01`+`av1C` (AV1-ISOBMFF §2.2), `vp09` +
 * `vpcC` (VP codec ISO binding §2.2, a FullBox of version 1). No `pasp` or
 * `colr`: the bitstreams carry aspect ratio and colour, and decoders read
 * them from there, so the boxes could only repeat them.
 */
function videoSampleEntry(video: VideoTrackInfo): Chunk {
  switch (video.codec) {
    case 'h264':
      return visualEntry('avc1', video, [box('avcC', [raw(video.avcC)])]);
    case 'h265':
      return visualEntry('hvc1', video, [box('hvcC', [raw(video.hvcC)])]);
    case 'av1':
      return visualEntry('av01', video, [box('av1C', [raw(video.av1C)])]);
    case 'vp9':
      return visualEntry('vp09', video, [fullBox('vpcC', 1, 0, [raw(video.vpcC)])]);
  }
}

/** AudioSampleEntry (14496-12 §12.2.3) of `type` with a 16.16 `samplerate`, then its configuration box. */
function audioEntry(type: string, channels: number, rateField: number, config: Chunk): Chunk {
  return box(type, [
    fields(28, (w) => {
      sampleEntryHeader(w);
      w.zeros(8);
      w.u16(channels);
      w.u16(16); // samplesize
      w.u16(0); // pre_defined
      w.u16(0); // reserved
      w.u32(rateField);
    }),
    config,
  ]);
}

/**
 * `mp4a` (14496-14 §3.1.1): the 16.16 samplerate field cannot hold rates
 * above 65535 Hz; it is informative for AAC, whose decoder takes the rate
 * from the AudioSpecificConfig, so those rates are written as 0 rather than
 * truncated. `Opus` + `dOps` (Opus in ISOBMFF §4.3): the rate is always
 * 48000. Its pre-skip is in `dOps` only, with no edit list to trim it: a
 * live session starts mid-stream, where the decoder's first few
 * milliseconds are warm-up sound either way.
 */
function audioSampleEntry(audio: AudioTrackInfo): Chunk {
  if (audio.codec === 'opus') return audioEntry('Opus', audio.channels, 48000 * FIXED_16_16_ONE, box('dOps', [raw(audio.dOps)]));
  const rateField = audio.sampleRate <= 0xffff ? audio.sampleRate * FIXED_16_16_ONE : 0;
  return audioEntry('mp4a', audio.channels, rateField, fullBox('esds', 0, 0, [esDescriptor(audio.asc)]));
}

function videoLayout(video: VideoTrackInfo): TrackLayout {
  return {
    id: VIDEO_TRACK_ID,
    timescale: timescaleOf(video),
    handler: 'vide',
    handlerName: 'VideoHandler',
    width: video.width,
    height: video.height,
    mediaHeader: fullBox('vmhd', 0, VMHD_FLAGS, [fields(8, (w) => w.zeros(8))]),
    sampleEntry: videoSampleEntry(video),
  };
}

function audioLayout(audio: AudioTrackInfo): TrackLayout {
  return {
    id: AUDIO_TRACK_ID,
    timescale: timescaleOf(audio),
    handler: 'soun',
    handlerName: 'SoundHandler',
    width: 0,
    height: 0,
    mediaHeader: fullBox('smhd', 0, 0, [fields(4, (w) => w.zeros(4))]),
    sampleEntry: audioSampleEntry(audio),
  };
}

/** trex defaults are all zero: every `trun` states its samples' duration, size and flags. */
function trex(trackId: number): Chunk {
  return fullBox('trex', 0, 0, [
    fields(20, (w) => {
      w.u32(trackId);
      w.u32(1); // default_sample_description_index
      w.u32(0);
      w.u32(0);
      w.u32(0);
    }),
  ]);
}

/**
 * Init segment for the given tracks. Either track may be absent, so that a
 * player can feed each kind to its own SourceBuffer; track IDs stay 1 (video)
 * and 2 (audio) whichever are present.
 */
export function createInitSegment(tracks: MuxTracks): Uint8Array {
  const layouts: TrackLayout[] = [];
  if (tracks.video) layouts.push(videoLayout(tracks.video));
  if (tracks.audio) layouts.push(audioLayout(tracks.audio));
  if (layouts.length === 0) throw new RangeError('an init segment needs at least one track');
  return serialize([
    ftyp(),
    box('moov', [
      mvhd(AUDIO_TRACK_ID + 1),
      ...layouts.map(trak),
      box('mvex', layouts.map((t) => trex(t.id))),
    ]),
  ]);
}

/** MIME type for `MediaSource.addSourceBuffer` matching `createInitSegment(tracks)`. */
export function mseMimeType(tracks: MuxTracks): string {
  const codecs: string[] = [];
  if (tracks.video) codecs.push(tracks.video.codecString);
  if (tracks.audio) codecs.push(tracks.audio.codecString);
  if (codecs.length === 0) throw new RangeError('a MIME type needs at least one track');
  return `${tracks.video ? 'video' : 'audio'}/mp4; codecs="${codecs.join(', ')}"`;
}
