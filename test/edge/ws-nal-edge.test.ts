/**
 * A Polycast edge pulling a path from a Polycast origin over ws-nal, both
 * real servers on loopback with a real ffmpeg publisher: the edge's viewers
 * get the origin's frames with the origin's timestamps, the origin serves
 * the edge as one reader however many viewers it has, and viewers ride out a
 * publisher restart and an origin restart without reconnecting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { waitFor } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { allOffline, apiPath, keyframesAfter, onDemandPull, resumedAfter } from './helpers.js';

const PATH = 'live/x';
const VIEWERS = 20;

let origin: TestServer;
let edge: TestServer;
let pub: Publisher;
let ports: { rtmpPort: number; webPort: number; apiPort: number };
let originApi: string;
let edgeApi: string;
const clients: NalClient[] = [];

const viewer = (url: string) => {
  const c = new NalClient(url);
  clients.push(c);
  return c;
};
const startOrigin = () => startServer(`api: yes\napiAddress: 127.0.0.1:${ports.apiPort}\npaths:\n  all_others:\n`, ports);
const startPublisher = () => publish(origin.rtmpUrl(PATH), { size: '320x180', rate: 25, gop: 25 });
const originReaders = async () => (await apiPath(originApi, PATH))?.readers.length ?? 0;

beforeAll(async () => {
  ports = { rtmpPort: await freePort(), webPort: await freePort(), apiPort: await freePort() };
  originApi = `http://127.0.0.1:${ports.apiPort}`;
  origin = await startOrigin();
  pub = startPublisher();
  await waitFor(() => origin.server.paths.get(PATH)?.stream?.ready === true, 15_000, 'the origin to be live');
  const edgeApiPort = await freePort();
  edgeApi = `http://127.0.0.1:${edgeApiPort}`;
  edge = await startServer(
    [
      'api: yes',
      `apiAddress: 127.0.0.1:${edgeApiPort}`,
      'paths:',
      `  ${PATH}:`,
      `    source: ws://127.0.0.1:${ports.webPort}/${PATH}/ws/nal`,
      '  demand/x:',
      `    source: polycast://127.0.0.1:${ports.webPort}/${PATH}`,
      '    sourceOnDemand: yes',
      '    sourceOnDemandCloseAfter: 1s',
      '  demand/nothing:',
      `    source: polycast://127.0.0.1:${ports.webPort}/nobody/publishes`,
      '    sourceOnDemand: yes',
      '    sourceOnDemandStartTimeout: 1s',
      '  ~^proxy/(.+)$:',
      `    source: polycast://127.0.0.1:${ports.webPort}/live/$G1`,
      '    sourceOnDemand: yes',
      '    sourceOnDemandCloseAfter: 500ms',
      '',
    ].join('\n'),
  );
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await pub?.stop();
  await edge?.stop();
  await origin?.stop();
});

describe('an edge pulling ws-nal from a Polycast origin', () => {
  it("gives its viewers the origin's keyframes, timestamps and bytes", async () => {
    const direct = viewer(origin.wsUrl(PATH));
    const viaEdge = viewer(edge.wsUrl(PATH));
    await Promise.all([direct, viaEdge].map((c) => c.until(() => keyframesAfter(c).length >= 3, 20_000, 'three keyframes')));
    const byDts = new Map(keyframesAfter(direct).map((m) => [m.dts, m]));
    const common = keyframesAfter(viaEdge).filter((m) => byDts.has(m.dts));
    expect(common.length).toBeGreaterThanOrEqual(2);
    for (const m of common) {
      const o = byDts.get(m.dts)!;
      expect(m.pts).toBe(o.pts);
      // Annex B with SPS and PPS in front, rebuilt on the edge from its own track: the same bytes.
      expect(m.payload.equals(o.payload)).toBe(true);
    }
    const [originInit, edgeInit] = [direct, viaEdge].map((c) => c.texts('init').at(-1)!);
    expect(edgeInit.video).toEqual(originInit!.video);
    expect(edgeInit.audio).toEqual(originInit!.audio);
    const latency = common.map((m) => m.arrivedAt - byDts.get(m.dts)!.arrivedAt);
    console.log(`ws-nal edge: ${common.length} keyframes seen on both, edge arrival − origin arrival ${latency.join(', ')} ms`);
    direct.close();
    viaEdge.close();
  });

  it(`is one reader on the origin for ${VIEWERS} viewers, and shows its source in the API`, async () => {
    const many = Array.from({ length: VIEWERS }, () => viewer(edge.wsUrl(PATH)));
    await Promise.all(many.map((c) => c.until(() => keyframesAfter(c).length >= 1, 15_000, 'a keyframe')));
    await waitFor(async () => (await originReaders()) === 1, 5000, 'the direct viewer to leave the origin');
    const onOrigin = await apiPath(originApi, PATH);
    expect(onOrigin!.readers).toEqual([{ type: 'wsNalSession', id: expect.any(String) }]);
    const onEdge = await apiPath(edgeApi, PATH);
    expect(onEdge).toMatchObject({ ready: true, source: { type: 'wsNalSource', id: expect.any(String) } });
    expect(onEdge!.readers.length).toBeGreaterThanOrEqual(VIEWERS);
    console.log(`ws-nal edge: ${onEdge!.readers.length} readers on the edge, ${onOrigin!.readers.length} on the origin`);
  });

  it("keeps viewers through the origin's publisher restart: offline, then a new init", async () => {
    const many = clients.slice(-VIEWERS);
    const marks = many.map((c) => c.events.length);
    await pub.stop();
    await allOffline(many, marks, 10_000);
    pub = startPublisher();
    await resumedAfter(many, marks, Date.now(), 20_000);
    for (const c of many) expect(c.closeInfo).toBeUndefined();
    expect(await originReaders()).toBe(1);
  });

  it('reconnects to an origin restarted on the same ports; viewers resume without reconnecting', async () => {
    const many = clients.slice(-VIEWERS);
    const marks = many.map((c) => c.events.length);
    await pub.stop();
    await origin.stop();
    const downAt = Date.now();
    await allOffline(many, marks, 10_000);
    origin = await startOrigin();
    pub = startPublisher();
    const resumed = await resumedAfter(many, marks, downAt, 25_000);
    for (const c of many) expect(c.closeInfo).toBeUndefined();
    expect(await originReaders()).toBe(1);
    console.log(`ws-nal edge: origin down → first keyframe again ${Math.min(...resumed)}–${Math.max(...resumed)} ms (origin restart and ffmpeg start included)`);
    expect(edge.logs.some((l) => l['msg'] === 'source lost, reconnecting')).toBe(true);
  });

  it('refuses RTMP publishers on a path whose source is a URL, saying why', async () => {
    const refused = publish(edge.rtmpUrl(PATH), { size: '160x120', duration: 2 });
    await refused.exited;
    const line = edge.logs.find((l) => l['msg'] === 'publish refused' && l['path'] === PATH);
    expect(line?.['reason']).toBe(`path '${PATH}' takes its stream from ws://127.0.0.1:${ports.webPort}/${PATH}/ws/nal (its source): it accepts no publisher`);
  });

  it('sourceOnDemand: no origin reader until an edge viewer comes; none sourceOnDemandCloseAfter after it left', async () => {
    await waitFor(async () => (await originReaders()) === 1, 5000, 'only the always-on edge on the origin');
    expect((await apiPath(edgeApi, 'demand/x'))?.source?.type).toBe('wsNalSource');
    expect((await apiPath(edgeApi, 'demand/x'))?.ready).toBe(false);
    const closedAfter = await onDemandPull(viewer(edge.wsUrl('demand/x')), originReaders);
    console.log(`sourceOnDemand: origin reader gone ${closedAfter} ms after the last edge viewer left (sourceOnDemandCloseAfter: 1s)`);
    expect(closedAfter).toBeGreaterThanOrEqual(900);
  });

  it('a ~regex path pulls the name its groups make ($G1) on demand, and goes when nobody reads it', async () => {
    const v = viewer(edge.wsUrl('proxy/x'));
    await v.until(() => keyframesAfter(v).length >= 1, 15_000, 'a keyframe through the proxy path');
    expect(await apiPath(edgeApi, 'proxy/x')).toMatchObject({ ready: true, source: { type: 'wsNalSource' } });
    expect(await originReaders()).toBe(2);
    v.close();
    await waitFor(async () => (await apiPath(edgeApi, 'proxy/x')) === undefined, 5000, 'the idle proxy path to go');
    await waitFor(async () => (await originReaders()) === 1, 5000, 'its pull to stop');
  });

  it("takes a changed source from the API (a reload) at once; the path's viewers stay through it", async () => {
    const v = viewer(edge.wsUrl(PATH));
    await v.until(() => keyframesAfter(v).length >= 1, 15_000, 'a keyframe');
    const mark = v.events.length;
    const patch = async (body: Record<string, unknown>) => {
      const res = await fetch(`${edgeApi}/v3/config/paths/patch/${PATH}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status, await res.text()).toBe(200);
    };
    await patch({ source: `polycast://127.0.0.1:${ports.webPort}/${PATH}` });
    await resumedAfter([v], [mark], Date.now(), 15_000);
    expect(v.closeInfo).toBeUndefined();
    const res = await fetch(`${edgeApi}/v3/config/paths/patch/${PATH}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'rtsp://cam/1' }) });
    expect(await res.json()).toEqual({ status: 'error', error: `paths.${PATH}.source: Polycast cannot pull 'rtsp' sources (it pulls rtmp, rtmps, ws, wss, polycast, polycasts, moqt)` });
    await patch({ source: 'publisher' });
    await waitFor(async () => (await apiPath(edgeApi, PATH))?.source === null, 5000, 'the path to take publishers again');
    await waitFor(async () => (await originReaders()) === 0, 5000, 'the pull to stop');
    v.close();
  });

  it('sourceOnDemand: an HLS request starts the pull itself, and gets the playlist once a segment exists', async () => {
    const index = await fetch(edge.httpUrl('/demand/x/index.m3u8'));
    const text = await index.text();
    expect(index.status, text).toBe(200);
    // Without the pull there would be no segment: a path nobody publishes to answers 404 "not live".
    expect(text).toContain('#EXTM3U');
  });

  it('sourceOnDemand: closes waiting viewers (1013) when the source delivers nothing in time', async () => {
    const v = viewer(edge.wsUrl('demand/nothing'));
    const closed = await v.closed;
    expect(closed).toEqual({ code: 1013, reason: 'the source did not deliver within 1s (sourceOnDemandStartTimeout)' });
  });
});
