/**
 * A Polycast edge pulling over RTMP from a real peer: ffmpeg publishes into
 * node-media-server, the edge plays it from there (Polycast's own RTMP
 * server does not serve play). A relay in front of the peer counts the
 * edge's connections. Needs the build (dist/bench/nms-peer.js).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { waitFor } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { allOffline, apiPath, flvKeyframeTimes, keyframesAfter, onDemandPull, resumedAfter, startCountingRelay, startNms, type CountingRelay, type NmsPeer } from './helpers.js';

const PATH = 'live/edge';
const VIEWERS = 20;

let nms: NmsPeer;
let relay: CountingRelay;
let pub: Publisher;
let edge: TestServer;
let edgeApi: string;
const clients: NalClient[] = [];

const viewer = (path: string) => {
  const c = new NalClient(edge.wsUrl(path));
  clients.push(c);
  return c;
};
// Node-Media-Server takes /app/name with one level each.
const startPublisher = () => publish(`rtmp://127.0.0.1:${nms.rtmpPort}/live/edge`, { size: '320x180', rate: 25, gop: 25 });

beforeAll(async () => {
  nms = await startNms(await freePort(), await freePort());
  pub = startPublisher();
  relay = await startCountingRelay(nms.rtmpPort);
  const apiPort = await freePort();
  edgeApi = `http://127.0.0.1:${apiPort}`;
  edge = await startServer(
    [
      'api: yes',
      `apiAddress: 127.0.0.1:${apiPort}`,
      'paths:',
      `  ${PATH}:`,
      `    source: rtmp://127.0.0.1:${relay.port}/live/edge`,
      '  demand/edge:',
      `    source: rtmp://127.0.0.1:${relay.port}/live/edge`,
      '    sourceOnDemand: yes',
      '    sourceOnDemandCloseAfter: 1s',
      '',
    ].join('\n'),
  );
  await waitFor(() => edge.server.paths.get(PATH)?.stream?.ready === true, 20_000, 'the edge to pull the stream');
}, 40_000);

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await edge?.stop();
  await pub?.stop();
  await relay?.close();
  await nms?.kill();
});

describe('an edge pulling RTMP from node-media-server', () => {
  it("gives its viewers H.264 and AAC with the origin's timestamps", async () => {
    const reference = flvKeyframeTimes(`http://127.0.0.1:${nms.httpPort}/live/edge.flv`);
    const v = viewer(PATH);
    try {
      await v.until(() => keyframesAfter(v).length >= 3, 20_000, 'three keyframes');
      await waitFor(() => keyframesAfter(v).some((m) => reference.times.includes(m.dts / 1000)), 5000, 'a keyframe the origin also served over HTTP-FLV');
    } finally {
      reference.stop();
    }
    const init = v.texts('init')[0]!;
    expect(init['video']).toMatchObject({ codec: expect.stringMatching(/^avc1\./), codedWidth: 320, codedHeight: 180 });
    expect(init['audio']).toMatchObject({ codec: 'mp4a.40.2', sampleRate: 48000 });
    const edgeTimes = keyframesAfter(v).map((m) => m.dts / 1000);
    const common = edgeTimes.filter((t) => reference.times.includes(t));
    console.log(`rtmp edge: keyframes at ${edgeTimes.join(', ')} ms; node-media-server's HTTP-FLV had ${reference.times.join(', ')} ms`);
    expect(common.length).toBeGreaterThanOrEqual(1);
    expect(v.audio.length).toBeGreaterThan(0);
    v.close();
  });

  it(`is one connection to the origin for ${VIEWERS} viewers, and shows its source in the API`, async () => {
    const many = Array.from({ length: VIEWERS }, () => viewer(PATH));
    await Promise.all(many.map((c) => c.until(() => keyframesAfter(c).length >= 1, 15_000, 'a keyframe')));
    expect(relay.open).toBe(1);
    const onEdge = await apiPath(edgeApi, PATH);
    expect(onEdge).toMatchObject({ ready: true, source: { type: 'rtmpSource', id: expect.any(String) } });
    console.log(`rtmp edge: ${onEdge!.readers.length} readers on the edge, ${relay.open} connection to node-media-server`);
  });

  it('reconnects to an origin killed and started again on the same ports; viewers resume without reconnecting', async () => {
    const many = clients.slice(-VIEWERS);
    const marks = many.map((c) => c.events.length);
    await pub.stop();
    await nms.kill();
    const downAt = Date.now();
    await allOffline(many, marks, 15_000);
    nms = await startNms(nms.rtmpPort, nms.httpPort);
    pub = startPublisher();
    const resumed = await resumedAfter(many, marks, downAt, 30_000);
    for (const c of many) expect(c.closeInfo).toBeUndefined();
    await waitFor(() => relay.open === 1, 5000, 'one connection to the restarted origin');
    console.log(`rtmp edge: origin killed → first keyframe again ${Math.min(...resumed)}–${Math.max(...resumed)} ms (peer restart and ffmpeg start included)`);
  });

  it('sourceOnDemand: no connection until an edge viewer comes; none sourceOnDemandCloseAfter after it left', async () => {
    await waitFor(() => relay.open === 1, 5000, 'only the always-on pull');
    expect((await apiPath(edgeApi, 'demand/edge'))?.source?.type).toBe('rtmpSource');
    const closedAfter = await onDemandPull(viewer('demand/edge'), () => relay.open);
    console.log(`rtmp sourceOnDemand: connection closed ${closedAfter} ms after the last edge viewer left (sourceOnDemandCloseAfter: 1s)`);
    expect(closedAfter).toBeGreaterThanOrEqual(900);
  });
});
