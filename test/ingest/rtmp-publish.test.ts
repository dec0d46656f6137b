/**
 * The RTMP server's own protocol behaviour with real clients: ffmpeg as
 * publisher and as (refused) reader, and a scripted client for what ffmpeg
 * cannot be made to send (HEVC in FLV, malformed commands, idle handshakes).
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAmf0 } from '../../src/protocols/rtmp/amf0.js';
import { MessageType } from '../../src/protocols/rtmp/chunk-reader.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TestRtmpClient } from '../rtmp/client.js';

let srv: TestServer;
const publishers: Publisher[] = [];
const clients: TestRtmpClient[] = [];

beforeAll(async () => {
  srv = await startServer(
    [
      'readTimeout: 3s',
      'rtmpMaxUnauthenticatedPerIP: 6',
      'authInternalUsers:',
      '  - user: any',
      '    permissions: [{ action: read }, { action: publish, path: ~^(?!secure/) }]',
      '  - user: studio',
      '    pass: s3cret',
      '    permissions: [{ action: publish, path: ~^secure/ }]',
      'paths:',
      '  all_others:',
    ].join('\n'),
  );
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(publishers.map((p) => p.stop()));
  await srv.stop();
});

async function client(): Promise<TestRtmpClient> {
  const c = await TestRtmpClient.connect(srv.rtmpPort);
  clients.push(c);
  await c.handshake();
  return c;
}

function ffmpeg(args: string[]): { exited: Promise<number | null>; stderr: () => string } {
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return { exited: new Promise((r) => child.on('exit', (code) => (clearTimeout(timer), r(code)))), stderr: () => err };
}

const logged = (msg: string, pred: (l: Record<string, unknown>) => boolean = () => true) => srv.logs.filter((l) => l.msg === msg && pred(l));

describe('RTMP publishing with ffmpeg', () => {
  it('carries a deep path with credentials in the query, published with -rtmp_live live', async () => {
    const p = publish(srv.rtmpUrl('secure/a/b/c?user=studio&pass=s3cret'), { size: '320x240', videoArgs: ['-rtmp_live', 'live'] });
    publishers.push(p);
    const c = new NalClient(srv.wsUrl('secure/a/b/c'));
    await c.until(() => c.video.length >= 10 && c.audio.length >= 10, 20_000, 'audio and video');
    c.close();
    const conn = srv.server.paths.get('secure/a/b/c')!.publisher!;
    expect(conn.query).toBe('user=studio&pass=redacted');
    await p.stop();
  });

  it('refuses wrong credentials with NetStream.Publish.BadAuth, which ffmpeg reports', async () => {
    const p = publish(srv.rtmpUrl('secure/cam?user=studio&pass=wrong'), { audio: false, duration: 5 });
    publishers.push(p);
    expect(await p.exited).not.toBe(0);
    expect(logged('publish refused', (l) => l.path === 'secure/cam')).toHaveLength(1);
  });

  it('answers ffmpeg as a reader (digest handshake, which ffmpeg verifies) with NetStream.Play.Failed', async () => {
    const r = ffmpeg(['-i', srv.rtmpUrl('live/nobody'), '-f', 'null', '-']);
    expect(await r.exited).not.toBe(0);
    expect(r.stderr()).toContain('reading over RTMP is not supported');
    expect(r.stderr()).not.toMatch(/validating failed/i);
    expect(logged('RTMP handshake').map((l) => l.kind)).toContain('digest');
  });
});

describe('RTMP codecs Polycast cannot carry (issue 9, fault 7)', () => {
  it('refuses an MP3-only publish from ffmpeg, naming the codec, and tells readers', async () => {
    const reader = new NalClient(srv.wsUrl('live/mp3only'));
    await reader.until(() => reader.texts('offline').length >= 1, 5000, 'offline: no publisher yet');
    const r = ffmpeg(['-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '10', '-c:a', 'libmp3lame', '-f', 'flv', srv.rtmpUrl('live/mp3only')]);
    expect(await r.exited).not.toBe(0);
    expect(r.stderr()).toContain('audio codec MP3 (FLV sound format 2) is not supported; Polycast carries H.264, HEVC, AV1 and VP9 video (the last three over enhanced RTMP) and AAC and Opus audio');
    await reader.until(() => reader.texts('offline').some((m) => String(m.reason).includes('MP3')), 5000, 'offline naming MP3');
    reader.close();
  });

  it('carries the H.264 of an H.264 + MP3 publish and warns once about the MP3', async () => {
    const r = spawn(
      'ffmpeg',
      ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '30', '-c:a', 'libmp3lame', '-f', 'flv', srv.rtmpUrl('live/h264mp3')],
      { stdio: 'ignore' },
    );
    try {
      const c = new NalClient(srv.wsUrl('live/h264mp3'));
      await c.until(() => c.video.length >= 30, 20_000, 'video frames');
      expect(c.audio).toHaveLength(0);
      c.close();
      const warnings = logged('ignoring a track Polycast cannot carry', (l) => l.path === 'live/h264mp3');
      expect(warnings.map((l) => l.reason)).toEqual(['audio codec MP3 (FLV sound format 2) is not supported; Polycast carries H.264, HEVC, AV1 and VP9 video (the last three over enhanced RTMP) and AAC and Opus audio']);
      expect(warnings[0]!.level).toBe(40);
    } finally {
      r.kill('SIGKILL');
    }
  });

  it.each([
    ['legacy FLV codec id 12', Buffer.from([0x1c, 0, 0, 0, 0, 1, 2, 3]), Buffer.from([0x2c, 1, 0, 0, 0, 0, 0, 0, 4, 0x26, 1]), 'video codec HEVC (FLV codec id 12) is not supported; Polycast carries H.264, HEVC, AV1 and VP9 video (the last three over enhanced RTMP) and AAC and Opus audio'],
    ['enhanced-RTMP FourCC vp08', Buffer.from([0x90, 0x76, 0x70, 0x30, 0x38, 1, 2, 3]), Buffer.from([0x91, 0x76, 0x70, 0x30, 0x38, 0, 0, 0, 0, 0, 4]), 'video codec VP8 (FourCC vp08) is not supported; Polycast carries H.264, HEVC, AV1 and VP9 video (the last three over enhanced RTMP) and AAC and Opus audio'],
  ])('refuses a publish whose only video Polycast cannot carry (%s) with NetStream.Publish.Rejected; readers go offline with the reason', async (_, header, frame, description) => {
    const name = `hevc${header[0]!.toString(16)}`;
    const reader = new NalClient(srv.wsUrl(`live/${name}`));
    await reader.until(() => reader.texts('offline').length >= 1, 5000, 'offline: no publisher yet');
    const c = await client();
    expect(await c.publish('live', name)).toMatchObject({ level: 'status', code: 'NetStream.Publish.Start' });
    c.send({ csid: 4, type: MessageType.dataAmf0, streamId: 1, timestamp: 0, payload: encodeAmf0('@setDataFrame', 'onMetaData', { videocodecid: header[0] === 0x1c ? 12 : 0x76703038, width: 320, height: 240 }) });
    c.media(MessageType.video, 0, header);
    c.media(MessageType.video, 0, frame);
    await c.until(() => c.statuses().length >= 2, 'the refusal');
    expect(c.statuses()[1]).toMatchObject({ level: 'error', code: 'NetStream.Publish.Rejected', description });
    expect(await c.closedByServer()).toBe(true);
    await reader.until(() => reader.texts('offline').some((m) => m.reason === description), 5000, 'offline with the codec');
    reader.close();
  });
});

describe('RTMP clients that misbehave', () => {
  it('closes a client whose connect command is malformed AMF, with one warning naming the problem', async () => {
    const c = await client();
    // A string that claims 200 bytes and has 3.
    c.send({ csid: 3, type: MessageType.commandAmf0, streamId: 0, timestamp: 0, payload: Buffer.from([0x02, 0x00, 0xc8, 0x61, 0x62, 0x63]) });
    expect(await c.closedByServer()).toBe(true);
    const lines = logged('RTMP protocol error, closing connection', (l) => String(l.reason).includes('truncated'));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe(40);
  });

  it('closes a client that declares a message above rtmpMaxMessageSize once it publishes', async () => {
    const c = await client();
    expect(await c.publish('live', 'huge')).toMatchObject({ code: 'NetStream.Publish.Start' });
    const header = Buffer.from([6, 0, 0, 0, 0x90, 0, 0, 9, 1, 0, 0, 0]); // fmt 0, csid 6, 9 MiB video
    c.socket.write(header);
    expect(await c.closedByServer()).toBe(true);
    expect(logged('RTMP protocol error, closing connection', (l) => l.code === 'message-too-large')).toHaveLength(1);
  });

  it('closes a connection that keeps talking but does not publish within readTimeout', async () => {
    const c = await client();
    const started = Date.now();
    c.command(0, 'connect', 1, { app: 'live' });
    const ping = setInterval(() => c.send({ csid: 2, type: MessageType.userControl, streamId: 0, timestamp: 0, payload: Buffer.from([0, 6, 0, 0, 0, 1]) }), 300);
    try {
      expect(await c.closedByServer(10_000)).toBe(true);
    } finally {
      clearInterval(ping);
    }
    // Pings were answered meanwhile: the connection was alive, and closed for not publishing.
    expect(c.messages.some((m) => m.type === MessageType.userControl && m.payload.readUInt16BE(0) === 7)).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(2000);
    expect(logged('closing RTMP connection', (l) => String(l.reason).startsWith('no authorized publish within readTimeout'))).not.toHaveLength(0);
  });

  it('refuses connections from an IP past rtmpMaxUnauthenticatedPerIP; a publisher stops counting once allowed', async () => {
    const idle: TestRtmpClient[] = [];
    const p = await client();
    expect(await p.publish('live', 'counted')).toMatchObject({ code: 'NetStream.Publish.Start' });
    for (let i = 0; i < 6; i++) idle.push(await client());
    const extra = await TestRtmpClient.connect(srv.rtmpPort);
    clients.push(extra);
    expect(await extra.closedByServer(3000)).toBe(true);
    expect(logged('RTMP connection refused', (l) => String(l.reason).includes('rtmpMaxUnauthenticatedPerIP: 6'))).not.toHaveLength(0);
    idle.pop()!.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const again = await client();
    expect(again.closed).toBe(false);
    for (const c of [...idle, again, p]) c.destroy();
  });

  it('logs protocol errors of a flood of clients at a bounded rate, then how many it suppressed', async () => {
    const before = logged('RTMP protocol error, closing connection').length;
    const t0 = Date.now();
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          const s = net.connect(srv.rtmpPort, '127.0.0.1');
          s.on('error', () => undefined);
          await new Promise<void>((r) => s.once('connect', () => r()));
          s.write('GET / HTTP/1.1\r\n\r\n');
          await new Promise<void>((r) => s.once('close', () => r()));
        }),
      );
    }
    const elapsed = (Date.now() - t0) / 1000;
    const lines = logged('RTMP protocol error, closing connection').length - before;
    // 30 clients; at most the burst plus the refill over the elapsed time get a line.
    expect(lines).toBeLessThanOrEqual(10 + Math.ceil(elapsed * 10) + 1);
    expect(lines).toBeLessThan(30);
    await new Promise((r) => setTimeout(r, 1300));
    expect(srv.logs.some((l) => typeof l.msg === 'string' && /^suppressed \d+ similar lines/.test(l.msg))).toBe(true);
  });
});
