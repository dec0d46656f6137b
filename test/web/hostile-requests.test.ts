import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PENDING_PER_IP } from '../../src/web/http-limits.js';
import { sleep } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { after, exchange, hold, request, upgradeRequest, WS_HEADERS, type RawExchange } from './raw-http.js';

/**
 * Odd and hostile requests against every HTTP listener (web, API, metrics):
 * each gets a sane 2xx/3xx/4xx, never a 5xx, a redirect never leaves the
 * origin, nothing is logged at error, and the listener keeps serving.
 */

let srv: TestServer;
let ports: { web: number; api: number; metrics: number };

beforeAll(async () => {
  const api = await freePort();
  const metrics = await freePort();
  srv = await startServer(
    [
      'api: yes',
      `apiAddress: 127.0.0.1:${api}`,
      'metrics: yes',
      `metricsAddress: 127.0.0.1:${metrics}`,
      'webAllowOrigins: [http://good.example]',
      'paths:',
      '  all_others:',
      '',
    ].join('\n'),
  );
  ports = { web: srv.webPort, api, metrics };
});

afterAll(async () => {
  await srv.stop();
});

const hostilePaths: Array<[string, string]> = [
  ['NUL', '/%00'],
  ['NUL inside a path', '/live/%00cam'],
  ['NUL with the player slash', '/%00/'],
  ['emoji', '/%F0%9F%92%A9'],
  ['emoji with the player slash', '/%F0%9F%92%A9/'],
  ['unicode letters', '/caf%C3%A9/cam'],
  ['invalid percent-encoding', '/%zz'],
  ['lone percent', '/%'],
  ['truncated percent', '/live/%4'],
  ['overlong UTF-8 slash', '/%C0%AF'],
  ['overlong UTF-8 dot-dot', '/%C0%AE%C0%AE/etc/passwd'],
  ['encoded slash', '/live%2Fcam'],
  ['encoded double slash', '/%2F%2Fevil.com'],
  ['double-encoded percent', '/%2525'],
  ['dot-dot', '/..'],
  ['dot-dot traversal', '/../../etc/passwd'],
  ['encoded traversal in dist', '/dist/..%2F..%2Fpackage.json'],
  ['traversal in dist', '/dist/../../package.json'],
  ['double slash', '//double'],
  ['protocol-relative host', '//evil.com'],
  ['protocol-relative host with slash', '//evil.com/'],
  ['backslash host', '/\\evil.com'],
  ['encoded backslash host', '/%5Cevil.com'],
  ['CR/LF injection', '/%0d%0aSet-Cookie:%20a=b'],
  ['CR/LF in a stream path', '/live/%0D%0A'],
  ['tab', '/live/%09cam'],
  ['8 KB path', `/${'a'.repeat(8 * 1024)}`],
  ['8 KB path with the player slash', `/${'b/'.repeat(4 * 1024)}`],
  ['64 KB path', `/${'c'.repeat(64 * 1024)}`],
  ['query only', '/?'],
  ['query on the index', '/?x=1&y'],
  ['garbage query', '/live?%zz&&==%00'],
  ['encoded CR/LF in a query', '/live?a=%0d%0aSet-Cookie:%20x'],
  ['question marks', '/live??//evil.com'],
  ['snapshot of a hostile path', '/%00/snapshot.jpg'],
  ['snapshot with a bad query', '/live/cam/snapshot.jpg?quality=%zz&width=-1'],
  ['asterisk-form', '*'],
  ['absolute-form', 'http://evil.com/live'],
  ['absolute-form with a protocol-relative path', 'http://evil.com//evil.com'],
];

