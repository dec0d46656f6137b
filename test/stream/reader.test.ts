import { describe, expect, it } from 'vitest';
import { GopCache } from '../../src/stream/gop-cache.js';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import { Stream } from '../../src/stream/stream.js';
import type { AacTrackInfo, Frame, H264TrackInfo } from '../../src/stream/types.js';

const video: H264TrackInfo = {
  kind: 'video', codec: 'h264', codecString: 'avc1.42c01e', width: 640, height: 360,
  avcC: new Uint8Array([1, 0x42, 0xc0, 0x1e]), sps: [], pps: [], nalLengthSize: 4,
};
const video2: H264TrackInfo = { ...video, avcC: new Uint8Array([1, 0x64, 0, 0x1f]), codecString: 'avc1.64001f' };
const audio: AacTrackInfo = {
  kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, samplesPerFrame: 1024,
  asc: new Uint8Array([0x11, 0x90]),
};

let t = 0;
const v = (key = false): Frame => ({ kind: 'video', dts: (t += 33_333), pts: t, key, data: new Uint8Array(100), receivedAt: 0 });
const a = (): Frame => ({ kind: 'audio', dts: (t += 21_333), pts: t, key: true, data: new Uint8Array(10), receivedAt: 0 });

class TestSink implements ReaderSink {
  open = true;
  frames: Array<{ frame: Frame; discontinuity: boolean }> = [];
  log: string[] = [];
  writable(): boolean {
    return this.open;
  }
  write(frame: Frame, discontinuity: boolean): void {
    this.frames.push({ frame, discontinuity });
  }
  describe(): void {
    this.log.push('describe');
  }
  offline(reason: string): void {
    this.log.push(`offline:${reason}`);
  }
}

function setup(queueSize = 8) {
  const stream = new Stream('p');
  stream.setTrack(video);
  stream.setTrack(audio);
  const sink = new TestSink();
  const reader = new Reader({ id: 'r', protocol: 'test', remoteAddress: 'x' }, sink, queueSize);
  return { stream, sink, reader };
}

