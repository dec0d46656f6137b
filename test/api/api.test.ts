import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { waitFor } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let base: string;
let pub: Publisher;
let viewer: NalClient;
let fmp4: NalClient;
const extra: Publisher[] = [];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const get = async (path: string) => {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Json };
};
const send = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
};

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

beforeAll(async () => {
  const apiPort = await freePort();
  base = `http://127.0.0.1:${apiPort}`;
  srv = await startServer(
    [
      'api: yes',
      `apiAddress: 127.0.0.1:${apiPort}`,
      'authInternalUsers:',
      '  - user: any',
      '    permissions: [{ action: publish }, { action: read }, { action: api }]',
      '  - user: admin',
      '    pass: secret1',
      '    permissions: [{ action: api }]',
      'paths:',
      '  static/one:',
      '    maxReaders: 5',
      '  ~^live/:',
      '',
    ].join('\n'),
  );
  pub = publish(srv.rtmpUrl('live/cam?key=1'), { size: '320x240' });
  await waitFor(() => srv.server.paths.get('live/cam')?.stream?.ready === true, 20_000, 'publish');
  viewer = new NalClient(srv.wsUrl('live/cam', 'ws/nal?player=test'));
  fmp4 = new NalClient(srv.wsUrl('live/cam', 'ws/fmp4?protocol=standard&token=abc'));
  await viewer.until(() => viewer.video.length > 2, 15_000, 'frames');
  await Promise.all([viewer.opened, fmp4.opened]);
});

afterAll(async () => {
  viewer.close();
  fmp4.close();
  for (const p of [pub, ...extra]) await p.stop();
  await srv.stop();
});

describe('control API: server and paths', () => {
  it('GET /v3/info', async () => {
    const { status, type, body } = await get('/v3/info');
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json/);
    expect(body).toEqual({ version: srv.server.version, started: expect.stringMatching(ISO) });
  });

  it('GET /v3/paths/list: MediaMTX items with source, readers and byte counts', async () => {
    const { body } = await get('/v3/paths/list');
    expect(body.itemCount).toBe(2);
    expect(body.pageCount).toBe(1);
    const cam = body.items.find((p: { name: string }) => p.name === 'live/cam');
    expect(cam).toEqual({
      name: 'live/cam',
      confName: '~^live/',
      source: { type: 'rtmpConn', id: srv.server.paths.get('live/cam')!.publisher!.id },
      ready: true,
      readyTime: expect.stringMatching(ISO),
      available: true,
      availableTime: expect.stringMatching(ISO),
      online: true,
      onlineTime: expect.stringMatching(ISO),
      tracks: ['H264', 'MPEG-4 Audio'],
      readers: expect.arrayContaining([
        { type: 'wsNalSession', id: expect.any(String) },
        { type: 'wsFmp4Session', id: expect.any(String) },
      ]),
      inboundBytes: expect.any(Number),
      outboundBytes: expect.any(Number),
    });
    expect(cam.inboundBytes).toBeGreaterThan(1000);
    expect(cam.outboundBytes).toBeGreaterThan(1000);
    const idle = body.items.find((p: { name: string }) => p.name === 'static/one');
    expect(idle).toMatchObject({ confName: 'static/one', source: null, ready: false, readyTime: null, readers: [], tracks: [] });
  });

  it('GET /v3/paths/get/<name> with slashes in the name; 404 as JSON', async () => {
    expect((await get('/v3/paths/get/live/cam')).body.name).toBe('live/cam');
    const missing = await get('/v3/paths/get/no/such');
    expect(missing).toMatchObject({ status: 404, body: { status: 'error', error: 'path not found' } });
  });

  it('paginates like MediaMTX: itemsPerPage and page (from 0), 400 on bad values', async () => {
    const page1 = await get('/v3/paths/list?itemsPerPage=1&page=1');
    expect(page1.body).toMatchObject({ itemCount: 2, pageCount: 2 });
    expect(page1.body.items.map((p: { name: string }) => p.name)).toEqual(['static/one']);
    expect((await get('/v3/paths/list?itemsPerPage=1&page=5')).body.items).toEqual([]);
    const bad = await get('/v3/paths/list?itemsPerPage=0');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/itemsPerPage/);
  });

  it('answers unknown routes with a JSON 404', async () => {
    expect(await get('/v3/nothing')).toMatchObject({ status: 404, body: { error: 'no such route: GET /v3/nothing' } });
  });
});

