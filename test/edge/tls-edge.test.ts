/**
 * Edges over TLS: `polycasts://` (wss) to a Polycast origin and `rtmps://`
 * to node-media-server, each behind a TLS terminator as origins usually sit
 * behind one, with a certificate made for this test. The edge is the built
 * CLI in a child process, so the test's CA can be given to it the way Node
 * takes extra CAs (NODE_EXTRA_CA_CERTS), at startup.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package-root.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { waitFor } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { terminate } from '../helpers/process.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { keyframesAfter, startNms, type NmsPeer } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'polycast-edge-tls-'));
const certFile = join(dir, 'cert.pem');
const keyFile = join(dir, 'key.pem');
let origin: TestServer;
let nms: NmsPeer;
const terminators: tls.Server[] = [];
const publishers: Publisher[] = [];
let edge: ChildProcess;
let edgeOutput = '';
let edgePort: number;
const clients: NalClient[] = [];

beforeAll(async () => {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  origin = await startServer();
  publishers.push(publish(origin.rtmpUrl('live/x'), { size: '160x120', rate: 25, gop: 25 }));
  nms = await startNms(await freePort(), await freePort());
  publishers.push(publish(`rtmp://127.0.0.1:${nms.rtmpPort}/live/edge`, { size: '160x120', rate: 25, gop: 25 }));
  const wssPort = await tlsInFrontOf(origin.webPort);
  const rtmpsPort = await tlsInFrontOf(nms.rtmpPort);

  edgePort = await freePort();
  const config = join(dir, 'edge.yml');
  writeFileSync(
    config,
    [
      'logLevel: info',
      'rtmp: no',
      'webTransport: no',
      `webAddress: 127.0.0.1:${edgePort}`,
      'paths:',
      '  wss:',
      `    source: polycasts://127.0.0.1:${wssPort}/live/x`,
      '  rtmps:',
      `    source: rtmps://127.0.0.1:${rtmpsPort}/live/edge`,
      '',
    ].join('\n'),
  );
  edge = spawn(process.execPath, [join(packageRoot(), 'dist/src/main.js'), config], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: certFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d: Buffer) => (edgeOutput = (edgeOutput + d.toString()).slice(-8000));
  edge.stdout!.on('data', keep);
  edge.stderr!.on('data', keep);
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await terminate(edge, { graceMs: 3000 });
  for (const p of publishers) await p.stop();
  for (const t of terminators) await new Promise((resolve) => t.close(resolve));
  await nms?.kill();
  await origin?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A TLS terminator on a free port, relaying to a plain server on `port`. */
async function tlsInFrontOf(port: number): Promise<number> {
  const server = tls.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) s.on('error', () => (client.destroy(), upstream.destroy()));
    client.pipe(upstream).pipe(client);
  });
  terminators.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

describe('edges over TLS', () => {
  it.each(['wss', 'rtmps'])('pulls over %s, checking the origin against the CA it was given', async (path) => {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${edgePort}/`).catch(() => undefined))?.ok === true, 15_000, 'the edge to listen');
    const v = new NalClient(`ws://127.0.0.1:${edgePort}/${path}/ws/nal`);
    clients.push(v);
    try {
      await v.until(() => keyframesAfter(v).length >= 2, 20_000, `keyframes over ${path}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- edge ---\n${edgeOutput}`);
    }
    expect(v.texts('init')[0]?.['video']).toMatchObject({ codedWidth: 160, codedHeight: 120 });
  });
});
