/**
 * An edge carries every codec of the stream model: it pulls ws-nal
 * version 2 from its origin, so HEVC, AV1 and VP9 video and Opus audio
 * published over enhanced RTMP reach the edge's viewers as the origin's
 * viewers get them: the same `init` and, frame by frame, the same bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeClip, enhancedTags, publishTags, type ClipOptions } from '../helpers/ertmp-publisher.js';
import { NalClient } from '../helpers/nal-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { useErtmpServer } from '../ertmp/fixture.js';

const origin = useErtmpServer('paths:\n  all_others:\n');
let edge: TestServer;
const clients: NalClient[] = [];

beforeAll(async () => {
  edge = await startServer(
    ['paths:', '  ~^codecs/(.+)$:', `    source: polycast://127.0.0.1:${origin.srv.webPort}/codecs/$G1`, '    sourceOnDemand: yes', ''].join('\n'),
  );
});

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await edge?.stop();
});

function viewer(url: string): NalClient {
  const c = new NalClient(`${url}?version=2`);
  clients.push(c);
  return c;
}

const cases: Array<{ name: string; clip: ClipOptions; video: RegExp; audio: RegExp }> = [
  { name: 'hevc-aac', clip: { video: 'hevc', audio: 'aac', size: '320x240' }, video: /^hvc1\./, audio: /^mp4a\.40\.2$/ },
  { name: 'av1-opus', clip: { video: 'av1', audio: 'opus', size: '320x240' }, video: /^av01\./, audio: /^opus$/ },
  { name: 'vp9-opus', clip: { video: 'vp9', audio: 'opus', size: '352x288' }, video: /^vp09\./, audio: /^opus$/ },
];

describe('an edge pulling ws-nal version 2', () => {
  for (const c of cases) {
    it(`${c.name}: the edge's viewers get the origin's init and the origin's frames, byte for byte`, async () => {
      const clip = await encodeClip(origin.dir, `edge-${c.name}`, { seconds: 8, ...c.clip });
      void publishTags(origin.srv.rtmpPort, 'codecs', c.name, clip, enhancedTags(clip), { paced: true }).then((p) => origin.keep(p.client));
      const direct = viewer(origin.srv.wsUrl(`codecs/${c.name}`));
      const viaEdge = viewer(edge.wsUrl(`codecs/${c.name}`));
      const enough = (n: NalClient) => n.video.length >= 40 && n.audio.length >= 40;
      await Promise.all([direct, viaEdge].map((n) => n.until(() => enough(n), 20_000, 'video and audio frames')));

      const [originInit, edgeInit] = [direct, viaEdge].map((n) => n.texts('init').at(-1)!);
      expect(String((originInit!.video as { codec: string }).codec)).toMatch(c.video);
      expect(String((originInit!.audio as { codec: string }).codec)).toMatch(c.audio);
      expect(edgeInit!.video).toEqual(originInit!.video);
      expect(edgeInit!.audio).toEqual(originInit!.audio);

      for (const kind of ['video', 'audio'] as const) {
        const byDts = new Map(direct[kind].map((m) => [m.dts, m]));
        const common = viaEdge[kind].filter((m) => byDts.has(m.dts));
        expect(common.length, `${kind} frames seen on both`).toBeGreaterThan(20);
        for (const m of common) {
          const o = byDts.get(m.dts)!;
          expect([m.pts, m.flags & 0x01]).toEqual([o.pts, o.flags & 0x01]);
          expect(m.payload.equals(o.payload), `${kind} frame at ${m.dts} µs`).toBe(true);
        }
      }
    }, 60_000);
  }
});
