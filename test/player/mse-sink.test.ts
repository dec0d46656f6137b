import { describe, expect, it } from 'vitest';
import { MseSink } from '../../public/src/render/mse-sink.js';
import { fakeMediaElement, fakeMediaSourceApi, mockObjectUrls } from './fake-media-source.js';

const INIT = 0xee;

function setup(currentTime = 0) {
  const { api, sources } = fakeMediaSourceApi();
  const video = fakeMediaElement(currentTime);
  const events = { dropped: [] as [number, string][], errors: [] as string[], drained: [] as number[] };
  const sink = new MseSink(video as unknown as HTMLVideoElement, api, {
    drained: (_key, queued) => events.drained.push(queued),
    dropped: (count, why) => events.dropped.push([count, why]),
    error: (message) => events.errors.push(message),
  });
  sink.configure([{ key: 'video', mime: 'video/mp4; codecs="avc1.42E01E"', init: Uint8Array.of(INIT), hasVideo: true }]);
  sources[0]!.fireOpen();
  const buffer = sources[0]!.buffers[0]!;
  return { sink, video, buffer, events };
}

const seg = (id: number) => Uint8Array.of(id);
const key = { video: true, keyframe: true };
const delta = { video: true, keyframe: false };

describe('MseSink', () => {
  mockObjectUrls();

  it('appends the init segment, then starts at a keyframe, one operation at a time and in order', () => {
    const { sink, buffer, events } = setup();
    sink.append('video', seg(1), delta);
    sink.append('video', seg(2), key);
    sink.append('video', seg(3), delta);
    expect(buffer.done).toEqual([`append ${INIT}`]);
    expect(sink.queued('video')).toBe(2);
    buffer.drain();
    expect(buffer.done).toEqual([`append ${INIT}`, 'append 2', 'append 3']);
    expect(events.dropped).toEqual([[1, 'waiting for a keyframe']]);
    expect(events.drained.at(-1)).toBe(0);
  });

  it('meets a full buffer by removing what lies behind the playhead and trying the same segment again', () => {
    const { sink, buffer, video } = setup();
    sink.append('video', seg(1), key);
    buffer.drain();
    buffer.ranges = [[100, 130]];
    video.currentTime = 125;
    buffer.quotaErrors = 1;
    sink.append('video', seg(2), delta);
    buffer.drain();
    expect(buffer.done.slice(2)).toEqual(['remove 100-124', 'append 2']);
  });

  it('with nothing behind the playhead to free, drops what is queued and restarts at the next keyframe', () => {
    const { sink, buffer, video, events } = setup();
    sink.append('video', seg(1), key);
    buffer.drain();
    buffer.ranges = [[100, 130]];
    video.currentTime = 100.2;
    buffer.quotaErrors = 1;
    sink.append('video', seg(2), delta);
    sink.append('video', seg(3), delta);
    sink.append('video', seg(4), key);
    buffer.drain();
    expect(buffer.done.slice(2)).toEqual(['append 4']);
    expect(events.dropped).toEqual([
      [1, 'SourceBuffer full'],
      [1, 'waiting for a keyframe'],
    ]);
  });

  it('trims media more than 10 s behind the playhead, once per chunk', () => {
    const { sink, buffer, video } = setup();
    buffer.drain();
    buffer.ranges = [[0, 30]];
    video.currentTime = 25;
    sink.trimBehind(video.currentTime, 10);
    sink.trimBehind(video.currentTime, 10);
    expect(buffer.done.slice(1)).toEqual(['remove 0-15']);
    buffer.drain();
    buffer.ranges = [[15, 31]];
    video.currentTime = 26;
    sink.trimBehind(video.currentTime, 10);
    expect(buffer.done.slice(2)).toEqual([]);
  });

  it('skips to the next keyframe when the browser falls hundreds of segments behind', () => {
    const { sink, buffer, events } = setup();
    sink.append('video', seg(1), key);
    for (let i = 0; i < 299; i++) sink.append('video', seg(2), delta);
    expect(sink.queued('video')).toBe(300);
    sink.append('video', seg(3), delta);
    sink.append('video', seg(4), key);
    expect(sink.queued('video')).toBe(1);
    expect(events.dropped).toEqual([
      [300, 'append queue overflow'],
      [1, 'waiting for a keyframe'],
    ]);
    buffer.drain();
    expect(buffer.done).toEqual([`append ${INIT}`, 'append 4']);
  });
});
