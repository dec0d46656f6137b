import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { sleep, waitFor } from '../helpers/ops.js';
import { startServer, type TestServer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'polycast-hooks-'));
const file = (name: string) => join(dir, name);
const read = (name: string) => (existsSync(file(name)) ? readFileSync(file(name), 'utf8') : '');
const envOf = (name: string) => Object.fromEntries(read(name).trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const PUBLISH = 'exec "$POLYCAST_FFMPEG" -hide_banner -loglevel error -re -f lavfi -i testsrc=size=160x120:rate=25 -c:v libx264 -preset ultrafast -tune zerolatency -g 25 -pix_fmt yuv420p -f flv rtmp://127.0.0.1:$RTMP_PORT/$MTX_PATH';
const ENV = "env | grep -E '^(MTX_|POLYCAST_|RTMP_PORT|WEB_PORT|G[0-9])' | sort";

let srv: TestServer;
const publishers: Publisher[] = [];
const clients: NalClient[] = [];

beforeAll(async () => {
  srv = await startServer(
    [
      `runOnConnect: ${JSON.stringify(`echo "$MTX_CONN_TYPE $MTX_CONN_ID $POLYCAST_CONN_TYPE" >> ${file('connect.log')}`)}`,
      `runOnDisconnect: ${JSON.stringify(`echo "$MTX_CONN_TYPE $MTX_CONN_ID" >> ${file('disconnect.log')}`)}`,
      'paths:',
      '  init/env:',
      `    runOnInit: ${JSON.stringify(`${ENV} > ${file('init.env')}; sleep 1000 & echo $! > ${file('init-child.pid')}; wait`)}`,
      '  restart/me:',
      `    runOnInitRestart: yes`,
      `    runOnInit: ${JSON.stringify(`echo run >> ${file('restart.log')}`)}`,
      '  ~^demand/(.+)$:',
      `    runOnDemand: ${JSON.stringify(`${ENV} > ${file('demand.env')}; ${PUBLISH}`)}`,
      '    runOnDemandCloseAfter: 1s',
      `    runOnUnDemand: ${JSON.stringify(`echo "undemand $MTX_PATH" >> ${file('undemand.log')}`)}`,
      '  ~^never/:',
      `    runOnDemand: ${JSON.stringify(`echo $$ > ${file('never.pid')}; exec sleep 1000`)}`,
      '    runOnDemandStartTimeout: 1s',
      '  ~^avail/(.+)$:',
      `    runOnAvailable: ${JSON.stringify(`${ENV} > ${file('avail.env')}; exec sleep 1000`)}`,
      `    runOnUnavailable: ${JSON.stringify(`echo gone >> ${file('unavail.log')}`)}`,
      `    runOnRead: ${JSON.stringify(`${ENV} > ${file('read.env')}; exec sleep 1000`)}`,
      `    runOnUnread: ${JSON.stringify(`echo "unread $MTX_READER_ID" >> ${file('unread.log')}`)}`,
      '  ~^old/:',
      `    runOnReady: ${JSON.stringify(`echo ready >> ${file('ready.log')}`)}`,
      '  all_others:',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const p of publishers) await p.stop();
  await srv.stop();
});

describe('hooks', () => {
  it("runOnInit gets MediaMTX's variables and POLYCAST_ twins", async () => {
    await waitFor(() => read('init.env').includes('MTX_PATH'), 10_000, 'init.env');
    const env = envOf('init.env');
    expect(env).toMatchObject({
      MTX_PATH: 'init/env',
      POLYCAST_PATH: 'init/env',
      RTMP_PORT: String(srv.rtmpPort),
      WEB_PORT: String(srv.webPort),
    });
    expect(env.POLYCAST_FFMPEG).toMatch(/ffmpeg/);
  });

  it('restarts runOnInit when it exits, with runOnInitRestart', async () => {
    await waitFor(() => read('restart.log').split('\n').filter(Boolean).length >= 2, 10_000, 'a restart');
  });

  it('runOnDemand: a reader starts the command, waits for its publisher, and it stops runOnDemandCloseAfter after the last reader left', async () => {
    const viewer = new NalClient(srv.wsUrl('demand/cam', 'ws/nal?who=first&x=a b'));
    clients.push(viewer);
    await viewer.until(() => viewer.video.length >= 5, 20_000, 'on-demand frames');
    const env = envOf('demand.env');
    expect(env).toMatchObject({ MTX_PATH: 'demand/cam', G1: 'cam', MTX_QUERY: 'who%3Dfirst%26x%3Da%2520b', POLYCAST_QUERY: 'who%3Dfirst%26x%3Da%2520b' });
    expect(srv.server.paths.get('demand/cam')!.publisher!.protocol).toBe('rtmp');
    viewer.close();
    await viewer.closed;
    // Not yet: runOnDemandCloseAfter is 1s.
    await sleep(300);
    expect(srv.server.paths.get('demand/cam')?.publisher ?? null).not.toBeNull();
    await waitFor(() => (srv.server.paths.get('demand/cam')?.publisher ?? null) === null, 10_000, 'the on-demand publisher to stop');
    await waitFor(() => read('undemand.log').includes('undemand demand/cam'), 5000, 'runOnUnDemand');
  });

  it('runOnDemand: readers are closed (1013) and the command stopped when no publisher comes within runOnDemandStartTimeout', async () => {
    const viewer = new NalClient(srv.wsUrl('never/x'));
    clients.push(viewer);
    await waitFor(() => read('never.pid').trim() !== '', 5000, 'the command to start');
    const pid = Number(read('never.pid'));
    expect(alive(pid)).toBe(true);
    expect(await viewer.closed).toEqual({ code: 1013, reason: 'no publisher within 1s (runOnDemandStartTimeout)' });
    await waitFor(() => !alive(pid), 5000, 'the command to be stopped');
    expect(srv.logs.some((l) => l.msg === 'runOnDemand: timed out' && l.path === 'never/x')).toBe(true);
  });

  it('runOnAvailable / runOnUnavailable with the source and query; runOnRead / runOnUnread with the reader', async () => {
    const p = publish(srv.rtmpUrl('avail/cam?k=v'), { size: '160x120', audio: false });
    publishers.push(p);
    await waitFor(() => read('avail.env').includes('MTX_SOURCE_ID'), 20_000, 'runOnAvailable');
    const id = srv.server.paths.get('avail/cam')!.publisher!.id;
    expect(envOf('avail.env')).toMatchObject({
      MTX_PATH: 'avail/cam',
      G1: 'cam',
      MTX_SOURCE_TYPE: 'rtmpConn',
      MTX_SOURCE_ID: id,
      MTX_QUERY: 'k%3Dv',
      POLYCAST_SOURCE_TYPE: 'rtmpConn',
      POLYCAST_SOURCE_ID: id,
    });
    const viewer = new NalClient(srv.wsUrl('avail/cam', 'ws/nal?who=me'));
    clients.push(viewer);
    await waitFor(() => read('read.env').includes('MTX_READER_ID'), 10_000, 'runOnRead');
    const readerId = viewer.texts('hello')[0]!.id as string;
    expect(envOf('read.env')).toMatchObject({ MTX_READER_TYPE: 'wsNalSession', MTX_READER_ID: readerId, MTX_QUERY: 'who%3Dme', POLYCAST_READER_ID: readerId });
    viewer.close();
    await waitFor(() => read('unread.log').includes(`unread ${readerId}`), 5000, 'runOnUnread');
    await p.stop();
    await waitFor(() => read('unavail.log').includes('gone'), 5000, 'runOnUnavailable');
  });

  it("accepts MediaMTX's deprecated runOnReady with a warning, as runOnAvailable", async () => {
    const warning = srv.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('runOnReady'));
    expect(warning).toMatchObject({ level: 40, msg: expect.stringMatching(/^test\.yml:\d+:5: paths\.~\^old\/\.runOnReady: deprecated: use 'runOnAvailable' instead$/) });
    const p = publish(srv.rtmpUrl('old/cam'), { size: '160x120', audio: false });
    publishers.push(p);
    await waitFor(() => read('ready.log').includes('ready'), 20_000, 'runOnReady run as runOnAvailable');
  });

  it('runOnConnect / runOnDisconnect per client connection', async () => {
    const viewer = new NalClient(srv.wsUrl('somewhere'));
    await viewer.opened;
    await viewer.until(() => viewer.texts('hello').length > 0, 5000, 'hello');
    const id = viewer.texts('hello')[0]!.id as string;
    await waitFor(() => read('connect.log').includes(`wsNalSession ${id} wsNalSession`), 5000, 'runOnConnect');
    expect(read('connect.log')).toMatch(/^rtmpConn \S+ rtmpConn$/m);
    viewer.close();
    await waitFor(() => read('disconnect.log').includes(`wsNalSession ${id}`), 5000, 'runOnDisconnect');
  });

  it('kills every hook with its process group on shutdown', async () => {
    await waitFor(() => read('init-child.pid').trim() !== '', 5000, 'the runOnInit child');
    const child = Number(read('init-child.pid'));
    expect(alive(child)).toBe(true);
    await srv.stop();
    await waitFor(() => !alive(child), 5000, "the runOnInit command's child to be gone");
  });
});
