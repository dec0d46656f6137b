import { createHash } from 'node:crypto';
import argon2 from 'argon2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { basic, waitFor, wsOutcome } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let apiPort: number;
let metricsPort: number;
let live: Publisher;
const publishers: Publisher[] = [];

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('base64')}`;

beforeAll(async () => {
  apiPort = await freePort();
  metricsPort = await freePort();
  const viewerHash = await argon2.hash('viewsecret', { type: argon2.argon2id });
  srv = await startServer(
    [
      'api: yes',
      `apiAddress: 127.0.0.1:${apiPort}`,
      'metrics: yes',
      `metricsAddress: 127.0.0.1:${metricsPort}`,
      'authMaxFailures: 0',
      'authInternalUsers:',
      '  - user: publisher',
      `    pass: "${sha256('pubsecret')}"`,
      '    permissions:',
      '      - action: publish',
      '        path: ~^live/',
      '  - user: viewer',
      `    pass: "argon2:${viewerHash}"`,
      '    permissions:',
      '      - action: read',
      '        path: live/cam',
      '  - user: admin',
      '    pass: adminpass',
      '    permissions:',
      '      - action: api',
      '      - action: metrics',
      '  - user: any',
      "    ips: ['10.0.0.0/8']",
      '    permissions:',
      '      - action: read',
      '  - user: any',
      '    permissions:',
      '      - action: read',
      '        path: open',
      'paths:',
      '  all_others:',
      '',
    ].join('\n'),
  );
  live = publish(srv.rtmpUrl('live/cam?user=publisher&pass=pubsecret'), { size: '320x240' });
  publishers.push(live);
  await waitFor(() => srv.server.paths.get('live/cam')?.stream?.ready === true, 20_000, 'live/cam to be published');
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await srv.stop();
});

const refusedPublishes = () => srv.logs.filter((l) => l.msg === 'publish refused');

describe('internal authentication', () => {
  it('lets a user with a sha256 password publish where a regex permission allows it', () => {
    expect(srv.server.paths.get('live/cam')?.publisher?.protocol).toBe('rtmp');
    // Hooks and the API see the query without the password.
    expect(srv.server.paths.get('live/cam')?.publisher?.query).toBe('user=publisher&pass=redacted');
  });

  it('refuses an RTMP publish with a wrong password or outside the permitted paths, saying why', async () => {
    const wrong = publish(srv.rtmpUrl('live/other?user=publisher&pass=nope'), { duration: 5 });
    const elsewhere = publish(srv.rtmpUrl('other/cam?user=publisher&pass=pubsecret'), { duration: 5 });
    // A single-level URL: ffmpeg sends its query in the RTMP app, not the stream name.
    const solo = publish(srv.rtmpUrl('solo?user=publisher&pass=pubsecret'), { duration: 5 });
    publishers.push(wrong, elsewhere, solo);
    expect(await wrong.exited).not.toBe(0);
    expect(await elsewhere.exited).not.toBe(0);
    expect(await solo.exited).not.toBe(0);
    const reasons = refusedPublishes().map((l) => `${l.path as string}: ${l.reason as string}`);
    expect(reasons).toContain("live/other: authentication failed: wrong credentials, or no permission to publish 'live/other'");
    expect(reasons).toContain("other/cam: authentication failed: wrong credentials, or no permission to publish 'other/cam'");
    expect(reasons).toContain("solo: authentication failed: wrong credentials, or no permission to publish 'solo'");
    expect(srv.server.paths.get('live/other')?.publisher ?? null).toBeNull();
  });

  it('lets a user with an argon2 password read /ws/nal with a Basic header, and refuses others with 1008', async () => {
    const ok = new NalClient(srv.wsUrl('live/cam'), { headers: { authorization: basic('viewer', 'viewsecret') } });
    await ok.until(() => ok.video.length >= 3, 15_000, 'frames for an authorized viewer');
    ok.close();
    const wrong = await wsOutcome(srv.wsUrl('live/cam'), { authorization: basic('viewer', 'wrong') });
    expect(wrong).toMatchObject({ code: 1008, reason: "authentication failed: wrong credentials, or no permission to read 'live/cam'" });
    const anonymous = await wsOutcome(srv.wsUrl('live/cam'));
    expect(anonymous).toMatchObject({ code: 1008, reason: "authentication required to read 'live/cam'" });
    expect(srv.logs.some((l) => l.msg === 'viewer refused' && l.transport === 'ws-nal')).toBe(true);
  });

  it("gives the publisher side's /ws/input socket only to who may publish the path", async () => {
    expect(await wsOutcome(srv.wsUrl('live/cam', 'ws/input'))).toMatchObject({ code: 1008, reason: "authentication required to publish 'live/cam'" });
    const publisherSide = await wsOutcome(srv.wsUrl('live/cam', 'ws/input?user=publisher&pass=pubsecret'));
    expect(publisherSide.opened).toBe(true);
    expect(publisherSide.code).not.toBe(1008);
  });

  it('takes user and pass from the query on /ws/fmp4, and limits them to their paths', async () => {
    const ok = await wsOutcome(srv.wsUrl('live/cam', 'ws/fmp4?protocol=standard&user=viewer&pass=viewsecret'));
    expect(ok.opened).toBe(true);
    expect(ok.code).not.toBe(1008);
    const otherPath = await wsOutcome(srv.wsUrl('live/elsewhere', 'ws/fmp4?protocol=standard&user=viewer&pass=viewsecret'));
    expect(otherPath.code).toBe(1008);
  });

  it("lets 'any' read where it may, and holds an IP-restricted 'any' to its networks", async () => {
    expect((await wsOutcome(srv.wsUrl('open'))).opened).toBe(true);
    expect((await wsOutcome(srv.wsUrl('open'))).code).not.toBe(1008);
    // The 10.0.0.0/8 user would allow reading live/cam, but this client is 127.0.0.1.
    expect((await wsOutcome(srv.wsUrl('live/cam'))).code).toBe(1008);
  });

  it.each([
    // A snapshot decoder answers 503 while it starts; a keyframe is 404 until the stream has one.
    ['snapshots', 'snapshot.jpg', 'image/jpeg', 503],
    ["the page's keyframe", 'ws/nal/keyframe', 'application/octet-stream', 404],
  ])('answers %s 200 when allowed, 401 with a challenge without credentials, 403 with wrong ones', async (_name, suffix, type, notYet) => {
    let res: Response | undefined;
    for (let i = 0; i < 20; i++) {
      res = await fetch(srv.httpUrl(`/live/cam/${suffix}`), { headers: { authorization: basic('viewer', 'viewsecret') } });
      if (res.status !== notYet) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(res!.status).toBe(200);
    expect(res!.headers.get('content-type')).toBe(type);
    const none = await fetch(srv.httpUrl(`/live/cam/${suffix}`));
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="polycast"');
    const wrong = await fetch(srv.httpUrl(`/live/cam/${suffix}`), { headers: { authorization: basic('viewer', 'bad') } });
    expect(wrong.status).toBe(403);
    // Refused before the path is even looked up: no hint whether it exists.
    expect((await fetch(srv.httpUrl(`/nowhere/${suffix}`))).status).toBe(401);
  });

  it.each([
    ['API', () => `http://127.0.0.1:${apiPort}/v3/info`],
    ['metrics', () => `http://127.0.0.1:${metricsPort}/metrics`],
  ])('guards the %s: 200 for its user, 401 with a challenge without credentials, 403 for others', async (_name, url) => {
    expect((await fetch(url(), { headers: { authorization: basic('admin', 'adminpass') } })).status).toBe(200);
    const none = await fetch(url());
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="polycast"');
    expect(await none.json()).toMatchObject({ error: expect.stringContaining('authentication required') });
    const other = await fetch(url(), { headers: { authorization: basic('viewer', 'viewsecret') } });
    expect(other.status).toBe(403);
  });
});