describe('control API: connections and sessions', () => {
  it('lists, gets and kicks RTMP connections', async () => {
    const list = await get('/v3/rtmpconns/list');
    expect(list.body.itemCount).toBe(1);
    const conn = list.body.items[0];
    expect(conn).toEqual({
      id: srv.server.paths.get('live/cam')!.publisher!.id,
      created: expect.stringMatching(ISO),
      remoteAddr: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      state: 'publish',
      path: 'live/cam',
      query: 'key=1',
      inboundBytes: expect.any(Number),
      outboundBytes: expect.any(Number),
    });
    expect((await get(`/v3/rtmpconns/get/${conn.id}`)).body).toEqual({ ...conn, inboundBytes: expect.any(Number), outboundBytes: expect.any(Number) });
    expect((await get('/v3/rtmpconns/get/nope')).status).toBe(404);
    // Kick a second publisher, not the one the other tests watch.
    const other = publish(srv.rtmpUrl('live/kickme'), { size: '160x120', audio: false });
    extra.push(other);
    await waitFor(() => srv.server.paths.get('live/kickme')?.stream?.ready === true, 20_000, 'second publish');
    const id = srv.server.paths.get('live/kickme')!.publisher!.id;
    expect(await send('POST', `/v3/rtmpconns/kick/${id}`)).toEqual({ status: 200, body: { status: 'ok' } });
    await waitFor(() => srv.server.paths.get('live/kickme')?.publisher == null, 5000, 'kicked publisher gone');
    expect((await send('POST', '/v3/rtmpconns/kick/nope')).status).toBe(404);
  });

  it.each([
    ['wsnalsessions', () => viewer, 'player=test', {}],
    ['wsfmp4sessions', () => fmp4, 'protocol=standard&token=redacted', { variant: 'standard' }],
  ])('lists, gets and kicks /v3/%s', async (name, client, query, extraFields) => {
    const list = await get(`/v3/${name}/list`);
    expect(list.body.itemCount).toBe(1);
    const s = list.body.items[0];
    expect(s).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}$/),
      created: expect.stringMatching(ISO),
      remoteAddr: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      state: 'read',
      path: 'live/cam',
      query,
      inboundBytes: expect.any(Number),
      outboundBytes: expect.any(Number),
      outboundFramesDiscarded: 0,
      ...extraFields,
    });
    expect(s.outboundBytes).toBeGreaterThan(0);
    expect((await get(`/v3/${name}/get/${s.id}`)).body.id).toBe(s.id);
    expect((await get(`/v3/${name}/get/nope`)).body).toEqual({ status: 'error', error: 'session not found' });
    expect((await send('POST', `/v3/${name}/kick/${s.id}`)).body).toEqual({ status: 'ok' });
    const closed = await client().closed;
    expect(closed).toEqual({ code: 1008, reason: 'kicked through the API' });
    expect((await get(`/v3/${name}/list`)).body.itemCount).toBe(0);
  });
});

