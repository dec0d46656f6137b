import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import { AUDIO_HOLD_MS, Stream } from '../../src/stream/stream.js';
import type { AacTrackInfo, Frame, H264TrackInfo, StreamDescription } from '../../src/stream/types.js';

const video: H264TrackInfo = {
  kind: 'video', codec: 'h264', codecString: 'avc1.42c01e', width: 640, height: 360,
  avcC: new Uint8Array([1, 0x42, 0xc0, 0x1e]), sps: [], pps: [], nalLengthSize: 4,
};
const audio: AacTrackInfo = {
  kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, samplesPerFrame: 1024,
  asc: new Uint8Array([0x11, 0x90]),
};
const audio2: AacTrackInfo = { ...audio, sampleRate: 44100, asc: new Uint8Array([0x12, 0x10]) };

let t = 0;
const v = (key = false): Frame => ({ kind: 'video', dts: (t += 33_333), pts: t, key, data: new Uint8Array(100), receivedAt: 0 });
const a = (): Frame => ({ kind: 'audio', dts: (t += 21_333), pts: t, key: true, data: new Uint8Array(10), receivedAt: 0 });

/** Logs every call in order: `w` a write (with the frame), `c`/`u` cork and uncork, `d` describe, `o` offline. */
class Sink implements ReaderSink {
  log: Array<string | Frame> = [];
  constructor(readonly audioRidesWithVideo: boolean) {}
  writable(): boolean {
    return true;
  }
  write(frame: Frame): void {
    this.log.push(frame);
  }
  describe(d: StreamDescription): void {
    this.log.push(`d:${d.audio?.sampleRate ?? '-'}`);
  }
  offline(): void {
    this.log.push('o');
  }
  cork(): void {
    this.log.push('c');
  }
  uncork(): void {
    this.log.push('u');
  }
  get frames(): Frame[] {
    return this.log.filter((x): x is Frame => typeof x !== 'string');
  }
}

function setup(): { stream: Stream; rider: Sink; plain: Sink; riderReader: Reader; key: Frame } {
  const stream = new Stream('live/test');
  stream.setTrack(video);
  stream.setTrack(audio);
  const rider = new Sink(true);
  const plain = new Sink(false);
  const riderReader = new Reader({ id: 'r', protocol: 'test', remoteAddress: '' }, rider, 100);
  stream.attach(riderReader);
  stream.attach(new Reader({ id: 'p', protocol: 'test', remoteAddress: '' }, plain, 100));
  const key = v(true);
  stream.write(key);
  rider.log = [];
  plain.log = [];
  return { stream, rider, plain, riderReader, key };
}

describe('audio rides with video (Stream)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds audio for a reader that lets it, and sends it corked together with the next video frame', () => {
    const { stream, rider, plain } = setup();
    const a1 = a();
    const a2 = a();
    stream.write(a1);
    stream.write(a2);
    // The other reader's audio is not held.
    expect(plain.frames).toEqual([a1, a2]);
    expect(rider.log).toEqual([]);
    const f = v();
    stream.write(f);
    expect(rider.log).toEqual(['c', a1, a2, f, 'u']);
    expect(plain.frames).toEqual([a1, a2, f]);
    // Nothing is sent twice when the timer would have fired.
    vi.advanceTimersByTime(AUDIO_HOLD_MS * 2);
    expect(rider.frames).toEqual([a1, a2, f]);
  });

  it('sends held audio on its own once it has waited AUDIO_HOLD_MS', () => {
    const { stream, rider } = setup();
    const a1 = a();
    stream.write(a1);
    vi.advanceTimersByTime(AUDIO_HOLD_MS - 1);
    expect(rider.frames).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(rider.log).toEqual(['c', a1, 'u']);
    // Video after that goes alone, straight through.
    const f = v();
    stream.write(f);
    expect(rider.log).toEqual(['c', a1, 'u', f]);
  });

  it('the wait is from the first held frame: a later one does not extend it', () => {
    const { stream, rider } = setup();
    const a1 = a();
    stream.write(a1);
    vi.advanceTimersByTime(AUDIO_HOLD_MS - 5);
    const a2 = a();
    stream.write(a2);
    vi.advanceTimersByTime(5);
    expect(rider.frames).toEqual([a1, a2]);
  });

  it('a reader that attaches while audio is held gets it once, from the GOP cache, after the readers that waited', () => {
    const { stream, rider, key } = setup();
    const a1 = a();
    stream.write(a1);
    const late = new Sink(true);
    stream.attach(new Reader({ id: 'l', protocol: 'test', remoteAddress: '' }, late, 100));
    expect(rider.frames).toEqual([a1]);
    expect(late.frames).toEqual([key, a1]);
    const f = v();
    stream.write(f);
    expect(late.frames).toEqual([key, a1, f]);
    expect(rider.frames).toEqual([a1, f]);
  });

  it('held audio reaches its readers before a new audio configuration does', () => {
    const { stream, rider } = setup();
    const a1 = a();
    stream.write(a1);
    stream.setTrack(audio2);
    expect(rider.log).toEqual(['c', a1, 'u', 'd:44100']);
  });

  it('held audio reaches its readers before they hear the publisher left', () => {
    const { stream, rider } = setup();
    const a1 = a();
    stream.write(a1);
    stream.end('publisher left');
    expect(rider.log).toEqual(['c', a1, 'u', 'o']);
    vi.advanceTimersByTime(AUDIO_HOLD_MS * 2);
    expect(rider.frames).toEqual([a1]);
  });

  it('holds nothing once the last reader that lets it has gone', () => {
    const { stream, plain, riderReader } = setup();
    stream.detach(riderReader);
    const a1 = a();
    stream.write(a1);
    expect(plain.frames).toEqual([a1]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('attaching the same reader twice counts it once', () => {
    const { stream, plain, riderReader } = setup();
    stream.attach(riderReader);
    stream.detach(riderReader);
    stream.write(a());
    expect(vi.getTimerCount()).toBe(0);
    expect(plain.frames.length).toBe(1);
  });
});