describe('brute-force protection', () => {
  let guarded: TestServer;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    guarded = await startServer(
      [
        'api: yes',
        `apiAddress: 127.0.0.1:${port}`,
        'authMaxFailures: 3',
        'authFailureWindow: 10s',
        'authBlockDuration: 2s',
        'authInternalUsers:',
        '  - user: admin',
        '    pass: right',
        '    permissions: [{ action: api }, { action: read }]',
        'paths:',
        '  all_others:',
        '',
      ].join('\n'),
    );
  });

  afterAll(() => guarded.stop());

  it('blocks an IP after repeated failures, logs it, refuses even good credentials meanwhile, then lets it in again', async () => {
    const info = (pass: string) => fetch(`http://127.0.0.1:${port}/v3/info`, { headers: { authorization: basic('admin', pass) } });
    expect((await info('right')).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await info('guess')).status).toBe(403);
    // A failure on another protocol counts for the same IP.
    expect((await wsOutcome(guarded.wsUrl('x'), { authorization: basic('admin', 'guess') })).code).toBe(1008);
    const blocked = await info('right');
    expect(blocked.status).toBe(403);
    expect(await blocked.json()).toMatchObject({ error: expect.stringMatching(/^too many failed authentication attempts from 127\.0\.0\.1; retry in [12]s$/) });
    expect(guarded.logs.some((l) => l.msg === 'blocking 127.0.0.1: too many failed authentication attempts')).toBe(true);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await info('right')).status).toBe(200);
  });

  it('does not count a request without credentials as a guess', async () => {
    for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${port}/v3/info`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${port}/v3/info`, { headers: { authorization: basic('admin', 'right') } })).status).toBe(200);
  });
});
