/**
 * An edge pulling IETF moq-transport (`source: moqt://…`) from an origin
 * Polycast's `/moqt` (WebTransport): H.264 + AAC from a real ffmpeg and
 * AV1 + Opus over enhanced RTMP reach the edge's ws-nal viewers as the
 * origin's own viewers get them (the same codec configuration and, frame by
 * frame, the same bytes); the edge comes back after the origin restarts; and
 * an origin that answers garbage, or is not the server pinned, costs only
 * that path's connection, with the reason logged.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSelfSignedCertificate } from '../../src/protocols/webtransport/cert.js';
import { buildAvcDecoderConfig, NalType, splitAnnexB } from '../../src/codec/h264.js';
import { encodeSetup, encodeSubscribeOk } from '../../src/protocols/moqt/messages.js';
import { MoqtStreamReader } from '../../src/protocols/moqt/stream-reader.js';
import { frameMessage, WireWriter } from '../../src/protocols/moqt/wire.js';
import { encodeObject, encodeSubgroupHeader } from '../../src/protocols/moqt/objects.js';
import { WebTransportServer, type WebTransportSession } from '../../src/protocols/webtransport/index.js';
import type { MoqtTransport } from '../../transports/moqt/server.js';
import { useErtmpServer } from '../ertmp/fixture.js';
import { encodeClip, enhancedTags, publishTags } from '../helpers/ertmp-publisher.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { waitFor } from '../helpers/ops.js';
import { expectSameFrames, lastIndexOf, resumedAfter } from './helpers.js';
import { startServer, type TestServer } from '../helpers/server.js';

const origin = useErtmpServer('paths:\n  all_others:\n', { webTransport: true });
const dir = mkdtempSync(join(tmpdir(), 'polycast-edge-moqt-'));
const servers: TestServer[] = [];
const publishers: Publisher[] = [];
const clients: NalClient[] = [];

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  for (const p of publishers) await p.stop();
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

function viewer(url: string): NalClient {
  const c = new NalClient(`${url}?version=2`);
  clients.push(c);
  return c;
}

async function fingerprintOf(srv: TestServer): Promise<string> {
  return (await (await fetch(srv.httpUrl('/certificate.sha256'))).text()).trim();
}

async function edgeWith(paths: Record<string, string>, extra = ''): Promise<TestServer> {
  const lines = ['paths:'];
  for (const [name, source] of Object.entries(paths)) lines.push(`  ${name}:`, `    source: ${source}`);
  const edge = await startServer(`${extra}${lines.join('\n')}\n`, { webTransport: false });
  servers.push(edge);
  return edge;
}

describe('an edge pulling moqt:// from a Polycast origin', () => {
  it('H.264 + AAC from ffmpeg, over drafts 16, 17 and 19: the origin\'s codec configuration and frames, byte for byte', async () => {
    publishers.push(publish(origin.srv.rtmpUrl('live/h264'), { size: '320x240', rate: 25, gop: 25 }));
    await waitFor(() => origin.srv.server.paths.get('live/h264')?.stream?.ready === true, 15_000, 'the origin path to go live');
    const url = `moqt://127.0.0.1:${origin.srv.webPort}/live/h264?fingerprint=${await fingerprintOf(origin.srv)}`;
    // No draft asked: the newest both speak (19).
    const edge = await edgeWith({ cam: url, cam16: `${url}&draft=16`, cam17: `${url}&draft=17` });
    const direct = viewer(origin.srv.wsUrl('live/h264'));
    const viaEdge = ['cam', 'cam16', 'cam17'].map((name) => viewer(edge.wsUrl(name)));
    const enough = (n: NalClient) => n.video.length >= 60 && n.audio.length >= 60;
    await Promise.all([direct, ...viaEdge].map((n) => n.until(() => enough(n), 30_000, 'video and audio frames')));

    const originInit = direct.texts('init').at(-1)!;
    for (const v of viaEdge) {
      const edgeInit = v.texts('init').at(-1)!;
      expect(String((edgeInit.video as { codec: string }).codec)).toMatch(/^avc1\./);
      expect(edgeInit.video).toEqual(originInit.video);
      expect(edgeInit.audio).toEqual(originInit.audio);
      expectSameFrames(direct, v, 'video', 30);
      expectSameFrames(direct, v, 'audio', 30);
    }
    expect(edge.server.paths.get('cam')?.source?.protocol).toBe('moqt');
    // Each edge path is one reader of the origin (one moqt session), on the draft it asked for.
    const moqt = origin.srv.server.transports.find((t) => t.name === 'moqt') as MoqtTransport;
    expect([...moqt.sessions].map((s) => s.version).sort()).toEqual(['moqt-16', 'moqt-17', 'moqt-19']);
    expect(origin.srv.server.paths.get('live/h264')!.readers.size).toBe(4);
  }, 60_000);

  it('AV1 + Opus over enhanced RTMP: the same configuration and frames', async () => {
    const clip = await encodeClip(origin.dir, 'moqt-av1-opus', { seconds: 8, video: 'av1', audio: 'opus', size: '320x240' });
    void publishTags(origin.srv.rtmpPort, 'codecs', 'av1', clip, enhancedTags(clip), { paced: true }).then((p) => origin.keep(p.client));
    await waitFor(() => origin.srv.server.paths.get('codecs/av1')?.stream?.ready === true, 20_000, 'the AV1 path to go live');
    const edge = await edgeWith({ av1: `moqt://127.0.0.1:${origin.srv.webPort}/codecs/av1?fingerprint=${await fingerprintOf(origin.srv)}` });
    const direct = viewer(origin.srv.wsUrl('codecs/av1'));
    const viaEdge = viewer(edge.wsUrl('av1'));
    const enough = (n: NalClient) => n.video.length >= 40 && n.audio.length >= 40;
    await Promise.all([direct, viaEdge].map((n) => n.until(() => enough(n), 30_000, 'video and audio frames')));
    const [originInit, edgeInit] = [direct, viaEdge].map((n) => n.texts('init').at(-1)!);
    expect(String((edgeInit!.video as { codec: string }).codec)).toMatch(/^av01\./);
    expect(String((edgeInit!.audio as { codec: string }).codec)).toBe('opus');
    expect(edgeInit!.video).toEqual(originInit!.video);
    expect(edgeInit!.audio).toEqual(originInit!.audio);
    expectSameFrames(direct, viaEdge, 'video', 20);
    expectSameFrames(direct, viaEdge, 'audio', 20);
  }, 60_000);
});

describe('an edge whose moqt:// origin goes away or misbehaves', () => {
  let certFile: string;
  let keyFile: string;
  let fingerprint: string;

  beforeAll(() => {
    certFile = join(dir, 'cert.pem');
    keyFile = join(dir, 'key.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
    ], { stdio: 'ignore' });
    fingerprint = new X509Certificate(readFileSync(certFile)).fingerprint256.replace(/:/g, '').toLowerCase();
  });

  it('reconnects after the origin restarts, and its viewers get keyframes again', async () => {
    const tlsYaml = `webTLS: files\nwebServerCert: ${certFile}\nwebServerKey: ${keyFile}\n`;
    const first = await startServer(`${tlsYaml}paths:\n  all_others:\n`, { webTransport: true });
    const ports = { rtmpPort: first.rtmpPort, webPort: first.webPort };
    let pub = publish(first.rtmpUrl('live/r'), { size: '160x120', rate: 25, gop: 25 });
    const edge = await edgeWith({ r: `moqt://127.0.0.1:${ports.webPort}/live/r?fingerprint=${fingerprint}` }, 'readTimeout: 3s\n');
    const v = viewer(edge.wsUrl('r'));
    await v.until(() => v.video.some((m) => (m.flags & 1) === 1), 30_000, 'a keyframe before the restart');

    await pub.stop();
    const lostAt = v.events.length;
    await first.stop();
    const second = await startServer(`${tlsYaml}paths:\n  all_others:\n`, { webTransport: true, ...ports });
    servers.push(second);
    pub = publish(second.rtmpUrl('live/r'), { size: '160x120', rate: 25, gop: 25 });
    publishers.push(pub);
    // The viewer is told the stream went (offline), then gets a new stream (init) and a keyframe of it.
    await v.until(() => lastIndexOf(v, 'offline') >= lostAt, 30_000, 'offline');
    await resumedAfter([v], [lostAt], Date.now(), 30_000);
    expect(v.closeInfo).toBeUndefined();
    const warned = edge.logs.some((l) => l['msg'] === 'source lost, reconnecting' && l['path'] === 'r');
    expect(warned).toBe(true);
  }, 90_000);

  it('when the origin\'s publisher leaves, the stream ends after readTimeout and the same session carries the next one', async () => {
    let pub = publish(origin.srv.rtmpUrl('live/back'), { size: '160x120', rate: 25, gop: 25 });
    await waitFor(() => origin.srv.server.paths.get('live/back')?.stream?.ready === true, 15_000, 'the origin path to go live');
    const edge = await edgeWith({ back: `moqt://127.0.0.1:${origin.srv.webPort}/live/back?fingerprint=${await fingerprintOf(origin.srv)}` }, 'readTimeout: 2s\n');
    const v = viewer(edge.wsUrl('back'));
    await v.until(() => v.video.some((m) => (m.flags & 1) === 1), 30_000, 'a keyframe');
    const moqt = origin.srv.server.transports.find((t) => t.name === 'moqt') as MoqtTransport;
    const sessionsBefore = [...moqt.sessions].map((s) => s.id);

    await pub.stop();
    const mark = v.events.length;
    await v.until(() => lastIndexOf(v, 'offline') >= mark, 15_000, 'offline after readTimeout');
    pub = publish(origin.srv.rtmpUrl('live/back'), { size: '160x120', rate: 25, gop: 25 });
    publishers.push(pub);
    await resumedAfter([v], [mark], Date.now(), 30_000);
    // No reconnection: the subscription outlived the publisher.
    expect([...moqt.sessions].map((s) => s.id)).toEqual(expect.arrayContaining(sessionsBefore));
    expect(edge.logs.some((l) => l['path'] === 'back' && l['msg'] === 'source lost, reconnecting')).toBe(false);
  }, 60_000);

  it('without a pin, verifies the origin against the trusted CAs (NODE_EXTRA_CA_CERTS) and the URL\'s host', async () => {
    const tlsYaml = `webTLS: files\nwebServerCert: ${certFile}\nwebServerKey: ${keyFile}\n`;
    const tlsOrigin = await startServer(`${tlsYaml}paths:\n  all_others:\n`, { webTransport: true });
    servers.push(tlsOrigin);
    publishers.push(publish(tlsOrigin.rtmpUrl('live/ca'), { size: '160x120', rate: 25, gop: 25 }));
    const port = tlsOrigin.webPort;
    const reasonFor = (edge: TestServer, path: string) => edge.logs.find((l) => l['path'] === path && l['msg'] === 'source unreachable, retrying')?.['reason'];

    // Not trusted: the handshake fails.
    const untrusting = await edgeWith({ untrusted: `moqt://127.0.0.1:${port}/live/ca` });
    await waitFor(() => reasonFor(untrusting, 'untrusted') !== undefined, 20_000, 'the untrusted origin to be refused');
    expect(String(reasonFor(untrusting, 'untrusted'))).toMatch(/TLS handshake failed|certificate/);

    const before = process.env['NODE_EXTRA_CA_CERTS'];
    process.env['NODE_EXTRA_CA_CERTS'] = certFile;
    try {
      const edge = await edgeWith({ ca: `moqt://127.0.0.1:${port}/live/ca`, wrongname: `moqt://localhost:${port}/live/ca` });
      const v = viewer(edge.wsUrl('ca'));
      await v.until(() => v.video.some((m) => (m.flags & 1) === 1), 30_000, 'a keyframe over a CA-verified session');
      await waitFor(() => reasonFor(edge, 'wrongname') !== undefined, 20_000, 'the wrong name to be refused');
      expect(String(reasonFor(edge, 'wrongname'))).toMatch(/certificate is not valid for localhost|TLS handshake failed: the server's certificate was not accepted/);
    } finally {
      if (before === undefined) delete process.env['NODE_EXTRA_CA_CERTS'];
      else process.env['NODE_EXTRA_CA_CERTS'] = before;
    }
  }, 60_000);

  it('a garbage catalog, or a certificate that is not the pinned one, ends only that pull, with the reason', async () => {
    const cert = generateSelfSignedCertificate({ validDays: 1 });
    const server = new WebTransportServer({ host: '127.0.0.1', port: 0, cert: cert.certPem, key: cert.keyPem, onRequest: () => ({ status: 200, headers: { 'wt-protocol': '"moqt-19"' } }) });
    const sessions: WebTransportSession[] = [];
    server.on('session', (s: WebTransportSession) => {
      sessions.push(s);
      void s.createUniStream().then((out) => out.write(encodeSetup(19, { implementation: 'hostile', maxRequestId: 128 })));
      s.onUniStream = () => undefined;
      s.onBidiStream = (request) => {
        // Whatever was asked, SUBSCRIBE_OK and a "catalog" that is not JSON.
        void request.write(encodeSubscribeOk(19, { requestId: 0, alias: 7, timescale: 1_000_000 })).then(async () => {
          const data = await s.createUniStream();
          await data.write(encodeSubgroupHeader(19, { alias: 7, group: 0, properties: false }));
          await data.write(encodeObject(19, new TextEncoder().encode('{"tracks": [oops')));
          await data.end();
        });
      };
    });
    await server.listen();
    try {
      publishers.push(publish(origin.srv.rtmpUrl('live/ok'), { size: '160x120', rate: 25, gop: 25 }));
      const hostilePort = server.address().port;
      const edge = await edgeWith({
        bad: `moqt://127.0.0.1:${hostilePort}/live/bad?fingerprint=${Buffer.from(cert.sha256).toString('hex')}`,
        wrongpin: `moqt://127.0.0.1:${origin.srv.webPort}/live/ok?fingerprint=${'ab'.repeat(32)}`,
        good: `moqt://127.0.0.1:${origin.srv.webPort}/live/ok?fingerprint=${await fingerprintOf(origin.srv)}`,
      });
      const good = viewer(edge.wsUrl('good'));
      const reasonFor = (path: string) => edge.logs.find((l) => l['path'] === path && l['msg'] === 'source unreachable, retrying')?.['reason'];
      await waitFor(() => reasonFor('bad') !== undefined && reasonFor('wrongpin') !== undefined, 20_000, 'both bad sources to fail').catch((err: unknown) => {
        console.log(edge.logs.filter((l) => l['module'] === 'pull').map((l) => JSON.stringify(l)).join('\n'));
        throw err;
      });
      expect(String(reasonFor('bad'))).toMatch(/catalog cannot be used: the catalog is not JSON/);
      expect(String(reasonFor('wrongpin'))).toMatch(/certificate has SHA-256 [0-9a-f]{64}, not the pinned abab/);
      // The hostile origin saw the session closed by the edge with PROTOCOL_VIOLATION and the reason.
      const closed = await sessions[0]!.closed;
      expect(closed.code).toBe(0x3);
      expect(closed.reason).toMatch(/catalog/);
      // The good path on the same edge is not affected.
      await good.until(() => good.video.some((m) => (m.flags & 1) === 1), 30_000, 'a keyframe on the good path');
    } finally {
      await server.close();
    }
  }, 60_000);
});

/**
 * What MediaMTX publishes, as read from its sources (it cannot run here):
 * the path as the WebTransport request path, an empty namespace, a
 * `.catalog` track listing tracks by index, `avc3` with SPS and PPS in band,
 * LOC timestamps at 90 kHz, no TIMESCALE property, one object per subgroup.
 */