/** Requests other than GET with an odd path: methods, headers, request smuggling. */
const hostileRequests: Array<[string, string]> = [
  ['HEAD', request('HEAD', '/live')],
  ['OPTIONS', request('OPTIONS', '/')],
  ['OPTIONS *', request('OPTIONS', '*')],
  ['DELETE', request('DELETE', '/live/')],
  ['PROPFIND', request('PROPFIND', '/')],
  ['unknown method', request('BREW', '/')],
  ['lower-case method', request('get', '/')],
  ['no Host', request('GET', '/live', [], '')],
  ['two Hosts', request('GET', '/live', ['Host: evil.com'])],
  ['foreign Host', request('GET', '/live', [], 'evil.com')],
  ['Host with a path', request('GET', '/live', [], 'evil.com/x')],
  ['Host with a bad port', request('GET', '/live', [], '127.0.0.1:99999999')],
  ['IPv6 Host unclosed', request('GET', '/live', [], '[::1')],
  ['X-Forwarded-Host', request('GET', '/live', ['X-Forwarded-Host: evil.com', 'X-Forwarded-Proto: https'])],
  ['Transfer-Encoding and Content-Length', request('POST', '/', ['Transfer-Encoding: chunked', 'Content-Length: 5']).replace(/\r\n\r\n$/, '\r\n\r\n0\r\n\r\n')],
  ['two Content-Lengths', request('POST', '/', ['Content-Length: 1', 'Content-Length: 2']) + 'ab'],
  ['negative Content-Length', request('POST', '/', ['Content-Length: -1'])],
  ['unknown Transfer-Encoding', request('POST', '/', ['Transfer-Encoding: gzip'])],
  ['obfuscated Transfer-Encoding', request('POST', '/', ['Transfer-Encoding : chunked', 'Content-Length: 3']) + 'abc'],
  ['bad chunk size', request('POST', '/', ['Transfer-Encoding: chunked']) + 'zz\r\nab\r\n0\r\n\r\n'],
  ['body on GET', request('GET', '/live', ['Content-Length: 4']) + 'abcd'],
  ['JSON body that is not JSON', request('PATCH', '/v3/config/global/patch', ['Content-Type: application/json', 'Content-Length: 5']) + '{{{{{'],
  ['header line without colon', 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nnocolon\r\nConnection: close\r\n\r\n'],
  ['bare LF line ends', 'GET / HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n'],
  ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n'],
  ['HTTP/1.0 without Host', 'GET /live HTTP/1.0\r\n\r\n'],
  ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ['HTTP/9', 'GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n'],
  ['64 KB header', request('GET', '/', [`X-Big: ${'x'.repeat(64 * 1024)}`])],
  ['3000 headers', request('GET', '/', Array.from({ length: 3000 }, (_, i) => `X-${i}: 1`))],
  // Only the web listener takes upgrades; the others must answer it as a plain request, not leave it hanging.
  ['WebSocket handshake', upgradeRequest('/v3/info', ['Connection: close'])],
  ['WebSocket handshake with a body', upgradeRequest('/metrics', ['Connection: close', 'Content-Length: 3']) + 'abc'],
  ['binary garbage', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) & 0xff)).toString('latin1')],
];

/** WebSocket handshakes the web listener must refuse cleanly (its upgrade path bypasses fastify). */
const hostileUpgrades: Array<[string, string, number]> = [
  ['unknown path', upgradeRequest('/nope'), 404],
  ['unknown transport suffix', upgradeRequest('/live/ws/nope'), 404],
  ['no path before the suffix', upgradeRequest('/ws/nal'), 404],
  ['invalid percent-encoding', upgradeRequest('/%zz/ws/nal'), 400],
  ['foreign Origin', upgradeRequest('/live/ws/nal', ['Origin: http://evil.com']), 403],
  ['Origin "null"', upgradeRequest('/live/ws/nal', ['Origin: null']), 403],
  ['two Origins', upgradeRequest('/live/ws/nal', ['Origin: http://good.example', 'Origin: http://evil.com']), 403],
  ['Upgrade: h2c', upgradeRequest('/live/ws/nal', [], ['Upgrade: h2c', 'Connection: Upgrade', 'HTTP2-Settings: AAMAAABkAAQAAP__']), 400],
  ['no Sec-WebSocket-Key', upgradeRequest('/live/ws/nal', [], WS_HEADERS.filter((h) => !h.startsWith('Sec-WebSocket-Key'))), 400],
  ['bad Sec-WebSocket-Key', upgradeRequest('/live/ws/nal', [], [...WS_HEADERS.slice(0, 3), 'Sec-WebSocket-Key: short']), 400],
  ['WebSocket version 7', upgradeRequest('/live/ws/nal', [], [...WS_HEADERS.slice(0, 2), 'Sec-WebSocket-Version: 7', WS_HEADERS[3]!]), 400],
  ['POST upgrade', upgradeRequest('/live/ws/nal').replace(/^GET/, 'POST'), 405],
  ['NUL path', upgradeRequest('/%00/ws/nal'), 0],
  ['emoji path', upgradeRequest('/%F0%9F%92%A9/ws/nal'), 0],
  ['64 KB path', upgradeRequest(`/${'d'.repeat(64 * 1024)}/ws/nal`), 431],
];

/** What a sane answer looks like; a redirect must name a same-origin target in header-safe characters. */
function expectSane(port: number, what: string, result: RawExchange): void {
  const res = result.response;
  expect(res, `${what}: an HTTP answer (got ${JSON.stringify(result.raw.slice(0, 200))})`).toBeDefined();
  const { status, headers } = res!;
  expect(status, `${what}: status ${status}: ${res!.body.slice(0, 200)}`).toBeLessThan(500);
  expect([200, 204, 301, 302, 304, 308, 400, 401, 403, 404, 405, 408, 413, 414, 415, 431], `${what}: status ${status}`).toContain(status);
  if (status >= 300 && status < 400) {
    const location = headers.get('location') ?? [];
    expect(location, `${what}: one Location`).toHaveLength(1);
    expect(location[0], `${what}: Location in visible ASCII`).toMatch(/^[\x21-\x7e]+$/);
    const origin = `http://127.0.0.1:${port}`;
    expect(new URL(location[0]!, `${origin}/somewhere/`).origin, `${what}: Location ${location[0]} stays on the origin`).toBe(origin);
  }
  expect(result.closedByServer, `${what}: the server ends the exchange`).toBe(true);
}

