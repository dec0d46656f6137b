/**
 * Polycast serving what MediaMTX's clients read: an edge pulling
 * `moqt://…/<path>?layout=mediamtx` from an origin Polycast connects to
 * `/<path>` (not `/moqt`), subscribes to `.catalog` in an empty namespace and
 * then to the catalog's tracks `"0"` and `"1"`, and gets `avc3` with the SPS
 * and PPS in band, 90 kHz / 48 kHz LOC timestamps and a stream per frame.
 * What its viewers get is what the origin's own viewers get: the same
 * parameter sets, and frame for frame the same bytes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseAvcDecoderConfig } from '../../src/codec/h264.js';
import { parseHevcDecoderConfig } from '../../src/codec/hevc.js';
import { buildMediaMtxCatalog } from '../../src/protocols/moqt/msf.js';
import type { MoqtTransport } from '../../transports/moqt/server.js';
import { useErtmpServer } from '../ertmp/fixture.js';
import { encodeClip, enhancedTags, publishTags } from '../helpers/ertmp-publisher.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { waitFor } from '../helpers/ops.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { expectSameFrames } from './helpers.js';

const origin = useErtmpServer('paths:\n  all_others:\n', { webTransport: true });
const servers: TestServer[] = [];
const publishers: Publisher[] = [];
const clients: NalClient[] = [];

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  for (const p of publishers) await p.stop();
  for (const s of servers) await s.stop();
});

function viewer(url: string): NalClient {
  const c = new NalClient(`${url}?version=2`);
  clients.push(c);
  return c;
}

describe('an edge pulling moqt://…?layout=mediamtx from a Polycast origin', () => {
  it('H.264 + AAC: avc3 with in-band parameter sets, clock-rate timestamps, the origin\'s frames byte for byte', async () => {
    publishers.push(publish(origin.srv.rtmpUrl('live/mtx'), { size: '320x240', rate: 25, gop: 25 }));
    await waitFor(() => origin.srv.server.paths.get('live/mtx')?.stream?.ready === true, 15_000, 'the origin path to go live');
    const fingerprint = (await (await fetch(origin.srv.httpUrl('/certificate.sha256'))).text()).trim();
    const url = `moqt://127.0.0.1:${origin.srv.webPort}/live/mtx?layout=mediamtx&fingerprint=${fingerprint}`;
    const edge = await startServer(`paths:\n  cam:\n    source: ${url}\n  cam16:\n    source: ${url}&draft=16\n`, { webTransport: false });
    servers.push(edge);
    const direct = viewer(origin.srv.wsUrl('live/mtx'));
    const viaEdge = [viewer(edge.wsUrl('cam')), viewer(edge.wsUrl('cam16'))];
    const enough = (n: NalClient) => n.video.length >= 60 && n.audio.length >= 60;
    await Promise.all([direct, ...viaEdge].map((n) => n.until(() => enough(n), 40_000, 'video and audio frames'))).catch((err: unknown) => {
      console.log(edge.logs.filter((l) => l['module'] === 'pull' || Number(l['level']) >= 40).map((l) => JSON.stringify(l)).join('\n'));
      throw err;
    });

    // The origin served both sessions at /live/mtx in MediaMTX's shape, on the newest draft and on 16.
    const moqt = origin.srv.server.transports.find((t) => t.name === 'moqt') as MoqtTransport;
    expect([...moqt.sessions].map((s) => s.version).sort()).toEqual(['moqt-16', 'moqt-19']);
    expect(origin.srv.logs.some((l) => l['msg'] === 'moqt session started' && l['path'] === 'live/mtx')).toBe(true);

    const originVideo = origin.srv.server.paths.get('live/mtx')!.stream!.description.video!;
    const originAudio = origin.srv.server.paths.get('live/mtx')!.stream!.description.audio!;
    for (const name of ['cam', 'cam16']) {
      const desc = edge.server.paths.get(name)!.stream!.description;
      const video = desc.video!;
      if (video.codec !== 'h264' || originVideo.codec !== 'h264') throw new Error('not h264');
      // The edge rebuilt avcC from the SPS and PPS that came in band: the origin's own.
      const [mine, theirs] = [parseAvcDecoderConfig(video.avcC), parseAvcDecoderConfig(originVideo.avcC)];
      expect(mine.sps.map((x) => Buffer.from(x).toString('hex'))).toEqual(theirs.sps.map((x) => Buffer.from(x).toString('hex')));
      expect(mine.pps.map((x) => Buffer.from(x).toString('hex'))).toEqual(theirs.pps.map((x) => Buffer.from(x).toString('hex')));
      expect(video.codecString).toBe(originVideo.codecString);
      expect([video.width, video.height]).toEqual([originVideo.width, originVideo.height]);
      // AAC from the catalog's initData: the origin's AudioSpecificConfig.
      const plain = (a: typeof originAudio) => (a.codec === 'aac' ? { ...a, asc: Buffer.from(a.asc).toString('hex') } : a);
      expect(plain(desc.audio!)).toEqual(plain(originAudio));
    }
    for (const v of viaEdge) {
      // Timestamps went through 90 kHz and 48 kHz and came back to the same µs: frames match by timestamp.
      expectSameFrames(direct, v, 'video', 30);
      expectSameFrames(direct, v, 'audio', 30);
    }
  }, 90_000);

  it.each([['hevc', /^hvc1\./], ['av1', /^av01\./]] as const)('%s + Opus over enhanced RTMP: hev1 with VPS/SPS/PPS in band, or av01 with av1C; the origin\'s parameter sets and frames', async (codec, codecPattern) => {
    const clip = await encodeClip(origin.dir, `mtx-${codec}`, { seconds: 8, video: codec, audio: 'opus', size: '320x240' });
    void publishTags(origin.srv.rtmpPort, 'mtx', codec, clip, enhancedTags(clip), { paced: true }).then((p) => origin.keep(p.client));
    await waitFor(() => origin.srv.server.paths.get(`mtx/${codec}`)?.stream?.ready === true, 20_000, 'the origin path to go live');
    const fingerprint = (await (await fetch(origin.srv.httpUrl('/certificate.sha256'))).text()).trim();
    const edge = await startServer(`paths:\n  v:\n    source: moqt://127.0.0.1:${origin.srv.webPort}/mtx/${codec}?layout=mediamtx&fingerprint=${fingerprint}\n`, { webTransport: false });
    servers.push(edge);
    const direct = viewer(origin.srv.wsUrl(`mtx/${codec}`));
    const viaEdge = viewer(edge.wsUrl('v'));
    const enough = (n: NalClient) => n.video.length >= 40 && n.audio.length >= 40;
    await Promise.all([direct, viaEdge].map((n) => n.until(() => enough(n), 30_000, 'video and audio frames'))).catch((err: unknown) => {
      console.log(edge.logs.filter((l) => l['module'] === 'pull' || Number(l['level']) >= 40).map((l) => JSON.stringify(l)).join('\n'));
      throw err;
    });
    const [originInit, edgeInit] = [direct, viaEdge].map((n) => n.texts('init').at(-1)!);
    expect(String((edgeInit!.video as { codec: string }).codec)).toMatch(codecPattern);
    // What the origin's catalog announced: hev1 (in band) with the rest of the hvc1 string, or AV1's string and av1C.
    const originDesc = origin.srv.server.paths.get(`mtx/${codec}`)!.stream!.description;
    const announced = buildMediaMtxCatalog(originDesc).tracks;
    expect(announced.map((t) => t.name)).toEqual(['0', '1']);
    expect(announced[0]!.codec).toBe(codec === 'hevc' ? originDesc.video!.codecString.replace(/^hvc1\./, 'hev1.') : originDesc.video!.codecString);
    expect(announced[0]!.initData === undefined).toBe(codec === 'hevc');
    expect(announced[1]).toMatchObject({ codec: 'opus', samplerate: 48_000, channels: 2, clockrate: 48_000 });
    if (codec === 'av1') expect(edgeInit!.video).toEqual(originInit!.video);
    else {
      // The edge rebuilt hvcC from the VPS, SPS and PPS that came in band: the origin's own, without the encoder's SEI array.
      const { description: edgeRecord, ...edgeRest } = edgeInit!.video as { description: string };
      const { description: originRecord, ...originRest } = originInit!.video as { description: string };
      expect(edgeRest).toEqual(originRest);
      const sets = (b64: string) => {
        const c = parseHevcDecoderConfig(new Uint8Array(Buffer.from(b64, 'base64')));
        return [c.vps, c.sps, c.pps].map((list) => list.map((x) => Buffer.from(x).toString('hex')));
      };
      expect(sets(edgeRecord)).toEqual(sets(originRecord));
    }
    expect(edgeInit!.audio).toEqual(originInit!.audio);
    expectSameFrames(direct, viaEdge, 'video', 20);
    expectSameFrames(direct, viaEdge, 'audio', 20);
  }, 60_000);
});
