import { describe, expect, it } from 'vitest';
import { MAX_HELD_FRAMES, MseAudioBatch } from '../../public/src/render/mse-audio-batch.js';
import { MseSink } from '../../public/src/render/mse-sink.js';
import { createInitSegment, FragmentWriter } from '../../src/mux/fmp4/index.js';
import type { AacTrackInfo } from '../../src/stream/types.js';
import { segmentInfo, topLevelBoxes } from '../helpers/mp4.js';
import { fakeMediaElement, fakeMediaSourceApi, mockObjectUrls } from './fake-media-source.js';

const audio: AacTrackInfo = {
  kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, samplesPerFrame: 1024,
  asc: Uint8Array.of(0x11, 0x90),
};
const FRAME_US = (1024 / 48000) * 1e6;
const KEY = 'audio';

/** The real sink and muxer over a fake SourceBuffer, with the sink's idle event wired to the batch as the renderer wires it. */
function setup(open = true) {
  const { api, sources } = fakeMediaSourceApi();
  const element = fakeMediaElement();
  let batch: MseAudioBatch | null = null;
  const sink = new MseSink(element as unknown as HTMLAudioElement, api, {
    drained: () => undefined,
    dropped: () => undefined,
    error: (message) => {
      throw new Error(message);
    },
    idle: () => batch?.flush(),
  });
  const tracks = { audio };
  sink.configure([{ key: KEY, mime: 'audio/mp4; codecs="mp4a.40.2"', init: createInitSegment(tracks), hasVideo: false }]);
  const counts: number[] = [];
  batch = new MseAudioBatch(sink, new FragmentWriter(tracks), KEY, (frames) => counts.push(frames));
  const source = sources[0]!;
  if (open) {
    source.fireOpen();
    source.buffers[0]!.drain(); // the init segment
  }
  return { sink, batch, source, counts };
}

/** Payload of frame `i`: four bytes that say which frame it is. */
const payload = (i: number) => Uint8Array.of(0xa0, i, i, i);

/** Sample count of a media segment and the bytes of its mdat's payload. */
function samplesOf(segment: Uint8Array): { count: number; mdat: number[] } {
  const mdat = topLevelBoxes(segment).find((b) => b.type === 'mdat')!;
  return { count: segmentInfo(segment).sampleCount, mdat: [...segment.subarray(mdat.start + 8, mdat.start + mdat.size)] };
}

describe('MseAudioBatch', () => {
  mockObjectUrls();

  it('appends a frame alone and at once when the SourceBuffer is idle', () => {
    const { batch, source, counts } = setup();
    const buffer = source.buffers[0]!;
    for (let i = 0; i < 3; i++) {
      batch.push(i * FRAME_US, payload(i));
      expect(buffer.appended).toHaveLength(2 + i); // init + every frame so far
      expect(batch.heldFrames).toBe(0);
      buffer.finish();
    }
    expect(buffer.appended.slice(1).map((s) => samplesOf(s).count)).toEqual([1, 1, 1]);
    expect(counts).toEqual([1, 1, 1]);
  });

  it('frames that arrive during an append leave together in one fragment when it ends, copied, in order', () => {
    const { batch, source, counts } = setup();
    const buffer = source.buffers[0]!;
    batch.push(0, payload(0)); // starts an append
    const reused = payload(1);
    for (let i = 1; i <= 5; i++) {
      reused.set(payload(i)); // the socket's buffer is reused under the batch
      batch.push(i * FRAME_US, reused);
    }
    expect(buffer.appended).toHaveLength(2);
    expect(batch.heldFrames).toBe(5);
    buffer.finish(); // the running append ends: the five go in one
    expect(buffer.appended).toHaveLength(3);
    const batched = samplesOf(buffer.appended[2]!);
    expect(batched.count).toBe(5);
    expect(batched.mdat).toEqual([1, 2, 3, 4, 5].flatMap((i) => [...payload(i)]));
    expect(counts).toEqual([1, 5]);
    // Decode times run on without a gap: the batch starts where the single frame ended.
    expect(segmentInfo(buffer.appended[2]!).baseDecodeTime - segmentInfo(buffer.appended[1]!).baseDecodeTime).toBe(1024);
  });

  it('a SourceBuffer that never finishes holds at most MAX_HELD_FRAMES before they are queued anyway', () => {
    const { sink, batch } = setup();
    batch.push(0, payload(0));
    for (let i = 1; i <= MAX_HELD_FRAMES * 2; i++) batch.push(i * FRAME_US, payload(i));
    expect(batch.heldFrames).toBe(0);
    expect(sink.queued(KEY)).toBe(2);
  });

  it('frames that arrive before the MediaSource opens go in one fragment after the init segment', () => {
    const { batch, source, counts } = setup(false);
    for (let i = 0; i < 4; i++) batch.push(i * FRAME_US, payload(i));
    expect(batch.heldFrames).toBe(4);
    source.fireOpen();
    const buffer = source.buffers[0]!;
    buffer.drain();
    expect(buffer.appended).toHaveLength(2);
    expect(samplesOf(buffer.appended[1]!).count).toBe(4);
    expect(counts).toEqual([4]);
  });
});
