import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
const publishers: Publisher[] = [];

beforeAll(async () => {
  srv = await startServer('paths:\n  cam:\n  live/cam1:\n  ~^deep/.+$:\n');
});

afterAll(async () => {
  await Promise.all(publishers.map((p) => p.stop()));
  await srv.stop();
});

async function rawRtmp(bytes: Buffer): Promise<void> {
  const socket = net.connect(srv.rtmpPort, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(bytes);
  await new Promise<void>((r) => {
    socket.once('close', () => r());
    socket.on('error', () => undefined);
    setTimeout(() => {
      socket.destroy();
      r();
    }, 1500);
  });
}

describe('RTMP ingest', () => {
  it('accepts single-level paths (rtmp://host/cam) as MediaMTX does', async () => {
    const p = publish(srv.rtmpUrl('cam'), { audio: false });
    publishers.push(p);
    const c = new NalClient(srv.wsUrl('cam'));
    await c.until(() => c.video.length >= 5, 20_000, 'frames on cam');
    c.close();
    await p.stop();
  });

  it('refuses publishing to an unconfigured path with a reason the encoder sees', async () => {
    const p = publish(srv.rtmpUrl('other/thing'), { audio: false });
    publishers.push(p);
    expect(await p.exited).not.toBe(0);
    expect(srv.logs.find((l) => l.msg === 'publish refused' && l.path === 'other/thing')?.reason).toMatch(/not configured/);
  });

  it('survives garbage, a broken handshake and a malformed connect command while a publisher keeps streaming', async () => {
    const p = publish(srv.rtmpUrl('live/cam1'));
    publishers.push(p);
    const c = new NalClient(srv.wsUrl('live/cam1'));
    await c.until(() => c.video.length >= 5, 20_000, 'frames');

    await rawRtmp(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await rawRtmp(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 0xab), Buffer.alloc(1536, 0xcd), Buffer.alloc(5000, 0xff)]));
    // A tcUrl that is not a URL makes the library's connect handler throw.
    const bad = publish(srv.rtmpUrl('live/bad'), { audio: false, videoArgs: ['-rtmp_tcurl', 'not a url at all'] });
    publishers.push(bad);
    expect(await bad.exited).not.toBe(0);
    expect(srv.logs.some((l) => l.msg === 'RTMP protocol error, closing connection')).toBe(true);

    const n = c.video.length;
    await c.until(() => c.video.length >= n + 20, 10_000, 'publisher still streaming');
    c.close();
  });

  it('carries deeper paths matched by a regex entry', async () => {
    const p = publish(srv.rtmpUrl('deep/a/b'), { audio: false });
    publishers.push(p);
    const c = new NalClient(srv.wsUrl('deep/a/b'));
    await c.until(() => c.video.length >= 5, 20_000, 'frames on deep/a/b');
    c.close();
  });
});
