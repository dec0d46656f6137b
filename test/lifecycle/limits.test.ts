import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WsNalTransport } from '../../transports/ws-nal/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { waitFor, wsOutcome } from '../helpers/ops.js';
import { startServer, type TestServer } from '../helpers/server.js';

describe('maxConnections', () => {
  let srv: TestServer;
  const publishers: Publisher[] = [];

  beforeAll(async () => {
    srv = await startServer('maxConnections: 2\npaths:\n  all_others:\n');
  });

  afterAll(async () => {
    for (const p of publishers) await p.stop();
    await srv.stop();
  });

  it('refuses WebSocket readers with 503 and RTMP clients at once past the limit, and counts again once a client leaves', async () => {
    const pub = publish(srv.rtmpUrl('live/cam'), { size: '160x120', audio: false });
    publishers.push(pub);
    await waitFor(() => srv.server.paths.get('live/cam')?.stream?.ready === true, 20_000, 'publish');
    const first = new NalClient(srv.wsUrl('live/cam'));
    await first.until(() => first.video.length > 0, 10_000, 'frames');
    expect(srv.server.connections.current).toBe(2);

    expect(await wsOutcome(srv.wsUrl('live/cam'))).toMatchObject({ opened: false, status: 503 });
    const extra = publish(srv.rtmpUrl('live/other'), { duration: 3, audio: false });
    publishers.push(extra);
    expect(await extra.exited).not.toBe(0);
    expect(srv.logs.filter((l) => l.reason === 'too many connections (maxConnections: 2)').map((l) => l.msg).sort()).toEqual(['RTMP connection refused', 'viewer refused']);

    first.close();
    await waitFor(() => srv.server.connections.current === 1, 5000, 'the slot to free');
    const again = await wsOutcome(srv.wsUrl('live/cam'));
    expect(again.opened).toBe(true);
    expect(again.code).not.toBe(1008);
  });
});

describe('writeTimeout', () => {
  let srv: TestServer;
  let pub: Publisher;

  beforeAll(async () => {
    srv = await startServer('writeTimeout: 1s\npaths:\n  all_others:\n');
    pub = publish(srv.rtmpUrl('live/heavy'), {
      inputArgs: ['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30,noise=alls=80:allf=t'],
      audio: false,
      videoArgs: ['-b:v', '20M', '-maxrate', '20M', '-bufsize', '4M'],
    });
    await waitFor(() => srv.server.paths.get('live/heavy')?.stream?.ready === true, 20_000, 'publish');
  });

  afterAll(async () => {
    await pub.stop();
    await srv.stop();
  });

  it('closes a WebSocket whose socket has made no progress on unsent data for writeTimeout', async () => {
    const stuck = new NalClient(srv.wsUrl('live/heavy'));
    const healthy = new NalClient(srv.wsUrl('live/heavy'));
    await Promise.all([stuck, healthy].map((c) => c.until(() => c.video.length >= 5, 15_000, 'frames')));
    (stuck.ws as unknown as { _socket: Socket })._socket.pause();
    const nal = srv.server.transports.find((t) => t.name === 'ws-nal') as WsNalTransport;
    await waitFor(() => nal.viewerCount === 1, 20_000, 'the stuck viewer to be closed');
    const closing = srv.logs.find((l) => l.msg === 'closing viewer: write timeout')!;
    expect(closing.path).toBe('live/heavy');
    expect(closing.id).toBe(stuck.texts('hello')[0]!.id);
    expect(healthy.closeInfo).toBeUndefined();
    healthy.close();
  }, 60_000);
});

describe('config/examples/operated.yml', () => {
  it('loads, and means what its comments say', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const { matchPath } = await import('../../src/config/paths.js');
    const config = loadConfig(new URL('../../config/examples/operated.yml', import.meta.url).pathname, {});
    expect(config).toMatchObject({ authMethod: 'internal', api: true, metrics: true, maxConnections: 500 });
    expect(config.authInternalUsers.map((u) => u.user)).toEqual(['any', 'studio', 'any']);
    expect(matchPath(config, 'lobby')?.pathConf.runOnDemandCloseAfter).toBe(30_000);
    expect(matchPath(config, 'live/cam1')?.pathConf.maxReaders).toBe(200);
  });
});
