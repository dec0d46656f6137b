import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { basic, testHttpServer, waitFor, wsOutcome } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';

type AuthServer = Awaited<ReturnType<typeof testHttpServer>>;

let srv: TestServer;
let auth: AuthServer;
let apiPort: number;
let metricsPort: number;
const publishers: Publisher[] = [];

/** The external authority: alice may do anything, bob only read 'live/cam'. */
function decide(body: Record<string, unknown>): number {
  if (body.user === 'alice' && body.password === 'wonder') return 200;
  if (body.user === 'bob' && body.password === 'builder' && body.action === 'read' && body.path === 'live/cam') return 204;
  return 401;
}

const bodies = () => auth.requests.map((r) => JSON.parse(r.body) as Record<string, unknown>);

beforeAll(async () => {
  auth = await testHttpServer((_req, body) => ({ status: decide(JSON.parse(body) as Record<string, unknown>), body: 'nope' }));
  apiPort = await freePort();
  metricsPort = await freePort();
  srv = await startServer(
    [
      'authMethod: http',
      `authHTTPAddress: ${auth.url}/auth`,
      'authHTTPExclude:',
      '  - action: read',
      '    path: ~^public/',
      'authMaxFailures: 0',
      'api: yes',
      `apiAddress: 127.0.0.1:${apiPort}`,
      'metrics: yes',
      `metricsAddress: 127.0.0.1:${metricsPort}`,
      'paths:',
      '  all_others:',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await srv.stop();
  await auth.close();
});

describe('HTTP authentication', () => {
  it('POSTs MediaMTX\'s request body for an RTMP publish and lets it through on 2xx', async () => {
    const p = publish(srv.rtmpUrl('live/cam?user=alice&pass=wonder'), { size: '320x240', audio: false });
    publishers.push(p);
    await waitFor(() => srv.server.paths.get('live/cam')?.stream?.ready === true, 20_000, 'publish');
    const body = bodies().find((b) => b.action === 'publish')!;
    expect(body).toEqual({
      user: 'alice',
      password: 'wonder',
      token: '',
      ip: '127.0.0.1',
      action: 'publish',
      path: 'live/cam',
      protocol: 'rtmp',
      id: srv.server.paths.get('live/cam')!.publisher!.id,
      query: 'user=alice&pass=wonder',
    });
    expect(auth.requests.every((r) => r.method === 'POST' && r.url === '/auth')).toBe(true);
  });

  it('refuses a publish the server answers non-2xx, with the answer in the log', async () => {
    const p = publish(srv.rtmpUrl('live/denied?user=mallory&pass=x'), { duration: 5, audio: false });
    publishers.push(p);
    expect(await p.exited).not.toBe(0);
    const refusal = srv.logs.find((l) => l.msg === 'publish refused' && l.path === 'live/denied');
    expect(refusal?.reason).toBe('authentication failed: the HTTP authentication server answered 401 (nope)');
  });

  it.each([
    ['ws-nal', 'ws/nal'],
    ['ws-fmp4', 'ws/fmp4?protocol=standard'],
  ])('asks it about %s reads and honours the answer', async (protocol, suffix) => {
    const ok = await wsOutcome(srv.wsUrl('live/cam', suffix), { authorization: basic('bob', 'builder') });
    expect(ok.opened).toBe(true);
    expect(ok.code).not.toBe(1008);
    const refused = await wsOutcome(srv.wsUrl('live/other', suffix), { authorization: basic('bob', 'builder') });
    expect(refused.code).toBe(1008);
    expect(bodies().some((b) => b.action === 'read' && b.protocol === protocol && b.path === 'live/other' && b.user === 'bob')).toBe(true);
  });

  it('asks it about snapshots, the API and metrics', async () => {
    const snap = await fetch(srv.httpUrl('/live/cam/snapshot.jpg'), { headers: { authorization: basic('bob', 'wrong') } });
    expect(snap.status).toBe(403);
    expect(bodies().some((b) => b.protocol === 'jpeg' && b.action === 'read')).toBe(true);
    const api = (auth: string) => fetch(`http://127.0.0.1:${apiPort}/v3/info`, { headers: { authorization: auth } });
    expect((await api(basic('alice', 'wonder'))).status).toBe(200);
    expect((await api(basic('bob', 'builder'))).status).toBe(403);
    expect(bodies().some((b) => b.action === 'api' && b.path === '' && b.user === 'bob')).toBe(true);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { authorization: basic('alice', 'wonder') } })).status).toBe(200);
    expect(bodies().some((b) => b.action === 'metrics')).toBe(true);
  });

  it('passes a Bearer token on, and skips the call for excluded actions', async () => {
    await wsOutcome(srv.wsUrl('live/cam'), { authorization: 'Bearer abc.def' });
    expect(bodies().some((b) => b.token === 'abc.def' && b.action === 'read')).toBe(true);
    const before = auth.requests.length;
    const open = await wsOutcome(srv.wsUrl('public/lobby'));
    expect(open.opened).toBe(true);
    expect(open.code).not.toBe(1008);
    expect(auth.requests.length).toBe(before);
  });

  it('refuses, saying so, when the authentication server is unreachable', async () => {
    await auth.close();
    const res = await wsOutcome(srv.wsUrl('live/cam'), { authorization: basic('alice', 'wonder') });
    expect(res.code).toBe(1008);
    expect(res.reason).toMatch(/^authentication failed: the HTTP authentication server did not answer/);
  });
});
