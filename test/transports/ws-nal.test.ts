import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import type { Frame } from '../../src/stream/types.js';
import { readMediaHeader } from '../../src/protocols/ws-nal/media-header.js';
import { MAX_SERVED_KEYFRAME_BYTES } from '../../transports/ws-nal/keyframe-route.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let consoleLog: ReturnType<typeof vi.spyOn>;
const publishers: Publisher[] = [];
const clients: NalClient[] = [];

function pub(path: string, o: Parameters<typeof publish>[1] = {}): Publisher {
  const p = publish(srv.rtmpUrl(path), o);
  publishers.push(p);
  return p;
}

function viewer(path: string, suffix = 'ws/nal'): NalClient {
  const c = new NalClient(srv.wsUrl(path, suffix));
  clients.push(c);
  return c;
}

function nalTypes(annexB: Buffer): number[] {
  const types: number[] = [];
  for (let i = 0; i + 3 < annexB.length; i++) {
    if (annexB[i] === 0 && annexB[i + 1] === 0 && annexB[i + 2] === 1) {
      types.push(annexB[i + 3]! & 0x1f);
      i += 3;
    }
  }
  return types;
}

beforeAll(async () => {
  consoleLog = vi.spyOn(console, 'log');
  srv = await startServer('writeQueueSize: 64\npaths:\n  live/slow:\n    maxReaders: 4\n  ~^live/.+$:\n');
});

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await Promise.all(publishers.map((p) => p.stop()));
  await srv.stop();
});