const errorLines = () => srv.logs.filter((l) => (l.level as number) >= 50);

describe('hostile HTTP requests', () => {
  for (const listener of ['web', 'api', 'metrics'] as const) {
    it(`${listener}: odd paths get 404/400/redirect, never 500, and never redirect off the origin`, async () => {
      const port = ports[listener];
      for (const [what, target] of hostilePaths) {
        for (const method of ['GET', 'HEAD']) {
          expectSane(port, `${listener} ${method} ${what}`, await exchange(port, request(method, target)));
        }
      }
      expect(errorLines()).toEqual([]);
    });

    it(`${listener}: odd methods, Host headers and smuggling attempts get a clean 4xx`, async () => {
      const port = ports[listener];
      for (const [what, raw] of hostileRequests) expectSane(port, `${listener} ${what}`, await exchange(port, raw));
      expect(errorLines()).toEqual([]);
    });
  }

  it('web: a redirect keeps the stream path and a safe query on the same origin', async () => {
    const plain = await exchange(ports.web, request('GET', '/live/cam?x=1&y=%0d%0a'));
    expect(plain.response?.status).toBe(301);
    expect(plain.response?.headers.get('location')).toEqual(['/live/cam/?x=1&y=%0d%0a']);
    const absolute = await exchange(ports.web, request('GET', 'http://evil.com/live/cam'));
    expect(absolute.response?.headers.get('location')).toEqual(['/live/cam/']);
    const player = await exchange(ports.web, request('GET', '/live/cam/'));
    expect(player.response?.status).toBe(200);
    expect(player.response?.headers.get('content-type')?.[0]).toMatch(/^text\/html/);
  });

  it('web: hostile WebSocket handshakes are refused with a 4xx and the connection closed', async () => {
    for (const [what, raw, status] of hostileUpgrades) {
      if (status === 0) {
        // A name no path can have: the handshake completes and the endpoint closes with 4404, which the player knows.
        const result = await exchange(ports.web, raw, 1000);
        expect(result.response?.status, `upgrade ${what}`).toBe(101);
        const frame = Buffer.from(result.response!.body, 'latin1');
        expect(frame[0], `upgrade ${what}: a close frame`).toBe(0x88);
        expect(frame.readUInt16BE(2), `upgrade ${what}: close code`).toBe(4404);
        continue;
      }
      const result = await exchange(ports.web, raw);
      expectSane(ports.web, `upgrade ${what}`, result);
      expect(result.response?.status, `upgrade ${what}`).toBe(status);
    }
    expect(errorLines()).toEqual([]);
  });

  it('web: a refused upgrade is closed even when the client keeps its side open', async () => {
    // The socket left Node's HTTP timeouts at the upgrade; half-closing it alone would keep it for as long as the client likes.
    const { socket, closed } = await hold(ports.web, { allowHalfOpen: true });
    socket.write(upgradeRequest('/nope'));
    const timer = setInterval(() => socket.writable && socket.write('x'), 100);
    const outcome = await Promise.race([closed, after(5000, undefined)]);
    clearInterval(timer);
    socket.destroy();
    expect(outcome, 'server closed the socket').toBeDefined();
    expect(outcome!.raw).toMatch(/^HTTP\/1\.1 404 /);
  });

  for (const listener of ['web', 'api', 'metrics'] as const) {
    it(`${listener}: one address holding ${MAX_PENDING_PER_IP} unfinished connections gets 503 for more, logged once`, async () => {
      const port = ports[listener];
      const held = [];
      for (let i = 0; i < MAX_PENDING_PER_IP; i++) held.push(await hold(port));
      for (let i = 0; i < 3; i++) {
        const refused = await exchange(port, request('GET', '/'));
        expect(refused.response?.status, 'past the cap').toBe(503);
        expect(refused.closedByServer).toBe(true);
      }
      // The ones within the cap are untouched.
      expect(held.every((h) => !h.socket.destroyed)).toBe(true);
      for (const h of held) h.socket.destroy();
      await Promise.all(held.map((h) => h.closed));
      const deadline = Date.now() + 5000;
      let status: number | undefined;
      while ((status = (await exchange(port, request('GET', '/'))).response?.status) === 503 && Date.now() < deadline) await sleep(50);
      expect(status, 'served again once they are gone').not.toBe(503);
      const warned = srv.logs.filter((l) => l.level === 40 && l.listener === listener.replace('api', 'API') && String(l.msg).includes('without a complete request'));
      expect(warned).toHaveLength(1);
    });
  }

  it('every listener still serves after all of that', async () => {
    expect((await fetch(`http://127.0.0.1:${ports.web}/`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${ports.api}/v3/info`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).status).toBe(200);
  });
});
