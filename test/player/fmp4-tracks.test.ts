import { describe, expect, it } from 'vitest';
import { FragmentWriter, createInitSegment, mseMimeType } from '../../src/mux/fmp4/index.js';
import type { AacTrackInfo, Frame, H264TrackInfo } from '../../src/stream/types.js';
import { fragmentInfo, initTracks } from '../../public/src/protocol/fmp4-probe.js';
import {
  audioSpecificConfig,
  fragmentSamples,
  initTrackEntries,
  initWithOnly,
  singleTrackMime,
} from '../../public/src/protocol/fmp4-tracks.js';

// avcC and ASC of the ffmpeg test clip (libx264 320x240 High, AAC-LC 48 kHz stereo), as in test/mux.
const AVCC = Uint8Array.from(Buffer.from('0164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000468ef8fcbfdf8f800', 'hex'));
const ASC = Uint8Array.from([0x11, 0x90]);

const video: H264TrackInfo = {
  kind: 'video', codec: 'h264', codecString: 'avc1.64000d', width: 320, height: 240, avcC: AVCC, sps: [], pps: [], nalLengthSize: 4,
};
const audio: AacTrackInfo = {
  kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, samplesPerFrame: 1024, asc: ASC,
};

function frame(kind: 'video' | 'audio', us: number, key: boolean, bytes: number[]): Frame {
  return { kind, dts: us, pts: us, key, data: Uint8Array.from(bytes), receivedAt: 0 };
}

describe('taking the muxer’s combined fMP4 apart', () => {
  const combined = createInitSegment({ video, audio });

  it('leaves one kind of track in the init segment, byte for byte what the muxer makes for that track alone', () => {
    expect(initTrackEntries(combined).map((t) => t.kind)).toEqual(['video', 'audio']);
    const videoOnly = initWithOnly(combined, 'video')!;
    expect(initTracks(videoOnly).map((t) => t.kind)).toEqual(['video']);
    // The muxer's own video-only init differs only in mvhd's next_track_ID, which does not depend on the tracks kept.
    expect(videoOnly).toEqual(createInitSegment({ video }));
    expect(initWithOnly(combined, 'audio')).toEqual(createInitSegment({ audio }));
    expect(initWithOnly(createInitSegment({ audio }), 'video')).toBeNull();
    expect(singleTrackMime('video', 'avc1.64000d')).toBe(mseMimeType({ video }));
  });

  it('finds the AudioSpecificConfig in esds', () => {
    const id = initTrackEntries(combined).find((t) => t.kind === 'audio')!.trackId;
    expect(audioSpecificConfig(combined, id)).toEqual(ASC);
    const videoId = initTrackEntries(combined).find((t) => t.kind === 'video')!.trackId;
    expect(audioSpecificConfig(combined, videoId)).toBeNull();
  });

  it('reads a media segment’s samples with their decode times', () => {
    const writer = new FragmentWriter({ video, audio });
    writer.fragment('video', [frame('video', 1_000_000, true, [1, 2, 3])]);
    const one = writer.fragment('audio', [frame('audio', 1_000_000, true, [7, 7])]);
    const [sample] = fragmentSamples(one);
    const info = fragmentInfo(one)!;
    expect(sample).toMatchObject({ trackId: info.trackId, decodeTime: info.baseDecodeTime, duration: 1024 });
    expect([...sample!.data]).toEqual([7, 7]);
    const two = writer.fragment('audio', [frame('audio', 1_021_333, true, [1]), frame('audio', 1_042_667, true, [2, 3, 4])]);
    const samples = fragmentSamples(two);
    expect(samples.map((s) => [...s.data])).toEqual([[1], [2, 3, 4]]);
    expect(samples[1]!.decodeTime - samples[0]!.decodeTime).toBe(1024);
    expect(fragmentSamples(two.subarray(0, 20))).toEqual([]);
  });
});
