import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { WsFmp4Transport } from '../../transports/ws-fmp4/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { RtwsClient } from '../helpers/rtws-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * Keep-alive must not depend on a ping getting through queued media: a
 * reader that drains its socket slowly (so every ping waits behind media)
 * and answers each ping it does receive stays connected; a client that
 * sends nothing at all is still closed by readTimeout.
 */
const READ_TIMEOUT_MS = 2000;
/** More than twice the read timeout. */
const SURVIVE_MS = 5 * READ_TIMEOUT_MS / 2 + 1000;

let srv: TestServer;
let publisher: Publisher;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  srv = await startServer(`readTimeout: ${READ_TIMEOUT_MS / 1000}s\nwriteTimeout: 10s\npaths:\n  all_others:\n`);
  // About 3 Mbit/s: far more than the slow readers below take.
  publisher = publish(srv.rtmpUrl('live/ka'), {
    inputArgs: ['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30,noise=alls=60:allf=t'],
    audio: false,
    videoArgs: ['-b:v', '3M', '-maxrate', '3M', '-bufsize', '1M'],
  });
});

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await publisher.stop();
  await srv.stop();
});

/** Reads the client's socket at about `bytesPerSecond`, in bursts: TCP pushes back on the server. */
function throttle(ws: WebSocket, bytesPerSecond: number): { received: () => number; stop: () => void } {
  const socket = (ws as unknown as { _socket: Socket })._socket;
  let allowance = 0;
  let received = 0;
  let throttling = true;
  socket.on('data', (d: Buffer) => {
    received += d.length;
    allowance -= d.length;
    if (throttling && allowance < 0) socket.pause();
  });
  const refill = setInterval(() => {
    allowance = Math.min(allowance + bytesPerSecond / 20, bytesPerSecond / 10);
    if (allowance > 0) socket.resume();
  }, 50);
  return {
    received: () => received,
    stop: () => {
      throttling = false;
      clearInterval(refill);
      socket.resume();
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmp4Viewers = () => [...(srv.server.transports.find((t) => t.name === 'ws-fmp4') as WsFmp4Transport).viewers];

describe('keep-alive is not starved by media', () => {
  it('slow ws-nal, ws-fmp4 standard and RTWebSocket readers that answer every ping they get survive more than twice readTimeout', async () => {
    const nal = new NalClient(srv.wsUrl('live/ka'));
    const std = new WebSocket(srv.wsUrl('live/ka', 'ws/fmp4?protocol=standard'));
    const rt = new RtwsClient(srv.wsUrl('live/ka', 'ws/fmp4?protocol=rtwebsocket'));
    sockets.push(nal.ws, std, rt.ws);
    let stdClosed: { code: number; reason: string } | undefined;
    std.on('close', (code, reason) => (stdClosed = { code, reason: reason.toString() }));
    std.on('error', () => undefined);
    await Promise.all([nal.opened, new Promise((r) => std.once('open', r)), rt.opened]);
    await nal.until(() => nal.video.length >= 10, 20_000, 'media');
    const ids = new Set([nal.texts('hello')[0]!.id, rt.control[0]!.id]);
    // An eighth of what the stream carries: media and pings queue up on the server for seconds.
    const throttles = [throttle(nal.ws, 48_000), throttle(std, 48_000), throttle(rt.ws, 48_000)];
    await sleep(SURVIVE_MS);
    // The precondition: this reader's newest frame is older than readTimeout, so a ping sent now waits longer than that.
    const behindMs = performance.timeOrigin + performance.now() - Math.max(...nal.video.map((m) => m.receivedAt / 1000));
    const gone = srv.logs.filter((l) => l.msg === 'viewer disconnected' && l.path === 'live/ka');
    for (const t of throttles) t.stop();
    expect(behindMs).toBeGreaterThan(READ_TIMEOUT_MS);
    // Judged on the server: a close frame would wait behind the same media before the client saw it.
    expect(gone).toEqual([]);
    expect(fmp4Viewers().filter((v) => ids.has(v.id) || v.variant === 'standard')).toHaveLength(2);
    // Each still reads and gets media once it reads at full speed again.
    const n = nal.video.length;
    await nal.until(() => nal.video.length > n + 30, 20_000, 'media after the throttle');
    expect(nal.closeInfo).toBeUndefined();
    expect(stdClosed).toBeUndefined();
    expect(rt.closed).toBeUndefined();
    for (const ws of [nal.ws, std, rt.ws]) ws.close();
  }, 60_000);

  it('a client that reads everything but never answers a ping (nor sends anything) is still closed by readTimeout', async () => {
    const silent = new WebSocket(srv.wsUrl('live/ka'), { autoPong: false });
    sockets.push(silent);
    const closed = new Promise<[number, string]>((resolve) => silent.once('close', (code, reason) => resolve([code, reason.toString()])));
    silent.on('error', () => undefined);
    let pings = 0;
    silent.on('ping', () => pings++);
    await new Promise((r) => silent.once('open', r));
    const openedAt = performance.now();
    const [code, reason] = await closed;
    expect([code, reason]).toEqual([1001, 'read timeout']);
    expect(pings).toBeGreaterThan(0);
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(READ_TIMEOUT_MS - 100);
  }, 30_000);
});
