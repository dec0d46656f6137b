import { describe, expect, it } from 'vitest';
import { fragmentInfo, initTracks } from '../../public/src/protocol/fmp4-probe.js';
import { createInitSegment, FragmentWriter } from '../../src/mux/fmp4/index.js';
import type { AacTrackInfo, Frame, H264TrackInfo } from '../../src/stream/types.js';

// avcC and ASC of a libx264 320x240 High / AAC-LC 48 kHz stereo clip.
const AVCC = Uint8Array.from(Buffer.from('0164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000468ef8fcbfdf8f800', 'hex'));
const ASC = Uint8Array.from([0x11, 0x90, 0x56, 0xe5, 0x00]);
const video: H264TrackInfo = { kind: 'video', codec: 'h264', codecString: 'avc1.64000d', width: 320, height: 240, avcC: AVCC, sps: [], pps: [], nalLengthSize: 4 };
const audio: AacTrackInfo = { kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, samplesPerFrame: 1024, asc: ASC };

function frame(kind: 'video' | 'audio', dtsUs: number, key: boolean): Frame {
  return { kind, dts: dtsUs, pts: dtsUs, key, data: Uint8Array.from([0, 0, 0, 1, 0x65]), receivedAt: 0 };
}

describe('fMP4 probe (against the server muxer)', () => {
  it('reads track IDs, kinds and timescales from init segments', () => {
    expect(initTracks(createInitSegment({ video, audio }))).toEqual([
      { trackId: 1, kind: 'video', timescale: 90000 },
      { trackId: 2, kind: 'audio', timescale: 48000 },
    ]);
    expect(initTracks(createInitSegment({ audio }))).toEqual([{ trackId: 2, kind: 'audio', timescale: 48000 }]);
  });

  it('reads track, decode time and sync flag from media segments', () => {
    const writer = new FragmentWriter({ video, audio });
    const key = fragmentInfo(writer.fragment('video', [frame('video', 0, true)]));
    const delta = fragmentInfo(writer.fragment('video', [frame('video', 33_333, false)]));
    const sound = fragmentInfo(writer.fragment('audio', [frame('audio', 21_333, true)]));
    expect(key).toMatchObject({ trackId: 1, keyframe: true });
    expect(delta).toMatchObject({ trackId: 1, keyframe: false });
    expect(delta!.baseDecodeTime - key!.baseDecodeTime).toBe(3000);
    expect(sound).toMatchObject({ trackId: 2, keyframe: true });
  });

  it('answers null for bytes that are not a media segment, truncated ones included', () => {
    const writer = new FragmentWriter({ video });
    const segment = writer.fragment('video', [frame('video', 0, true)]);
    expect(fragmentInfo(createInitSegment({ video }))).toBeNull();
    expect(fragmentInfo(segment.subarray(0, 40))).toBeNull();
    expect(fragmentInfo(new Uint8Array([0, 0, 0, 1]))).toBeNull();
    expect(initTracks(new Uint8Array(3))).toEqual([]);
  });
});