describe('Reader', () => {
  it('writes straight through while the sink is writable, starting at a keyframe', () => {
    const { stream, sink, reader } = setup();
    stream.attach(reader);
    stream.write(v());
    stream.write(a());
    stream.write(v(true));
    stream.write(a());
    stream.write(v());
    expect(sink.frames.map((f) => f.frame.kind + (f.frame.key ? '*' : ''))).toEqual(['video*', 'audio*', 'video']);
    expect(reader.stats.framesDropped).toBe(0);
  });

  it('sends the GOP cache a new reader starts with as one corked burst', () => {
    const { stream, reader } = setup();
    const calls: string[] = [];
    const corking = reader as unknown as { sink: TestSink & { cork(): void; uncork(): void } };
    corking.sink.cork = () => calls.push('cork');
    corking.sink.uncork = () => calls.push('uncork');
    const write = corking.sink.write.bind(corking.sink);
    corking.sink.write = (frame, discontinuity) => {
      calls.push(frame.kind);
      write(frame, discontinuity);
    };
    stream.write(v(true));
    stream.write(a());
    stream.write(v());
    stream.attach(reader);
    expect(calls).toEqual(['cork', 'video', 'audio', 'video', 'uncork']);
    // Live frames after the burst are not corked.
    stream.write(v());
    expect(calls.at(-1)).toBe('video');
  });

  it('a sink whose uncork throws costs only that reader', () => {
    const { stream, reader } = setup();
    const faults: string[] = [];
    reader.onSinkFault = (_r, method) => faults.push(method);
    const corking = reader as unknown as { sink: TestSink & { cork(): void; uncork(): void } };
    corking.sink.cork = () => undefined;
    corking.sink.uncork = () => {
      throw new Error('socket gone');
    };
    stream.write(v(true));
    expect(() => stream.attach(reader)).not.toThrow();
    expect(faults).toEqual(['uncork']);
  });

  it('queues while the sink is busy and drains in order on resume', () => {
    const { stream, sink, reader } = setup();
    stream.attach(reader);
    stream.write(v(true));
    sink.open = false;
    const queued = [v(), a(), v()];
    for (const f of queued) stream.write(f);
    expect(reader.queued).toBe(3);
    sink.open = true;
    reader.resume();
    expect(sink.frames.slice(1).map((f) => f.frame)).toEqual(queued);
    expect(reader.queued).toBe(0);
  });

  it('never holds more than queueSize frames; on overflow drops to the next keyframe and flags it', () => {
    const { stream, sink, reader } = setup(8);
    stream.attach(reader);
    stream.write(v(true));
    sink.open = false;
    for (let i = 0; i < 1000; i++) {
      stream.write(i % 30 === 0 ? v(true) : v());
      expect(reader.queued).toBeLessThanOrEqual(8);
    }
    expect(reader.stats.framesDropped).toBeGreaterThan(900);
    expect(reader.stats.overflows).toBeGreaterThan(0);
    sink.open = true;
    reader.resume();
    stream.write(v());
    stream.write(v(true));
    const after = sink.frames.slice(1);
    // Whatever comes out after the overflow starts at a keyframe with the discontinuity flag.
    expect(after[0]!.frame.key).toBe(true);
    expect(after[0]!.discontinuity).toBe(true);
    expect(after.slice(1).every((f) => !f.discontinuity)).toBe(true);
    let lastKey = -1;
    after.forEach((f, i) => f.frame.key && (lastKey = i));
    expect(lastKey).toBeGreaterThanOrEqual(0);
  });

  it('drops audio too while waiting for a keyframe, so sound does not run ahead of a frozen picture', () => {
    const { stream, sink, reader } = setup(2);
    stream.attach(reader);
    stream.write(v(true));
    sink.open = false;
    stream.write(v());
    stream.write(v());
    stream.write(v()); // overflow
    sink.open = true;
    stream.write(a());
    stream.write(v());
    expect(sink.frames.length).toBe(1);
    stream.write(v(true));
    stream.write(a());
    expect(sink.frames.map((f) => f.frame.kind)).toEqual(['video', 'video', 'audio']);
  });

  it('with video disabled sends audio only, and resumes video at a keyframe', () => {
    const { stream, sink, reader } = setup();
    stream.attach(reader);
    stream.write(v(true));
    reader.setVideoEnabled(false);
    stream.write(v());
    stream.write(a());
    reader.setVideoEnabled(true);
    stream.write(v());
    stream.write(a());
    stream.write(v(true));
    expect(sink.frames.map((f) => f.frame.kind + (f.frame.key && f.frame.kind === 'video' ? '*' : ''))).toEqual(['video*', 'audio', 'video*']);
  });

  it('keyframes-only mode passes keyframes and audio', () => {
    const { stream, sink, reader } = setup();
    stream.attach(reader);
    reader.setKeyframesOnly(true);
    stream.write(v(true));
    stream.write(v());
    stream.write(a());
    stream.write(v(true));
    expect(sink.frames.map((f) => f.frame.kind + (f.frame.key && f.frame.kind === 'video' ? '*' : ''))).toEqual(['video*', 'audio', 'video*']);
  });

  it('a new video configuration flushes the queue and waits for a keyframe; a new audio one does not', () => {
    const { stream, sink, reader } = setup();
    stream.attach(reader);
    stream.write(v(true));
    sink.open = false;
    stream.write(v());
    stream.setTrack({ ...audio, asc: new Uint8Array([0x12, 0x10]) });
    expect(reader.queued).toBe(1);
    stream.setTrack(video2);
    expect(reader.queued).toBe(0);
    sink.open = true;
    stream.write(v());
    stream.write(v(true));
    expect(sink.log.filter((l) => l === 'describe').length).toBe(3);
    expect(sink.frames.map((f) => f.frame.key)).toEqual([true, true]);
  });

  it('joins from the GOP cache at the newest keyframe', () => {
    const stream = new Stream('p');
    stream.setTrack(video);
    stream.setTrack(audio);
    stream.write(v(true));
    stream.write(v());
    const k = v(true);
    stream.write(k);
    stream.write(a());
    stream.write(v());
    const sink = new TestSink();
    const reader = new Reader({ id: 'r', protocol: 'test', remoteAddress: 'x' }, sink, 8);
    stream.attach(reader);
    expect(sink.log).toEqual(['describe']);
    expect(sink.frames.map((f) => f.frame)[0]).toBe(k);
    expect(sink.frames.length).toBe(3);
  });

  it('learns that the publisher left and stays usable for the next stream', () => {
    const { stream, sink, reader } = setup();
    stream.attach(reader);
    stream.write(v(true));
    stream.end('gone');
    expect(sink.log.at(-1)).toBe('offline:gone');
    const next = new Stream('p');
    next.attach(reader);
    next.setTrack(video);
    next.write(v());
    next.write(v(true));
    expect(sink.frames.length).toBe(2);
    expect(sink.frames[1]!.frame.key).toBe(true);
  });
});

describe('GopCache', () => {
  it('holds frames from the newest keyframe only', () => {
    const cache = new GopCache();
    cache.add(v());
    expect(cache.size).toBe(0);
    cache.add(v(true));
    cache.add(a());
    cache.add(v());
    expect(cache.size).toBe(3);
    const k = v(true);
    cache.add(k);
    expect(cache.snapshot()).toEqual([k]);
  });

  it('gives up instead of growing when keyframes stop coming', () => {
    const cache = new GopCache(10, 1 << 20);
    cache.add(v(true));
    for (let i = 0; i < 50; i++) cache.add(v());
    expect(cache.size).toBe(0);
    cache.add(v(true));
    expect(cache.size).toBe(1);
    const bytes = new GopCache(1000, 250);
    bytes.add(v(true));
    bytes.add(v());
    bytes.add(v());
    expect(bytes.size).toBe(0);
    expect(bytes.byteLength).toBe(0);
  });
});
