import type { Socket } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsServer } from '../../src/metrics/metrics.js';
import { ReaderTotals } from '../../src/metrics/totals.js';
import { Connections } from '../../src/limits.js';
import { PathManager } from '../../src/stream/path-manager.js';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import type { Transport } from '../../src/transport.js';
import type { WsFmp4Transport } from '../../transports/ws-fmp4/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { parsePrometheus, pick, waitFor, wsOutcome, type Sample } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { RtwsClient } from '../helpers/rtws-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let url: string;
const publishers: Publisher[] = [];

async function scrape(): Promise<{ samples: Sample[]; types: Map<string, string> }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) => {
  const found = pick(samples, name, labels);
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return found[0]!.value;
};

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}/metrics`;
  srv = await startServer(
    [
      'metrics: yes',
      `metricsAddress: 127.0.0.1:${port}`,
      'authInternalUsers:',
      '  - user: any',
      '    permissions: [{ action: publish }, { action: read, path: ~^live/ }, { action: metrics }]',
      'paths:',
      '  all_others:',
      '',
    ].join('\n'),
  );
  publishers.push(publish(srv.rtmpUrl('live/cam'), { size: '320x240' }));
  await waitFor(() => srv.server.paths.get('live/cam')?.stream?.ready === true, 20_000, 'publish');
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await srv.stop();
});

describe('Prometheus metrics', () => {
  it("exposes MediaMTX's path, reader and RTMP metrics with the live values", async () => {
    const viewer = new NalClient(srv.wsUrl('live/cam'));
    const fmp4 = new NalClient(srv.wsUrl('live/cam', 'ws/fmp4?protocol=standard'));
    await viewer.until(() => viewer.video.length >= 10, 15_000, 'frames');
    await fmp4.opened;
    const path = srv.server.paths.get('live/cam')!;
    const inBefore = path.stream!.stats.bytesIn;
    const { samples, types } = await scrape();
    const inAfter = path.stream!.stats.bytesIn;
    expect(types.get('paths')).toBe('gauge');
    expect(value(samples, 'paths', { name: 'live/cam', state: 'ready' })).toBe(1);
    expect(value(samples, 'paths_readers', { name: 'live/cam', readerType: 'wsNalSession' })).toBe(1);
    expect(value(samples, 'paths_readers', { name: 'live/cam', readerType: 'wsFmp4Session' })).toBe(1);
    const inbound = value(samples, 'paths_inbound_bytes', { name: 'live/cam' });
    expect(inbound).toBeGreaterThanOrEqual(inBefore);
    expect(inbound).toBeLessThanOrEqual(inAfter);
    const id = path.publisher!.id;
    expect(value(samples, 'rtmp_conns', { id, state: 'publish', path: 'live/cam' })).toBe(1);
    expect(value(samples, 'rtmp_conns_inbound_bytes', { id })).toBeGreaterThan(inbound);
    const nalId = viewer.texts('hello')[0]!.id as string;
    expect(value(samples, 'wsnal_sessions', { id: nalId, path: 'live/cam', state: 'read' })).toBe(1);
    expect(value(samples, 'wsnal_sessions_outbound_bytes', { id: nalId })).toBeGreaterThan(0);
    expect(value(samples, 'polycast_connections', { type: 'rtmpConn' })).toBe(1);
    expect(value(samples, 'polycast_connections', { type: 'wsNalSession' })).toBe(1);
    expect(value(samples, 'polycast_connections', { type: 'wsFmp4Session' })).toBe(1);
    viewer.close();
    fmp4.close();
    await viewer.closed;
  });

  it('counts bytes handed to readers per path and transport, readers that left included (never going back)', async () => {
    const viewer = new NalClient(srv.wsUrl('live/cam'));
    await viewer.until(() => viewer.video.length >= 10, 15_000, 'frames');
    const reader = [...srv.server.paths.get('live/cam')!.readers].find((r) => r.info.protocol === 'ws-nal')!;
    const sentBefore = reader.stats.bytesSent;
    const before = (await scrape()).samples;
    const live = value(before, 'polycast_outbound_bytes_total', { path: 'live/cam', transport: 'ws-nal' });
    expect(sentBefore).toBeGreaterThan(0);
    expect(live).toBeGreaterThanOrEqual(sentBefore);
    expect(value(before, 'polycast_outbound_frames_total', { path: 'live/cam', transport: 'ws-nal' })).toBeGreaterThanOrEqual(10);
    viewer.close();
    await viewer.closed;
    await waitFor(() => ![...srv.server.paths.get('live/cam')!.readers].includes(reader), 5000, 'reader gone');
    const sent = reader.stats.bytesSent;
    const after = (await scrape()).samples;
    // The reader left: the path's current outbound bytes drop, the total keeps what it sent.
    expect(value(after, 'polycast_outbound_bytes_total', { path: 'live/cam', transport: 'ws-nal' })).toBeGreaterThanOrEqual(Math.max(live, sent));
    expect((await scrape()).types.get('polycast_outbound_bytes_total')).toBe('counter');
  });

  it('counts frames discarded for a reader that falls behind', async () => {
    const path = srv.server.paths.get('live/cam')!;
    const stuck: ReaderSink = { writable: () => false, write: () => undefined, describe: () => undefined, offline: () => undefined };
    const reader = new Reader({ id: 'stuck', protocol: 'test-stuck', remoteAddress: 'in-process' }, stuck, 8);
    path.addReader(reader);
    await waitFor(() => reader.stats.framesDropped > 20, 15_000, 'drops');
    path.removeReader(reader, 'done');
    const { samples } = await scrape();
    expect(value(samples, 'polycast_outbound_frames_discarded_total', { path: 'live/cam', transport: 'test-stuck' })).toBe(reader.stats.framesDropped);
  });

  it('observes ingest-to-send latency, sampled, per transport', async () => {
    const viewer = new NalClient(srv.wsUrl('live/cam'));
    await viewer.until(() => viewer.video.length >= 60, 15_000, 'frames');
    const { samples, types } = await scrape();
    expect(types.get('polycast_send_latency_seconds')).toBe('histogram');
    const count = value(samples, 'polycast_send_latency_seconds_count', { transport: 'ws-nal' });
    const sum = value(samples, 'polycast_send_latency_seconds_sum', { transport: 'ws-nal' });
    // One frame in 16 per reader: ~90 frames (video and audio) sent gives a handful of observations.
    expect(count).toBeGreaterThanOrEqual(3);
    expect(sum / count).toBeLessThan(0.5);
    const buckets = pick(samples, 'polycast_send_latency_seconds_bucket', { transport: 'ws-nal' }).map((s) => s.value);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!);
    expect(buckets.at(-1)).toBe(count);
    viewer.close();
  });

  it('counts running snapshot decoders and refused authentications', async () => {
    for (let i = 0; i < 10; i++) {
      const res = await fetch(srv.httpUrl('/live/cam/snapshot.jpg'));
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    let { samples } = await scrape();
    expect(value(samples, 'polycast_snapshot_decoders')).toBe(1);
    expect((await wsOutcome(srv.wsUrl('secret/room'))).code).toBe(1008);
    ({ samples } = await scrape());
    expect(value(samples, 'polycast_auth_failures_total', { action: 'read' })).toBe(1);
  });

  it('counts RTWebSocket messages abandoned for a stalled ws-fmp4 viewer', async () => {
    publishers.push(
      publish(srv.rtmpUrl('live/heavy'), {
        inputArgs: ['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30,noise=alls=60:allf=t'],
        audio: false,
        videoArgs: ['-b:v', '3M', '-maxrate', '3M', '-bufsize', '1M'],
      }),
    );
    await waitFor(() => srv.server.paths.get('live/heavy')?.stream?.ready === true, 20_000, 'heavy publish');
    const client = new RtwsClient(srv.wsUrl('live/heavy', 'ws/fmp4?protocol=rtwebsocket'));
    await client.opened;
    await client.until(() => client.video().length >= 10, 20_000, 'rtws frames');
    (client.ws as unknown as { _socket: Socket })._socket.pause();
    const transport = srv.server.transports.find((t) => t.name === 'ws-fmp4') as WsFmp4Transport;
    await waitFor(() => transport.abandonedMessages > 0, 30_000, 'abandoned messages');
    const { samples } = await scrape();
    const abandoned = value(samples, 'polycast_rtwebsocket_abandoned_messages_total');
    expect(abandoned).toBeGreaterThan(0);
    expect(abandoned).toBeLessThanOrEqual(transport.abandonedMessages);
    client.ws.terminate();
  }, 90_000);
});

describe('metrics registry', () => {
  it('adds up the groups WebTransport transports dropped', async () => {
    const paths = new PathManager(() => ({ ok: false, reason: 'none' }));
    const wt: Transport = { name: 'wt-fmp4', upgrades: [], groupsDropped: 7, close: () => undefined };
    const moq: Transport = { name: 'moq', upgrades: [], groupsDropped: 2, close: () => undefined };
    const metrics = new MetricsServer(
      {
        paths,
        transports: [wt, moq],
        totals: new ReaderTotals(paths),
        rtmpConns: () => [],
        connections: new Connections({ max: () => 0 }),
        authFailures: () => ({}),
        blockedIps: () => 0,
        webTransportHandshakes: () => ({ accepted: 40, retries: 12, refused: 3, handshakeTimeouts: 1 }),
      },
      async () => ({ ok: true, user: '' }),
      pino({ level: 'silent' }),
    );
    const { samples } = parsePrometheus(await metrics.registry.metrics());
    expect(value(samples, 'polycast_webtransport_handshakes_total', { outcome: 'accepted' })).toBe(40);
    expect(value(samples, 'polycast_webtransport_handshakes_total', { outcome: 'retry' })).toBe(12);
    expect(value(samples, 'polycast_webtransport_handshakes_total', { outcome: 'refused' })).toBe(3);
    expect(value(samples, 'polycast_webtransport_handshakes_total', { outcome: 'timeout' })).toBe(1);
    expect(value(samples, 'polycast_webtransport_dropped_groups_total', { transport: 'wt-fmp4' })).toBe(7);
    expect(value(samples, 'polycast_webtransport_dropped_groups_total', { transport: 'moq' })).toBe(2);
  });
});