describe('ws-nal transport with real ffmpeg RTMP ingest', () => {
  it('sends hello, init, then a keyframe with SPS/PPS, with monotonic timestamps', async () => {
    pub('live/basic', { videoArgs: ['-bf', '2'] });
    const c = viewer('live/basic');
    await c.until(() => c.video.length >= 60 && c.audio.length >= 40, 20_000, '60 video and 40 audio frames');

    const first = c.events[0]!;
    expect(first.kind).toBe('text');
    expect((first.msg as { type: string }).type).toBe('hello');
    // Before any media: an init naming both tracks.
    const firstMedia = c.events.findIndex((e) => e.kind === 'media');
    const init = c.events.slice(0, firstMedia).map((e) => e.msg as Record<string, unknown>).filter((m) => m.type === 'init').at(-1)!;
    expect(init).toBeDefined();
    const video = init.video as { codec: string; codedWidth: number; codedHeight: number };
    const audio = init.audio as { codec: string; sampleRate: number; numberOfChannels: number };
    expect(video.codec).toMatch(/^avc1\.[0-9a-f]{6}$/);
    expect([video.codedWidth, video.codedHeight]).toEqual([640, 360]);
    expect(audio).toMatchObject({ codec: 'mp4a.40.2', sampleRate: 48000, numberOfChannels: 1 });

    const v = c.video;
    expect(v[0]!.flags & 1).toBe(1);
    expect(nalTypes(v[0]!.payload)).toEqual(expect.arrayContaining([7, 8, 5]));
    expect(v[0]!.payload.subarray(0, 4)).toEqual(Buffer.from([0, 0, 0, 1]));
    for (let i = 1; i < v.length; i++) expect(v[i]!.dts).toBeGreaterThan(v[i - 1]!.dts);
    const a = c.audio;
    for (let i = 1; i < a.length; i++) expect(a[i]!.dts).toBeGreaterThanOrEqual(a[i - 1]!.dts);
    // B-frames: presentation order differs from decode order somewhere, and pts >= dts.
    expect(v.some((m, i) => i > 0 && m.pts < v[i - 1]!.pts)).toBe(true);
    for (const m of v) expect(m.pts).toBeGreaterThanOrEqual(m.dts);
    // Keyframes every 30 frames, each self-contained.
    for (const m of v.filter((x) => x.flags & 1)) expect(nalTypes(m.payload)).toEqual(expect.arrayContaining([7, 8, 5]));
    // Server receive time is recent wall-clock time in µs.
    expect(Math.abs(v.at(-1)!.receivedAt / 1000 - Date.now())).toBeLessThan(5000);
  });

  it('starts a late viewer at once from the GOP cache, at a keyframe', async () => {
    pub('live/late');
    const early = viewer('live/late');
    await early.until(() => early.video.length >= 45, 20_000, 'stream running');
    const late = viewer('live/late');
    const t0 = Date.now();
    await late.until(() => late.video.length >= 1, 5000, 'first frame');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(late.video[0]!.flags & 1).toBe(1);
    // The cached GOP arrives as a burst: more than one frame at once.
    await late.until(() => late.video.length >= 2, 5000, 'second frame');
  });

  it("serves the newest keyframe over HTTP as the very message a new viewer's socket carries first", async () => {
    pub('live/keyframe');
    const running = viewer('live/keyframe');
    await running.until(() => running.video.length >= 45, 20_000, 'stream running');
    const fetchKeyframe = async (): Promise<Buffer> => {
      const res = await fetch(srv.httpUrl('/live/keyframe/ws/nal/keyframe'));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(Number(res.headers.get('x-frame-age-ms'))).toBeGreaterThanOrEqual(0);
      return Buffer.from(await res.arrayBuffer());
    };
    // A new GOP may start between the request and the socket: the same keyframe before and after pins the one the
    // socket must start with.
    let matched = false;
    for (let attempt = 0; attempt < 5 && !matched; attempt++) {
      const before = await fetchKeyframe();
      const late = viewer('live/keyframe');
      await late.until(() => late.video.length >= 1, 5000, 'first frame');
      const after = await fetchKeyframe();
      late.ws.terminate();
      if (!before.equals(after)) continue;
      const header = readMediaHeader(before);
      expect(header).toMatchObject({ type: 0x01, flags: 1 });
      const first = late.video[0]!;
      expect(first.pts).toBe((header as { pts: number }).pts);
      expect(Buffer.compare(first.payload, before.subarray(26))).toBe(0);
      // Annex B with its parameter sets ahead of the picture, as on the socket.
      expect(nalTypes(before.subarray(26)).slice(0, 3)).toEqual([7, 8, 5]);
      matched = true;
    }
    expect(matched).toBe(true);
    const idle = await fetch(srv.httpUrl('/live/nothing-here/ws/nal/keyframe'));
    expect(idle.status).toBe(404);
    expect(idle.headers.get('cache-control')).toBe('no-store');
  });

  it('does not serve a keyframe larger than 512 KiB over HTTP, which the socket still carries', async () => {
    // Lossless noise: every keyframe well over the limit.
    pub('live/bigkey', {
      audio: false,
      inputArgs: ['-f', 'lavfi', '-i', 'nullsrc=size=1280x720:rate=2,geq=lum=random(1)*255:cb=128:cr=128'],
      videoArgs: ['-qp', '0'],
      gop: 2,
    });
    const c = viewer('live/bigkey');
    await c.until(() => c.video.length >= 1, 20_000, 'a keyframe on the socket');
    expect(c.video[0]!.payload.byteLength).toBeGreaterThan(MAX_SERVED_KEYFRAME_BYTES);
    const res = await fetch(srv.httpUrl('/live/bigkey/ws/nal/keyframe'));
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('larger than 512 KiB');
  });

  it('keeps a late viewer whose GOP cache is more than its socket may hold fed with every frame after it', async () => {
    // Large frames: the cache a late viewer gets passes the 256 KB its socket may hold, and the rest waits in its
    // reader queue (64 frames here, video only so the GOP fits) until the socket has room again.
    pub('live/biggop', { audio: false, gop: 60, videoArgs: ['-b:v', '12M', '-minrate', '12M', '-maxrate', '12M', '-bufsize', '2M', '-x264-params', 'nal-hrd=cbr'] });
    const early = viewer('live/biggop');
    const sinceKey = () => early.video.length - 1 - early.video.findLastIndex((m) => (m.flags & 1) !== 0);
    await early.until(() => early.video.length >= 30 && sinceKey() >= 20 && sinceKey() <= 40, 20_000, 'the middle of a GOP');
    const late = viewer('live/biggop');
    await late.until(() => late.video.length >= 1, 5000, 'first frame');
    await late.until(() => late.video.length >= 120, 15_000, '120 frames');
    const cached = late.video.slice(0, 20).reduce((n, m) => n + m.payload.length, 0);
    expect(cached).toBeGreaterThan(256 * 1024);
    // No frame went missing: decode times advance by one frame interval (33 ms at 30 fps) throughout.
    const gaps = late.video.slice(1).map((m, i) => m.dts - late.video[i]!.dts);
    expect(Math.max(...gaps)).toBeLessThan(40_000);
    expect(late.video.filter((m) => m.flags & 2).length).toBe(0);
  });

  it('tells viewers at once when the publisher goes, and recovers when it comes back', async () => {
    const p1 = pub('live/restart');
    const c = viewer('live/restart');
    await c.until(() => c.video.length >= 10, 20_000, 'frames from the first publisher');
    await p1.stop();
    const stoppedAt = Date.now();
    await c.until(() => c.texts('offline').length >= 1, 5000, 'offline notice');
    // node-media-server would wait 30 s; readers must learn within a moment.
    expect(Date.now() - stoppedAt).toBeLessThan(3000);
    const before = c.video.length;
    const initsBefore = c.texts('init').length;
    pub('live/restart');
    await c.until(() => c.video.length >= before + 10, 20_000, 'frames from the second publisher');
    expect(c.texts('init').length).toBeGreaterThan(initsBefore);
    expect(c.video[before]!.flags & 1).toBe(1);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('refuses a second publisher on a live path, with a logged reason, and keeps the first', async () => {
    pub('live/dup');
    const c = viewer('live/dup');
    await c.until(() => c.video.length >= 10, 20_000, 'first publisher live');
    const second = pub('live/dup');
    const code = await second.exited;
    expect(code).not.toBe(0);
    const refusal = srv.logs.find((l) => l.msg === 'publish refused' && l.path === 'live/dup');
    expect(refusal?.reason).toMatch(/already has a publisher/);
    const n = c.video.length;
    await c.until(() => c.video.length >= n + 15, 10_000, 'first publisher still flowing');
  });

  it('closes only the client that sends a malformed message, with a reason', async () => {
    pub('live/garbage');
    const good = viewer('live/garbage');
    const badBinary = viewer('live/garbage');
    const badText = viewer('live/garbage');
    const badShape = viewer('live/garbage');
    await Promise.all([good, badBinary, badText, badShape].map((c) => c.until(() => c.video.length >= 5, 20_000, 'playing')));
    badBinary.ws.send(Buffer.from([0x99, 1, 2]));
    badText.ws.send('{not json');
    badShape.ws.send(Buffer.from([0x11, 1])); // mouse button needs 3 bytes
    expect(await badBinary.closed).toEqual({ code: 1003, reason: 'binary input type 0x99 unknown' });
    expect((await badText.closed).code).toBe(1007);
    expect((await badText.closed).reason).toMatch(/^invalid JSON/);
    expect((await badShape.closed).code).toBe(1008);
    const n = good.video.length;
    await good.until(() => good.video.length >= n + 15, 10_000, 'good client still playing');
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('answers pings with the server time, and obeys set_video_enabled', async () => {
    pub('live/control');
    const c = viewer('live/control');
    await c.until(() => c.video.length >= 5, 20_000, 'playing');
    c.ws.send(JSON.stringify({ type: 'ping', id: 7, t: 123.5 }));
    await c.until(() => c.texts('pong').length > 0, 5000, 'pong');
    const pong = c.texts('pong')[0]!;
    expect(pong).toMatchObject({ id: 7, t: 123.5 });
    expect(Math.abs((pong.serverTime as number) / 1000 - Date.now())).toBeLessThan(5000);

    c.ws.send(JSON.stringify({ set_video_enabled: false }));
    await new Promise((r) => setTimeout(r, 300));
    const v = c.video.length;
    const a = c.audio.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(c.video.length).toBe(v);
    expect(c.audio.length).toBeGreaterThan(a + 30);
    c.ws.send(JSON.stringify({ set_video_enabled: true }));
    await c.until(() => c.video.length > v, 5000, 'video resumed');
    expect(c.video[v]!.flags & 1).toBe(1);
  });

  it('relays valid viewer input to the input socket, and announces viewers', async () => {
    pub('live/input');
    const input = viewer('live/input', 'ws/input');
    await input.opened;
    const c = viewer('live/input');
    await c.until(() => c.video.length >= 1, 20_000, 'playing');
    await input.until(() => input.texts('viewer').length >= 1, 5000, 'join event');
    expect(input.texts('viewer')[0]).toMatchObject({ event: 'join' });
    const key = Buffer.from([0x10, 1, 0b0010, 4, ...Buffer.from('KeyA')]);
    const move = Buffer.from([0x12, 0x80, 0x00, 0x40, 0x00]);
    c.ws.send(key);
    c.ws.send(move);
    await input.until(() => input.binaries.length >= 2, 5000, 'relayed input');
    expect(input.binaries[0]).toEqual(key);
    expect(input.binaries[1]).toEqual(move);
  });

  it('closes a viewer of an unconfigured path with 4404', async () => {
    const c = viewer('nope/x');
    const closed = await c.closed;
    expect(closed.code).toBe(4404);
    expect(closed.reason).toMatch(/not configured/);
  });

  it('keeps a slow reader bounded and loses whole GOPs only, while a fast reader loses nothing', async () => {
    // Incompressible noise at a high bitrate fills the slow reader's TCP buffers quickly.
    pub('live/slow', {
      inputArgs: ['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30,noise=alls=80:allf=t'],
      audio: false,
      videoArgs: ['-b:v', '20M', '-maxrate', '20M', '-bufsize', '4M'],
    });
    const fast = viewer('live/slow');
    const slow = viewer('live/slow');
    await Promise.all([fast, slow].map((c) => c.until(() => c.video.length >= 5, 20_000, 'playing')));
    // Stop reading: the server must not buffer without bound.
    const rawSocket = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
    rawSocket.pause();
    const path = srv.server.paths.get('live/slow')!;
    const slowReader = [...path.readers].find((r) => r.info.remoteAddress.endsWith(`:${rawSocket.localPort}`))!;
    expect(slowReader).toBeDefined();
    let maxQueued = 0;
    const deadline = Date.now() + 40_000;
    while (slowReader.stats.framesDropped === 0 && Date.now() < deadline) {
      maxQueued = Math.max(maxQueued, slowReader.queued);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(slowReader.stats.framesDropped).toBeGreaterThan(0);
    expect(maxQueued).toBeLessThanOrEqual(64);
    const droppedWhilePaused = slowReader.stats.framesDropped;
    rawSocket.resume();
    const seen = slow.video.length;
    await slow.until(() => slow.video.some((m, i) => i >= seen && (m.flags & 2) !== 0), 20_000, 'a discontinuity-flagged frame');
    const resumeAt = slow.video.findIndex((m, i) => i >= seen && (m.flags & 2) !== 0);
    // Frames resume at a keyframe: never part of a GOP.
    expect(slow.video[resumeAt]!.flags & 1).toBe(1);
    expect(droppedWhilePaused).toBeGreaterThan(0);
    // The fast reader saw every frame: DTS advances by one frame interval (33 ms) at a time.
    const dts = fast.video.map((m) => m.dts);
    for (let i = 1; i < dts.length; i++) expect(dts[i]! - dts[i - 1]!).toBeLessThanOrEqual(40_000);
  }, 90_000);

  it('hands frames to readers intact: buffers are not reused under a reader holding them', async () => {
    pub('live/intact');
    const c = viewer('live/intact');
    await c.until(() => c.video.length >= 1, 20_000, 'playing');
    const path = srv.server.paths.get('live/intact')!;
    const held: Array<{ frame: Frame; hash: string }> = [];
    const sink: ReaderSink = {
      writable: () => true,
      write: (frame) => {
        if (held.length < 100) held.push({ frame, hash: createHash('sha1').update(frame.data).digest('hex') });
      },
      describe: () => undefined,
      offline: () => undefined,
    };
    const reader = new Reader({ id: 'holder', protocol: 'test', remoteAddress: 'in-process' }, sink, 16);
    path.addReader(reader);
    await c.until(() => held.length >= 100, 20_000, '100 held frames');
    await new Promise((r) => setTimeout(r, 500));
    for (const { frame, hash } of held) expect(createHash('sha1').update(frame.data).digest('hex')).toBe(hash);
    path.removeReader(reader, 'done');
  });

  it('logs RTMP ingest into the server log, never to the console', () => {
    expect(srv.logs.some((l) => l.module === 'rtmp' && l.msg === 'publisher connected')).toBe(true);
    expect(consoleLog).not.toHaveBeenCalled();
  });
});