describe('control API: configuration', () => {
  it('GET /v3/config/global/get: every global setting in file form, passwords redacted', async () => {
    const { body } = await get('/v3/config/global/get');
    expect(body).toMatchObject({ readTimeout: '10s', writeQueueSize: 512, api: true, authMethod: 'internal', logLevel: 'debug' });
    expect(body.authInternalUsers[1]).toMatchObject({ user: 'admin', pass: '<redacted>' });
    expect(body).not.toHaveProperty('paths');
    expect(body).not.toHaveProperty('pathDefaults');
  });

  it('PATCH /v3/config/global/patch applies like a reload; an invalid patch is a 400 with the file-less message', async () => {
    expect(await send('PATCH', '/v3/config/global/patch', { writeQueueSize: 64 })).toEqual({ status: 200, body: { status: 'ok' } });
    expect(srv.server.config.writeQueueSize).toBe(64);
    expect((await get('/v3/config/global/get')).body.writeQueueSize).toBe(64);
    const bad = await send('PATCH', '/v3/config/global/patch', { readTimeout: '10 seconds', rtmpAdress: ':1' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe(
      "rtmpAdress: unknown key (did you mean 'rtmpAddress'?)\nreadTimeout: '10 seconds' is not a duration (examples: 500ms, 10s, 1m)",
    );
    expect(srv.server.config.readTimeout).toBe(10_000);
    expect((await send('PATCH', '/v3/config/global/patch', { paths: {} })).status).toBe(400);
    // A body that is not an object is refused by the route's schema.
    expect((await send('PATCH', '/v3/config/global/patch', [1])).status).toBe(400);
  });

  it('GET and PATCH /v3/config/pathdefaults', async () => {
    expect((await get('/v3/config/pathdefaults/get')).body).toMatchObject({ maxReaders: 0, runOnDemandStartTimeout: '10s', overridePublisher: false });
    expect((await send('PATCH', '/v3/config/pathdefaults/patch', { maxReaders: 9 })).status).toBe(200);
    // Applied in place to the live path, whose entry does not set it.
    expect(srv.server.paths.get('live/cam')!.settings.maxReaders).toBe(9);
    expect((await send('PATCH', '/v3/config/pathdefaults/patch', { maxReaders: -1 })).body.error).toBe('pathDefaults.maxReaders: must be an integer ≥ 0');
  });

  it('lists and gets path configurations merged over pathDefaults', async () => {
    const list = await get('/v3/config/paths/list');
    expect(list.body.items.map((p: { name: string }) => p.name)).toEqual(['static/one', '~^live/']);
    expect((await get('/v3/config/paths/get/static/one')).body).toMatchObject({ name: 'static/one', maxReaders: 5, source: 'publisher' });
    expect((await get('/v3/config/paths/get/nope')).status).toBe(404);
  });

  it('adds, patches, replaces and deletes paths; a deleted path closes its viewers (4404)', async () => {
    expect((await send('POST', '/v3/config/paths/add/added/cam', { maxReaders: 1 })).body).toEqual({ status: 'ok' });
    expect((await send('POST', '/v3/config/paths/add/added/cam', {})).body.error).toBe('path already exists');
    const p = publish(srv.rtmpUrl('added/cam'), { size: '160x120', audio: false });
    extra.push(p);
    await waitFor(() => srv.server.paths.get('added/cam')?.stream?.ready === true, 20_000, 'publish on the added path');
    expect((await send('PATCH', '/v3/config/paths/patch/added/cam', { maxReaders: 2 })).status).toBe(200);
    expect(srv.server.paths.get('added/cam')!.settings.maxReaders).toBe(2);
    expect((await send('PATCH', '/v3/config/paths/patch/none', {})).status).toBe(404);
    expect((await send('POST', '/v3/config/paths/replace/added/cam', {})).status).toBe(200);
    expect(srv.server.paths.get('added/cam')!.settings.maxReaders).toBe(9);
    expect((await send('POST', '/v3/config/paths/add/bad', { maxReaders: 'x' })).body.error).toBe('paths.bad.maxReaders: must be an integer ≥ 0');
    const v = new NalClient(srv.wsUrl('added/cam'));
    await v.until(() => v.video.length > 0, 15_000, 'viewer on the added path');
    expect((await send('DELETE', '/v3/config/paths/delete/added/cam')).body).toEqual({ status: 'ok' });
    expect(await v.closed).toEqual({ code: 4404, reason: "path 'added/cam' was removed from the configuration" });
    expect(srv.server.paths.get('added/cam')).toBeUndefined();
    expect((await send('DELETE', '/v3/config/paths/delete/added/cam')).status).toBe(404);
  });
});
