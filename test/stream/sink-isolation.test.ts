import { describe, expect, it } from 'vitest';
import { Path } from '../../src/stream/path.js';
import { Reader, type KickCode, type ReaderSink, type SinkMethod } from '../../src/stream/reader.js';
import type { AacTrackInfo, Frame, H264TrackInfo, StreamDescription } from '../../src/stream/types.js';

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

/** Records everything; throws from `failIn` once `armed` (every call from then on, as a broken transport would). */
class Sink implements ReaderSink {
  frames: Frame[] = [];
  descriptions: StreamDescription[] = [];
  offlines: string[] = [];
  calls: Record<SinkMethod, number> = { writable: 0, write: 0, describe: 0, offline: 0, cork: 0, uncork: 0 };
  open = true;
  armed = false;

  constructor(private readonly failIn?: SinkMethod) {}

  private maybeThrow(method: SinkMethod): void {
    this.calls[method]++;
    if (this.armed && method === this.failIn) throw new Error(`${method} exploded`);
  }

  writable(): boolean {
    this.maybeThrow('writable');
    return this.open;
  }
  write(frame: Frame): void {
    this.maybeThrow('write');
    this.frames.push(frame);
  }
  describe(description: StreamDescription): void {
    this.maybeThrow('describe');
    this.descriptions.push(description);
  }
  offline(reason: string): void {
    this.maybeThrow('offline');
    this.offlines.push(reason);
  }
  cork(): void {
    this.maybeThrow('cork');
  }
  uncork(): void {
    this.maybeThrow('uncork');
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(failIn: SinkMethod) {
  const path = new Path('cam', { maxReaders: 0, overridePublisher: false }, false);
  const kicks: Array<{ id: string; reason: string; code: KickCode }> = [];
  const failures: Array<{ id: string; method: SinkMethod; error: unknown }> = [];
  const removed: Array<{ id: string; reason: string }> = [];
  path.on('readerFailed', (reader, method, error) => failures.push({ id: reader.info.id, method, error }));
  path.on('readerRemoved', (reader, reason) => removed.push({ id: reader.info.id, reason }));
  const make = (id: string, sink: Sink) => {
    const reader = new Reader({ id, protocol: 'test', remoteAddress: 'x' }, sink, 64);
    // As the WebSocket endpoint does: a kick closes the session, which removes the reader.
    reader.kick = (reason, code) => {
      kicks.push({ id, reason, code });
      path.removeReader(reader, reason);
    };
    return reader;
  };
  const good1 = new Sink();
  const bad = new Sink(failIn);
  const good2 = new Sink();
  // The broken reader sits between two others: the fan-out must go on past it.
  const readers = [make('good1', good1), make('bad', bad), make('good2', good2)];
  for (const r of readers) path.addReader(r);
  const stream = path.startPublish({ id: 'pub', protocol: 'rtmp', remoteAddress: 'y', kick: () => undefined });
  stream.setTrack(video);
  stream.setTrack(audio);
  return { path, stream, good1, bad, good2, kicks, failures, removed };
}

function gop(n: number): Frame[] {
  const frames = [v(true)];
  for (let i = 1; i < n; i++) frames.push(i % 2 ? a() : v());
  return frames;
}

async function expectIsolated(s: ReturnType<typeof setup>, method: SinkMethod): Promise<void> {
  await settle();
  expect(s.failures).toHaveLength(1);
  expect(s.failures[0]).toMatchObject({ id: 'bad', method });
  expect((s.failures[0]!.error as Error).message).toBe(`${method} exploded`);
  expect(s.kicks).toEqual([{ id: 'bad', code: 1011, reason: `internal error: ${method} failed: ${method} exploded` }]);
  expect(s.removed.map((r) => r.id)).toEqual(['bad']);
  expect([...s.path.readers].map((r) => r.info.id)).toEqual(['good1', 'good2']);
  expect(s.path.publisher?.id).toBe('pub');
  // Closed once: no sink call reaches the broken reader after its failure.
  const callsAfter = { ...s.bad.calls };
  for (const f of gop(10)) expect(() => s.stream.write(f)).not.toThrow();
  expect(s.bad.calls).toEqual(callsAfter);
}

describe('a throwing sink costs only its own reader', () => {
  it('writable() throwing: the stream goes on, the others get every frame, the reader is kicked once with 1011', async () => {
    const s = setup('writable');
    const first = gop(6);
    for (const f of first) s.stream.write(f);
    s.bad.armed = true;
    const second = gop(30);
    for (const f of second) expect(s.stream.write(f)).toBe(false);
    expect(s.bad.calls.writable).toBe(first.length + 1);
    for (const sink of [s.good1, s.good2]) expect(sink.frames).toEqual([...first, ...second]);
    await expectIsolated(s, 'writable');
    expect(s.good1.frames).toEqual(s.good2.frames);
    expect(s.good1.frames.length).toBe(first.length + second.length + 10);
  });

  it('write() throwing, also when reached from resume() (a transport drain): nothing escapes', async () => {
    const s = setup('write');
    for (const f of gop(4)) s.stream.write(f);
    // Let frames queue for the broken reader, then make the drain throw.
    s.bad.open = false;
    const queued = gop(8);
    for (const f of queued) s.stream.write(f);
    s.bad.open = true;
    s.bad.armed = true;
    const reader = [...s.path.readers].find((r) => r.info.id === 'bad')!;
    expect(reader.queued).toBe(queued.length);
    expect(() => reader.resume()).not.toThrow();
    expect(reader.queued).toBe(0);
    expect(s.bad.calls.write).toBe(4 + 1);
    for (const sink of [s.good1, s.good2]) expect(sink.frames.length).toBe(4 + queued.length);
    await expectIsolated(s, 'write');
  });

  it('describe() throwing on a new configuration: the others are described and go on at the next keyframe', async () => {
    const s = setup('describe');
    for (const f of gop(4)) s.stream.write(f);
    s.bad.armed = true;
    expect(() => s.stream.setTrack(video2)).not.toThrow();
    for (const sink of [s.good1, s.good2]) expect(sink.descriptions.at(-1)?.video).toBe(video2);
    const after = gop(6);
    for (const f of after) s.stream.write(f);
    for (const sink of [s.good1, s.good2]) expect(sink.frames.slice(-after.length)).toEqual(after);
    await expectIsolated(s, 'describe');
  });

  it('describe() throwing on the very first frame does not fail the publisher', async () => {
    const path = new Path('cam', { maxReaders: 0, overridePublisher: false }, false);
    const bad = new Sink('describe');
    bad.armed = true;
    const good = new Sink();
    const badReader = new Reader({ id: 'bad', protocol: 'test', remoteAddress: 'x' }, bad, 64);
    path.addReader(badReader);
    path.addReader(new Reader({ id: 'good', protocol: 'test', remoteAddress: 'x' }, good, 64));
    const stream = path.startPublish({ id: 'pub', protocol: 'rtmp', remoteAddress: 'y', kick: () => undefined });
    stream.setTrack(video);
    const frames = gop(5);
    expect(stream.write(frames[0]!)).toBe(true);
    for (const f of frames.slice(1)) stream.write(f);
    expect(good.frames).toEqual(frames.filter((f) => f.kind === 'video'));
    await settle();
    // No kick set: the path lets go of the reader itself.
    expect([...path.readers].map((r) => r.info.id)).toEqual(['good']);
    expect(stream.readerCount).toBe(1);
  });

  it('offline() throwing when the publisher leaves: the others hear of it and pick up the next publisher', async () => {
    const s = setup('offline');
    for (const f of gop(4)) s.stream.write(f);
    s.bad.armed = true;
    expect(() => s.path.endPublish(s.stream, 'publisher left')).not.toThrow();
    for (const sink of [s.good1, s.good2]) expect(sink.offlines).toEqual(['no publisher yet', 'publisher left']);
    await settle();
    expect(s.kicks).toEqual([{ id: 'bad', code: 1011, reason: 'internal error: offline failed: offline exploded' }]);
    expect([...s.path.readers].map((r) => r.info.id)).toEqual(['good1', 'good2']);
    const next = s.path.startPublish({ id: 'pub2', protocol: 'rtmp', remoteAddress: 'y', kick: () => undefined });
    next.setTrack(video);
    const frames = gop(4).filter((f) => f.kind === 'video');
    for (const f of frames) next.write(f);
    for (const sink of [s.good1, s.good2]) expect(sink.frames.slice(-frames.length)).toEqual(frames);
  });

  it('offline() throwing when a reader joins a path without publisher does not fail the join', async () => {
    const path = new Path('cam', { maxReaders: 0, overridePublisher: false }, false);
    const bad = new Sink('offline');
    bad.armed = true;
    const reader = new Reader({ id: 'bad', protocol: 'test', remoteAddress: 'x' }, bad, 64);
    expect(() => path.addReader(reader)).not.toThrow();
    await settle();
    expect(path.readers.size).toBe(0);
  });

  it('a kick that throws still takes the reader off the path', async () => {
    const s = setup('write');
    const reader = [...s.path.readers].find((r) => r.info.id === 'bad')!;
    reader.kick = () => {
      throw new Error('the transport is broken too');
    };
    for (const f of gop(3)) s.stream.write(f);
    s.bad.armed = true;
    for (const f of gop(3)) s.stream.write(f);
    await settle();
    expect([...s.path.readers].map((r) => r.info.id)).toEqual(['good1', 'good2']);
    expect(s.removed).toEqual([{ id: 'bad', reason: 'internal error: write failed: write exploded' }]);
  });
});