describe('an edge pulling moqt://…?layout=mediamtx from a MediaMTX-shaped publisher', () => {
  it('builds avcC from the in-band parameter sets and reads 90 kHz timestamps, one object per subgroup', async () => {
    const file = join(dir, 'avc3.h264');
    execFileSync('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '6', '-c:v', 'libx264', '-preset', 'ultrafast',
      '-pix_fmt', 'yuv420p', '-profile:v', 'baseline', '-g', '25', '-x264-params', 'aud=1:repeat-headers=1', '-f', 'h264', '-y', file,
    ]);
    // Access units (split at each delimiter), 4-byte length-prefixed as MediaMTX's LOC objects are.
    const units: Uint8Array[][] = [];
    for (const nal of splitAnnexB(readFileSync(file))) {
      if ((nal[0]! & 0x1f) === NalType.aud || units.length === 0) units.push([]);
      units.at(-1)!.push(nal);
    }
    const avcc = (nals: Uint8Array[]) =>
      Buffer.concat(
        nals.flatMap((n) => {
          const length = Buffer.alloc(4);
          length.writeUInt32BE(n.byteLength);
          return [length, Buffer.from(n)];
        }),
      );
    const sps = units[0]!.find((n) => (n[0]! & 0x1f) === NalType.sps)!;
    const pps = units[0]!.find((n) => (n[0]! & 0x1f) === NalType.pps)!;

    const cert = generateSelfSignedCertificate({ validDays: 1 });
    const requests: string[] = [];
    const server = new WebTransportServer({
      host: '127.0.0.1', port: 0, cert: cert.certPem, key: cert.keyPem,
      onRequest: (req) => (requests.push(req.path), req.path === '/mtx/cam' ? { status: 200, headers: { 'wt-protocol': '"moqt-19"' } } : { status: 404 }),
    });
    const subscribed: Array<{ namespace: number; track: string }> = [];
    let timer: NodeJS.Timeout | undefined;
    server.on('session', (s: WebTransportSession) => {
      void s.createUniStream().then((out) => out.write(encodeSetup(19, { implementation: 'mediamtx-shaped', maxRequestId: 128 })));
      s.onUniStream = () => undefined;
      s.onBidiStream = (request) => {
        void (async () => {
          const reader = new MoqtStreamReader(request.readable, 'request');
          const { body } = await reader.message(19, 4096);
          body.index(); // request id
          const fields = body.index();
          const track = body.string(100);
          subscribed.push({ namespace: fields, track });
          const alias = track === '.catalog' ? 1 : 2;
          // SUBSCRIBE_OK as MediaMTX writes it: alias, no parameters, no properties.
          await request.write(frameMessage(19, 0x04, new WireWriter(19).varint(alias).varint(0).finish()));
          if (track === '.catalog') {
            const catalog = { version: 1, tracks: [{ name: '0', packaging: 'loc', isLive: true, codec: 'avc3.42c00c' }] };
            const out = await s.createUniStream();
            await out.write(encodeSubgroupHeader(19, { alias, group: 0, properties: false }));
            await out.write(encodeObject(19, new TextEncoder().encode(JSON.stringify(catalog))));
            await out.end();
            return;
          }
          let i = 0;
          timer = setInterval(() => {
            const unit = units[i % units.length]!;
            const n = i++;
            void s.createUniStream().then(async (out) => {
              await out.write(encodeSubgroupHeader(19, { alias, group: n, properties: true }));
              await out.write(encodeObject(19, avcc(unit), n * 3600));
              await out.end();
            }, () => undefined);
          }, 40);
        })().catch(() => undefined);
      };
    });
    await server.listen();
    try {
      const fp = Buffer.from(cert.sha256).toString('hex');
      const edge = await edgeWith({ mtx: `moqt://127.0.0.1:${server.address().port}/mtx/cam?layout=mediamtx&fingerprint=${fp}` });
      const v = viewer(edge.wsUrl('mtx'));
      await v.until(() => v.video.length >= 60, 30_000, 'video frames');
      expect(requests).toContain('/mtx/cam');
      expect(subscribed.map((x) => [x.namespace, x.track])).toEqual([[0, '.catalog'], [0, '0']]);
      const video = edge.server.paths.get('mtx')!.stream!.description.video!;
      expect(video.codec).toBe('h264');
      expect([video.width, video.height]).toEqual([160, 120]);
      if (video.codec !== 'h264') throw new Error('not h264');
      expect(Buffer.from(video.avcC).equals(Buffer.from(buildAvcDecoderConfig([sps], [pps], 4)))).toBe(true);
      // 90 kHz timestamps in µs, 40 ms apart; a keyframe every 25 frames, each starting with the parameter sets ws-nal puts back.
      const pts = v.video.map((m) => m.pts);
      expect(pts.slice(1).every((p, i) => p - pts[i]! === 40_000)).toBe(true);
      const keys = v.video.filter((m) => (m.flags & 1) === 1);
      expect(keys.length).toBeGreaterThanOrEqual(2);
      expect(keys.every((k) => (k.pts / 40_000) % 25 === 0)).toBe(true);
    } finally {
      clearInterval(timer);
      await server.close();
    }
  }, 60_000);
});

