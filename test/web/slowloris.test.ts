import type net from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSource } from '../../src/config/load.js';
import { sleep } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { after, dribble, hold, parseResponse, upgradeRequest } from './raw-http.js';

/**
 * Slowloris on every HTTP listener: a connection that does not deliver its
 * request within `readTimeout` (here 1 s) is closed, however it stalls;
 * requests that do arrive in time, keep-alive and WebSockets are unharmed.
 * Node's own bound was headersTimeout (60 s) checked every 30 s.
 */

const READ_TIMEOUT_MS = 1000;
/** readTimeout, plus Node's check period, plus room for a loaded machine; far below Node's 60-90 s. */
const CLOSE_BOUND_MS = READ_TIMEOUT_MS + 3000;
const DRIBBLE_MS = 300;

let srv: TestServer;
let ports: Record<'web' | 'api' | 'metrics', number>;
const okPath = { web: '/_api/paths', api: '/v3/info', metrics: '/metrics' } as const;
const listeners = ['web', 'api', 'metrics'] as const;

beforeAll(async () => {
  const api = await freePort();
  const metrics = await freePort();
  srv = await startServer(
    [`readTimeout: ${READ_TIMEOUT_MS}ms`, 'api: yes', `apiAddress: 127.0.0.1:${api}`, 'metrics: yes', `metricsAddress: 127.0.0.1:${metrics}`, 'paths:', '  all_others:', ''].join(
      '\n',
    ),
  );
  ports = { web: srv.webPort, api, metrics };
});

afterAll(async () => {
  await srv.stop();
});

/** The slow patterns; each gets the socket right after it connected. */
const patterns: Array<[string, (socket: net.Socket) => void]> = [
  ['sends nothing', () => undefined],
  [
    'sends a partial request line, then a byte every 300 ms',
    (s) => {
      s.write('GET /li');
      dribble(s, `ve/cam?${'a'.repeat(200)}`, DRIBBLE_MS);
    },
  ],
  [
    'sends headers but never the blank line, a byte every 300 ms',
    (s) => {
      s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      dribble(s, `X-Slow: ${'a'.repeat(200)}`, DRIBBLE_MS);
    },
  ],
  [
    'sends a WebSocket handshake but never its blank line, a byte every 300 ms',
    (s) => {
      s.write('GET /live/cam/ws/nal HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n');
      dribble(s, `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${'a'.repeat(200)}`, DRIBBLE_MS);
    },
  ],
  [
    // The web listener upgrades at the end of the headers and the body becomes WebSocket bytes (these are not a valid
    // frame, so the endpoint closes); the API and metrics listeners have no upgrades and wait for the body.
    'sends a WebSocket upgrade request with a body, slowly',
    (s) => {
      s.write(upgradeRequest('/live/cam/ws/nal', ['Content-Length: 1000']));
      dribble(s, 'x'.repeat(1000), DRIBBLE_MS);
    },
  ],
  [
    'sends a POST body slowly',
    (s) => {
      s.write('POST /v3/config/global/patch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
      dribble(s, ' '.repeat(999), DRIBBLE_MS);
    },
  ],
];

/** Reads complete responses off a kept-alive socket. */
function responseReader(socket: net.Socket): (count: number) => Promise<string> {
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
  const complete = (count: number) => {
    let rest = data;
    for (let i = 0; i < count; i++) {
      const res = parseResponse(rest);
      const length = Number(res?.headers.get('content-length')?.[0] ?? NaN);
      if (res === undefined || !(res.body.length >= length)) return false;
      rest = res.body.slice(length);
    }
    return true;
  };
  return async (count) => {
    const deadline = performance.now() + 5000;
    while (!complete(count)) {
      if (performance.now() > deadline || socket.destroyed) throw new Error(`no ${count} complete responses: ${JSON.stringify(data.slice(0, 300))}`);
      await sleep(20);
    }
    return data;
  };
}

describe('slow HTTP clients are closed after readTimeout', () => {
  it('every slow pattern on every listener is closed within readTimeout + a margin', async () => {
    const runs = listeners.flatMap((listener) =>
      patterns.map(async ([what, drive]) => {
        const { socket, closed } = await hold(ports[listener]);
        drive(socket);
        const outcome = await Promise.race([closed, after(CLOSE_BOUND_MS, undefined)]);
        socket.destroy();
        return { what: `${listener}: ${what}`, outcome };
      }),
    );
    for (const { what, outcome } of await Promise.all(runs)) {
      expect(outcome, `${what}: closed within ${CLOSE_BOUND_MS} ms`).toBeDefined();
      // Whatever it got before the close is a timeout answer (or, for a handshake the web listener took, the endpoint's close).
      const upgraded = what.startsWith('web: sends a WebSocket upgrade request with a body');
      expect(outcome!.raw, what).toMatch(upgraded ? /^HTTP\/1\.1 101 / : /^$|^HTTP\/1\.1 (408|4\d\d) /);
    }
  });

  for (const listener of listeners) {
    it(`${listener}: a keep-alive connection serves a second request within readTimeout, then is closed idle`, async () => {
      const { socket, closed } = await hold(ports[listener]);
      const read = responseReader(socket);
      const get = `GET ${okPath[listener]} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
      socket.write(get);
      expect(await read(1)).toMatch(/^HTTP\/1\.1 200 /);
      await sleep(READ_TIMEOUT_MS / 2);
      socket.write(get);
      const both = await read(2);
      expect(both.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
      const outcome = await Promise.race([closed, after(CLOSE_BOUND_MS, undefined)]);
      socket.destroy();
      expect(outcome, 'idle keep-alive connection closed').toBeDefined();
    });
  }

  it('a WebSocket outlives the HTTP timeouts: only its endpoint closes it, with a close frame', async () => {
    const ws = new WebSocket(srv.wsUrl('live/cam'));
    const opened = await new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('error', () => resolve(false));
    });
    expect(opened).toBe(true);
    // The endpoint's own read timeout (pings, checked every 2 s) may close it; the HTTP layer would cut it without a close frame (1006).
    const outcome = await Promise.race([
      new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
      after(READ_TIMEOUT_MS + 1500, undefined),
    ]);
    ws.terminate();
    if (outcome !== undefined) expect(outcome).toEqual({ code: 1001, reason: 'read timeout' });
  });

  it('a reload applies a new readTimeout to the listeners at once', async () => {
    const settings = structuredClone(configSource(srv.server.config).settings) as Record<string, unknown>;
    await srv.server.applySettings({ ...settings, readTimeout: '3s' });
    const held = await Promise.all(listeners.map((l) => hold(ports[l])));
    // Under the old 1 s they would be gone by now.
    const early = await Promise.race([Promise.any(held.map((h) => h.closed)), after(2000, undefined)]);
    expect(early, 'still open after 2 s with readTimeout 3s').toBeUndefined();
    const late = await Promise.race([Promise.all(held.map((h) => h.closed)), after(3000 + 3000, undefined)]);
    for (const h of held) h.socket.destroy();
    expect(late, 'closed after 3 s + a margin').toBeDefined();
    await srv.server.applySettings({ ...settings, readTimeout: `${READ_TIMEOUT_MS}ms` });
  });
});
