import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RtwsFmpViewer } from '../../transports/ws-fmp4/rtws-session.js';
import type { WsFmp4Transport } from '../../transports/ws-fmp4/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { segmentInfo, topLevelBoxes } from '../helpers/mp4.js';
import { NalClient } from '../helpers/nal-client.js';
import { RtwsClient } from '../helpers/rtws-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
const publishers: Publisher[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n');
});

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await Promise.all(publishers.map((p) => p.stop()));
  await srv.stop();
});

function pub(path: string, o: Parameters<typeof publish>[1] = {}): Publisher {
  const p = publish(srv.rtmpUrl(path), o);
  publishers.push(p);
  return p;
}

function rtws(path: string): RtwsClient {
  const c = new RtwsClient(srv.wsUrl(path, 'ws/fmp4?protocol=rtwebsocket'));
  sockets.push(c.ws);
  return c;
}

const fmp4 = (srv: TestServer) => srv.server.transports.find((t) => t.name === 'ws-fmp4') as WsFmp4Transport;

describe('ws-fmp4, standard variant', () => {
  it('sends an init message with the MIME type, an init segment, then one-frame segments ffprobe reads', async () => {
    pub('live/std', { videoArgs: ['-bf', '2'] });
    const ws = new WebSocket(srv.wsUrl('live/std', 'ws/fmp4?protocol=standard'));
    sockets.push(ws);
    const texts: Array<Record<string, unknown>> = [];
    const binaries: Buffer[] = [];
    ws.on('message', (d: Buffer, isBinary) => (isBinary ? binaries.push(d) : texts.push(JSON.parse(d.toString()) as Record<string, unknown>)));
    const deadline = Date.now() + 20_000;
    while (binaries.length < 120 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(texts[0]).toMatchObject({ type: 'hello', protocol: 'standard' });
    const init = texts.find((t) => t.type === 'init')!;
    expect(init.mime).toMatch(/^video\/mp4; codecs="avc1\.[0-9a-f]{6}, mp4a\.40\.2"$/);
    // The last init segment starts the run we check (audio config may follow video's).
    const lastInit = binaries.map((b, i) => [b, i] as const).filter(([b]) => topLevelBoxes(b)[0]?.type === 'ftyp').at(-1)![1];
    const media = binaries.slice(lastInit + 1);
    expect(media.length).toBeGreaterThan(60);
    const first = segmentInfo(media.find((m) => segmentInfo(m).trackId === 1)!);
    expect(first.firstIsSync).toBe(true);
    for (const m of media) expect(topLevelBoxes(m).map((b) => b.type)).toEqual(['moof', 'mdat']);

    const dir = mkdtempSync(join(tmpdir(), 'polycast-fmp4-'));
    const file = join(dir, 'out.mp4');
    writeFileSync(file, Buffer.concat([binaries[lastInit]!, ...media]));
    const probe = JSON.parse(
      execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-count_packets', '-of', 'json', file]).toString(),
    ) as { streams: Array<{ codec_name: string; width?: number; height?: number; sample_rate?: string; nb_read_packets: string }> };
    const video = probe.streams.find((s) => s.codec_name === 'h264')!;
    const audio = probe.streams.find((s) => s.codec_name === 'aac')!;
    expect([video.width, video.height]).toEqual([640, 360]);
    expect(audio.sample_rate).toBe('48000');
    const videoSegments = media.filter((m) => segmentInfo(m).trackId === 1).length;
    expect(Number(video.nb_read_packets)).toBe(videoSegments);
    // And it decodes cleanly.
    execFileSync('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
    ws.close();
  });

  it('closes a standard client that sends binary, leaving others alone', async () => {
    pub('live/std2');
    const bad = new WebSocket(srv.wsUrl('live/std2', 'ws/fmp4?protocol=standard'));
    const good = new WebSocket(srv.wsUrl('live/std2', 'ws/fmp4?protocol=standard'));
    sockets.push(bad, good);
    let goodCount = 0;
    good.on('message', (_d, isBinary) => isBinary && goodCount++);
    await new Promise((r) => bad.once('open', r));
    const closed = new Promise<[number, string]>((r) => bad.once('close', (code, reason) => r([code, reason.toString()])));
    bad.send(Buffer.from([1, 2, 3]));
    const [code, reason] = await closed;
    expect(code).toBe(1003);
    expect(reason).toMatch(/binary messages are not accepted/);
    const n = goodCount;
    const deadline = Date.now() + 10_000;
    while (goodCount < n + 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(goodCount).toBeGreaterThanOrEqual(n + 20);
  });
});

describe('ws-fmp4, RTWebSocket variant', () => {
  it('opens a control flow and one flow per track, each starting with its init segment', async () => {
    pub('live/rt');
    const c = rtws('live/rt');
    await c.opened;
    await c.until(() => c.video().length >= 30 && c.audio().length >= 20, 20_000, 'media on both flows');
    expect(c.control[0]).toMatchObject({ type: 'hello', protocol: 'rtwebsocket' });
    expect(c.control.some((m) => m.type === 'init')).toBe(true);
    const v = c.tracks.filter((t) => t.meta.kind === 'video').at(-1)!;
    const a = c.tracks.filter((t) => t.meta.kind === 'audio').at(-1)!;
    expect(v.meta.mime).toMatch(/^video\/mp4; codecs="avc1\./);
    expect(a.meta).toMatchObject({ mime: 'audio/mp4; codecs="mp4a.40.2"', sampleRate: 48000 });
    expect(topLevelBoxes(v.messages[0]!.bytes)[0]!.type).toBe('ftyp');
    expect(topLevelBoxes(a.messages[0]!.bytes)[0]!.type).toBe('ftyp');
    expect(segmentInfo(v.messages[1]!.bytes).firstIsSync).toBe(true);
    expect(segmentInfo(a.messages[1]!.bytes).trackId).toBe(2);
    // Control over the return flow: ping answered on the control flow.
    c.sendControl({ type: 'ping', id: 42, t: 1 });
    await c.until(() => c.control.some((m) => m.type === 'pong' && m.id === 42), 5000, 'pong');
    c.close();
  });

  it('closes a client whose return flow sends a non-JSON message', async () => {
    pub('live/rtbad');
    const c = rtws('live/rtbad');
    await c.opened;
    await c.until(() => c.clientFlow !== undefined && c.video().length > 2, 20_000, 'client flow');
    c.clientFlow!.write(new Uint8Array([0x10, 1, 2]));
    await c.until(() => c.closed !== undefined, 5000, 'close');
    expect(c.closed).toMatchObject({ code: 1008, reason: 'client flow messages must be JSON objects' });
  });

  it('closes a client that sends a text frame with 1003 (a standard-variant client on the RTWebSocket endpoint), leaving others alone', async () => {
    pub('live/rttext');
    const bad = rtws('live/rttext');
    const good = rtws('live/rttext');
    await Promise.all([bad.opened, good.opened]);
    await bad.until(() => bad.video().length > 2, 20_000, 'media');
    bad.ws.send(JSON.stringify({ type: 'ping', id: 1, t: 0 }));
    await bad.until(() => bad.closed !== undefined, 5000, 'close');
    expect(bad.closed).toEqual({ code: 1003, reason: 'text messages are not part of RTWebSocket; JSON control goes on ?protocol=standard' });
    const n = good.video().length;
    await good.until(() => good.video().length >= n + 20, 10_000, 'the other viewer keeps playing');
    expect(good.closed).toBeUndefined();
    good.close();
  });

  it('a viewer rejecting its track flows (flow exception) never reaches the publisher or another viewer; its tracks reopen, then it is closed', async () => {
    const publisher = pub('live/reject');
    const nal = new NalClient(srv.wsUrl('live/reject'));
    sockets.push(nal.ws);
    const c = rtws('live/reject');
    await Promise.all([c.opened, nal.opened]);
    await c.until(() => c.video().length >= 10 && c.audio().length >= 10, 20_000, 'media on both flows');
    await nal.until(() => nal.video.length >= 10, 20_000, 'ws-nal video');
    const nalFrom = nal.video.length;
    const flowsOf = (kind: string) => c.tracks.filter((t) => t.meta.kind === kind);

    // A legitimate 0x5e from the viewer: the receive flow's close(code, description).
    const reject = async (kind: string, round: number) => {
      flowsOf(kind).at(-1)!.flow.close(7, `${kind} decoder failed`);
      await c.until(() => flowsOf(kind).length === round + 1 && flowsOf(kind).at(-1)!.messages.length >= 3, 20_000, `${kind} flow reopened`);
      const reopened = flowsOf(kind).at(-1)!.messages;
      expect(topLevelBoxes(reopened[0]!.bytes)[0]!.type).toBe('ftyp');
      // Video on a new flow starts at a keyframe, like any new flow.
      expect(segmentInfo(reopened[1]!.bytes).firstIsSync).toBe(true);
    };
    await reject('audio', 1);
    await reject('video', 1);
    await reject('video', 2);
    expect(c.closed).toBeUndefined();
    // The fourth rejection is one too many: this viewer is closed with the reason, and only it.
    flowsOf('audio').at(-1)!.flow.close(7, 'again');
    await c.until(() => c.closed !== undefined, 10_000, 'close');
    expect(c.closed).toMatchObject({ code: 1008 });
    expect(c.closed!.reason).toMatch(/^audio flow rejected \(7: again\), 4 track flows rejected$/);

    // The ws-nal viewer got every frame throughout (no gap in presentation times), and keeps getting them.
    const nalUpTo = nal.video.length + 60;
    await nal.until(() => nal.video.length >= nalUpTo, 20_000, '60 more ws-nal frames');
    const frames = nal.video.slice(nalFrom).sort((x, y) => x.pts - y.pts);
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.pts - frames[i - 1]!.pts).toBeLessThanOrEqual(34_000);
    expect(nal.closeInfo).toBeUndefined();
    // The publisher was never disconnected.
    expect(publisher.child.exitCode).toBeNull();
    expect(srv.logs.filter((l) => l.msg === 'closing publisher' || l.msg === 'closing reader: its transport failed')).toEqual([]);
    nal.close();
  }, 60_000);

  it('keeps a reader throttled to half the bitrate within its budget by abandoning whole GOPs, and it recovers; a fast reader loses nothing', async () => {
    pub('live/throttle', {
      inputArgs: ['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30,noise=alls=60:allf=t'],
      audio: false,
      videoArgs: ['-b:v', '3M', '-maxrate', '3M', '-bufsize', '1M'],
    });
    const fast = rtws('live/throttle');
    const slow = rtws('live/throttle');
    await Promise.all([fast.opened, slow.opened]);
    await Promise.all([fast, slow].map((c) => c.until(() => c.video().length >= 40, 20_000, 'playing')));

    // Measure the stream's bitrate on the fast reader.
    const bytesAt = (c: RtwsClient) => c.video().reduce((n, m) => n + m.bytes.byteLength, 0);
    const b0 = bytesAt(fast);
    await new Promise((r) => setTimeout(r, 2000));
    const bytesPerSecond = (bytesAt(fast) - b0) / 2;
    expect(bytesPerSecond).toBeGreaterThan(150_000);

    // Throttle the slow reader's socket to half that rate.
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    const rate = bytesPerSecond / 2;
    let allowance = 0;
    let throttling = true;
    socket.on('data', (d: Buffer) => {
      allowance -= d.length;
      if (throttling && allowance < 0) socket.pause();
    });
    const refill = setInterval(() => {
      allowance = Math.min(allowance + rate / 20, rate / 10);
      if (allowance > 0) socket.resume();
    }, 50);

    const viewer = [...fmp4(srv).viewers].find((v) => v instanceof RtwsFmpViewer && v.id === (slow.control[0]!.id as string)) as RtwsFmpViewer;
    expect(viewer).toBeDefined();
    let maxQueued = 0;
    const throttleEnd = Date.now() + 8000;
    while (Date.now() < throttleEnd) {
      const queued = (viewer as unknown as { tracks?: { video?: { bufferLength: number } } }).tracks?.video?.bufferLength ?? 0;
      maxQueued = Math.max(maxQueued, queued + viewer.conn.bytesInFlight);
      await new Promise((r) => setTimeout(r, 50));
    }
    throttling = false;
    clearInterval(refill);
    socket.resume();
    const liftedAt = performance.timeOrigin + performance.now();
    await new Promise((r) => setTimeout(r, 3000));

    // Never more than 2 s of media held for the slow reader on the server.
    expect(maxQueued).toBeLessThan(2 * bytesPerSecond);
    expect(viewer.abandoned).toBeGreaterThan(0);

    // Latency: arrival minus media time, relative to the fast reader's best.
    const offsetOf = (m: { bytes: Uint8Array; arrivedAt: number }) => m.arrivedAt - segmentInfo(m.bytes).baseDecodeTime / 90;
    const media = (c: RtwsClient) => c.tracks.filter((t) => t.meta.kind === 'video').at(-1)!.messages.slice(1);
    const base = Math.min(...media(fast).map(offsetOf));
    const slowMedia = media(slow);
    const during = slowMedia.filter((m) => m.arrivedAt < liftedAt).map((m) => offsetOf(m) - base);
    const recovered = slowMedia.filter((m) => m.arrivedAt > liftedAt + 2000).map((m) => offsetOf(m) - base);
    expect(Math.max(...during)).toBeLessThan(2000);
    expect(recovered.length).toBeGreaterThan(10);
    expect(Math.max(...recovered)).toBeLessThan(300);

    // After every gap (abandoned messages) the next video segment is a keyframe: whole GOPs only.
    let gaps = 0;
    for (let i = 1; i < slowMedia.length; i++) {
      if (slowMedia[i]!.messageNumber !== slowMedia[i - 1]!.messageNumber + 1) {
        gaps++;
        expect(segmentInfo(slowMedia[i]!.bytes).firstIsSync).toBe(true);
      }
    }
    expect(gaps).toBeGreaterThan(0);
    // The fast reader got every message.
    const fastMedia = media(fast);
    for (let i = 1; i < fastMedia.length; i++) expect(fastMedia[i]!.messageNumber).toBe(fastMedia[i - 1]!.messageNumber + 1);
  }, 60_000);
});
