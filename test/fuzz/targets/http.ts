/**
 * HTTP/1.1 request lines, paths and headers on the web port (pages, player,
 * index, upgrades, certificate hash) and the control API port. Any status
 * ≥ 500 for a client's bytes is a finding: bad requests are 4xx.
 */
import { concatBytes, fuzzInput, utf8, type Rng } from '../harness.js';
import { API_PASS, API_USER, WATCH_PATH } from '../server-process.js';
import { runCases, type CaseContext, type FuzzTarget } from '../target.js';
import { exchange } from './ws-frame.js';

const AUTH = `Authorization: Basic ${Buffer.from(`${API_USER}:${API_PASS}`).toString('base64')}\r\n`;

function req(method: string, path: string, headers = '', body = ''): Uint8Array {
  const length = body === '' ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  return utf8(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}${length}\r\n${body}`);
}

const WEB = [
  req('GET', '/'),
  req('GET', `/${WATCH_PATH}/`),
  // The player page, revalidated (its ETag is its content's, with the stream hint in it).
  req('GET', `/${WATCH_PATH}/?transport=ws-nal`, 'If-None-Match: "x", W/"y", *\r\n'),
  req('GET', '/fuzz/page'),
  req('GET', '/_api/paths', 'Accept: application/json\r\n'),
  req('GET', '/certificate.sha256'),
  req('GET', '/demo/index.html?x=1&y=%20'),
  req('HEAD', '/dist/player.js', 'If-None-Match: "abc"\r\nRange: bytes=0-10\r\n'),
  req('GET', `/${WATCH_PATH}/ws/nal`, 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n'),
  req('OPTIONS', '/fuzz/x/ws/fmp4', 'Origin: http://a\r\nAccess-Control-Request-Method: GET\r\n'),
  req('POST', '/', 'Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'),
];

const API = [
  req('GET', '/v3/info', AUTH),
  req('GET', '/v3/paths/list?page=0&itemsPerPage=10', AUTH),
  req('GET', `/v3/paths/get/${WATCH_PATH}`, AUTH),
  req('GET', '/v3/rtmpconns/get/abc', AUTH),
  req('GET', '/v3/config/global/get', AUTH),
  req('GET', '/v3/config/paths/get/all_others', AUTH),
  // Invalid on purpose: a mutation should rarely turn it into a real change of configuration.
  req('PATCH', '/v3/config/global/patch', AUTH, '{"rtmpAdress":":1","readTimeout":true}'),
  req('POST', '/v3/rtmpconns/kick/nonexistent', AUTH),
  req('GET', '/v3/paths/list'),
  req('GET', '/v3/info', 'Authorization: Bearer abc.def.ghi\r\n'),
];

/** Characters a client can put in a path that a server must escape or refuse, percent-encoded or raw. */
function oddPath(rng: Rng, r: Uint8Array): Uint8Array {
  const text = Buffer.from(r).toString('latin1');
  const sp = text.indexOf(' ');
  const end = text.indexOf(' ', sp + 1);
  if (sp < 0 || end < 0) return r;
  const at = sp + 1 + rng.int(end - sp);
  const byte = rng.pick([0x00, 0x0a, 0x0d, 0x7f, 0x80, 0xff, 0xf0, 0x25, 0x2f, 0x5c, rng.int(256)]);
  const insert = rng.chance(0.7) ? utf8(`%${byte.toString(16).toUpperCase().padStart(2, '0')}`) : Uint8Array.of(byte);
  return concatBytes([r.subarray(0, at), insert, r.subarray(at)]);
}

function fuzzRequest(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
  const roll = rng.int(100);
  if (roll < 30) {
    let r = rng.pick(corpus);
    for (let i = 0, n = 1 + rng.int(3); i < n; i++) r = oddPath(rng, r);
    return r;
  }
  if (roll < 35) {
    // A header the parser must bound: very long, or many.
    const base = Buffer.from(rng.pick(corpus)).toString('latin1');
    const header = rng.chance(0.5) ? `X-Long: ${'a'.repeat(1000 + rng.int(20000))}\r\n` : 'X-A: b\r\n'.repeat(50 + rng.int(200));
    return utf8(base.replace('\r\n', `\r\n${header}`));
  }
  return fuzzInput(rng, corpus, 200);
}

export const http: FuzzTarget = {
  name: 'http',
  summary: 'HTTP/1.1 requests (request line, odd paths, headers, bodies) on the web port and the control API port',
  async wire(ctx: CaseContext) {
    await runCases(ctx, this.name, async (index, rng) => {
      const api = rng.chance(0.35);
      const bytes = fuzzRequest(rng, api ? API : WEB);
      ctx.sent();
      const { data } = await exchange(api ? ctx.ports.api : ctx.ports.web, [bytes], 300, rng, (d) => d.includes('\r\n\r\n'));
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(data.subarray(0, 32).toString('latin1'))?.[1];
      if (status !== undefined && Number(status) >= 500) {
        const line = Buffer.from(bytes.subarray(0, 120)).toString('latin1').split('\r\n')[0];
        ctx.finding({ kind: '5xx', detail: `${api ? 'API' : 'web'} port answered ${status} to ${JSON.stringify(line)}`, caseIndex: index, bytes });
      }
    });
  },
};
