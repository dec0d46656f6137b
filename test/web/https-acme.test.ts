import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AcmeCertificates } from '../../src/web/acme.js';
import { startLoopbackDns, startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/ports.js';
import { quicPeerCertificates } from '../helpers/quic-peer.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * `webTLS: auto` against pebble (Let's Encrypt's ACME test server) on
 * loopback: a name (`polycast.test`) that pebble resolves to 127.0.0.1
 * through a DNS responder of the test's; HTTP-01 on Polycast's
 * webTLSHTTPAddress, which is pebble's `httpPort`.
 */

const NAME = 'polycast.test';
let dns: Awaited<ReturnType<typeof startLoopbackDns>>;
let pebble: Pebble;
let challengePort: number;
let cache: string;
let root: string;

beforeAll(async () => {
  dns = await startLoopbackDns();
  challengePort = await freePort();
  pebble = await startPebble({ httpPort: challengePort, dnsPort: dns.port });
  root = await pebble.issuingRoot();
  cache = mkdtempSync(join(tmpdir(), 'polycast-acme-'));
});

afterAll(async () => {
  await pebble?.stop();
  dns?.close();
  if (cache) rmSync(cache, { recursive: true, force: true });
});

function autoConfig(httpPort: number, cacheDir: string): string {
  return [
    'webTLS: auto',
    `webTLSDomains: [${NAME}]`,
    'webTLSEmail: ops@polycast.test',
    `webTLSACMEDirectory: ${pebble.directory}`,
    `webTLSACMERootCA: ${pebble.tlsRootFile}`,
    `webTLSCacheDirectory: ${cacheDir}`,
    `webTLSHTTPAddress: 127.0.0.1:${httpPort}`,
    'paths:',
    '  all_others:',
    '',
  ].join('\n');
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${pebble.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The certificate the web port presents to a client asking for `NAME`, verified against `ca` when given. */
function peerCertificate(port: number, ca?: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: NAME, ...(ca === undefined ? { rejectUnauthorized: false } : { ca }) }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** GET `https://polycast.test:<port><path>`, the name resolved to 127.0.0.1 and pebble's root trusted. */
function getPage(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `https://${NAME}:${port}${path}`,
      { ca: root, lookup: loopbackLookup as never },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A `lookup` for clients: every name is 127.0.0.1 (Node asks with `all: true`). */
function loopbackLookup(_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void): void {
  if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}

const logged = (srv: TestServer, pattern: RegExp) => srv.logs.find((l) => typeof l['msg'] === 'string' && pattern.test(l['msg']));

describe('webTLS: auto, a failed challenge', () => {
  it('logs why, keeps serving HTTPS with a self-signed certificate, and retries', async () => {
    // Polycast's challenge port is not the one pebble validates against: the challenge fails.
    const srv = await startServer(autoConfig(await freePort(), mkdtempSync(join(cache, 'failing-'))), { webTransport: true });
    try {
      const line = await waitFor('the failure log line', () => logged(srv, /^ACME: could not obtain a certificate/));
      expect(line['msg']).toMatch(/for polycast\.test: .*(connection refused|connect|invalid|unauthorized)/i);
      expect(line['msg']).toMatch(/retrying in \d+s, serving the self-signed certificate meanwhile/);
      expect(line['level']).toBe(50);
      expect(logged(srv, /serving a self-signed one until the ACME order succeeds/)).toBeDefined();
      const cert = await peerCertificate(srv.webPort);
      expect(cert.subject.CN).toBe(NAME);
      expect(cert.issuer.CN).toBe(NAME); // self-signed
      // Still serving.
      const r = await new Promise<number>((resolve, reject) => {
        const req = request(`https://127.0.0.1:${srv.webPort}/live/x/`, { rejectUnauthorized: false }, (res) => resolve(res.statusCode!));
        req.on('error', reject);
        req.end();
      });
      expect(r).toBe(200);
    } finally {
      await srv.stop();
    }
  });
});

describe('webTLS: auto against pebble', () => {
  let srv: TestServer;
  let acme: AcmeCertificates;

  beforeAll(async () => {
    srv = await startServer(autoConfig(challengePort, cache), { webTransport: true });
    acme = srv.server.certificates as AcmeCertificates;
    expect(acme).toBeInstanceOf(AcmeCertificates);
  });

  afterAll(async () => {
    await srv?.stop();
  });

  it('obtains a certificate over HTTP-01 and serves the player page with it', async () => {
    await waitFor('the certificate', () => logged(srv, /^ACME: certificate for polycast\.test installed/));
    expect(logged(srv, /ACME HTTP-01 challenge request/)).toBeDefined();
    const cert = await peerCertificate(srv.webPort, root);
    expect(cert.subjectaltname).toContain(`DNS:${NAME}`);
    expect(cert.issuer.CN).toMatch(/Pebble/i);
    const page = await getPage(srv.webPort, '/live/x/');
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<html/i);
  });

  it('WebTransport serves the same certificate (/certificate.sha256 is its hash)', async () => {
    const cert = await peerCertificate(srv.webPort, root);
    const hash = await getPage(srv.webPort, '/certificate.sha256');
    expect(hash.body.trim()).toBe(cert.fingerprint256.replace(/:/g, '').toLowerCase());
    expect(srv.logs.some((l) => /WebTransport: certificate replaced/.test(String(l['msg'])))).toBe(true);
  });

  it('WebTransport (QUIC) presents that certificate, valid for polycast.test under pebble\'s root: no hash pinning needed', async () => {
    const tcp = await peerCertificate(srv.webPort, root);
    const chain = await quicPeerCertificates(srv.server.listening!.webTransport!, NAME, root);
    expect(chain.length).toBeGreaterThanOrEqual(1);
    expect(createHash('sha256').update(chain[0]!).digest('hex')).toBe(tcp.fingerprint256.replace(/:/g, '').toLowerCase());
    // The client does verify: under another root the same handshake fails.
    await expect(quicPeerCertificates(srv.server.listening!.webTransport!, NAME, readFileSync(pebble.tlsRootFile, 'utf8'))).rejects.toThrow();
  });

  it('keeps the account key and certificate on disk, 0600', () => {
    const folder = acme.directory;
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    const files = readdirSync(folder).sort();
    expect(files).toEqual(['account.key', 'account.url', `${NAME}.crt`, `${NAME}.key`]);
    for (const file of files) expect(statSync(join(folder, file)).mode & 0o777).toBe(0o600);
  });

  it('renews: the new certificate is served and an open WebSocket stays open', async () => {
    const before = await peerCertificate(srv.webPort, root);
    const ws = new WebSocket(`wss://${NAME}:${srv.webPort}/live/x/ws/nal`, {
      ca: root,
      lookup: loopbackLookup as never,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let closed = false;
    ws.on('close', () => (closed = true));
    expect(await acme.renewNow()).toBe(true);
    const after = await peerCertificate(srv.webPort, root);
    expect(after.fingerprint256).not.toBe(before.fingerprint256);
    expect(after.subjectaltname).toContain(`DNS:${NAME}`);
    expect((await getPage(srv.webPort, '/certificate.sha256')).body.trim()).toBe(after.fingerprint256.replace(/:/g, '').toLowerCase());
    const quic = await quicPeerCertificates(srv.server.listening!.webTransport!, NAME, root);
    expect(createHash('sha256').update(quic[0]!).digest('hex')).toBe(after.fingerprint256.replace(/:/g, '').toLowerCase());
    // The socket opened with the old certificate is still up: a ping is answered.
    await new Promise<void>((resolve, reject) => {
      ws.once('pong', () => resolve());
      ws.ping();
      setTimeout(() => reject(new Error('no pong')), 3000);
    });
    expect(closed).toBe(false);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('renews on its own at the configured fraction of the lifetime', async () => {
    const c = acme.current;
    const lifetime = c.notAfter.getTime() - c.notBefore.getTime();
    // Renewal due 1.5 s from now (the default is 2/3 of the lifetime); start() schedules it.
    const options = (acme as unknown as { o: Record<string, unknown> }).o;
    (acme as unknown as { o: Record<string, unknown> }).o = { ...options, renewAt: (Date.now() - c.notBefore.getTime() + 1500) / lifetime };
    const orders = acme.orders;
    const renewed = new Promise<void>((resolve) => acme.onChange(() => resolve()));
    acme.start();
    await renewed;
    (acme as unknown as { o: Record<string, unknown> }).o = options;
    acme.start();
    expect(acme.orders).toBe(orders + 1);
    expect(acme.current.sha256).not.toBe(c.sha256);
    expect((await peerCertificate(srv.webPort, root)).fingerprint256.replace(/:/g, '').toLowerCase()).toBe(acme.current.sha256);
  });

  it('a restart serves the cached certificate without a new order', async () => {
    const served = await peerCertificate(srv.webPort, root);
    await srv.stop();
    srv = await startServer(autoConfig(challengePort, cache), { webTransport: true });
    expect(logged(srv, /^ACME: serving the cached certificate for polycast\.test/)).toBeDefined();
    const again = await peerCertificate(srv.webPort, root);
    expect(again.fingerprint256).toBe(served.fingerprint256);
    expect(logged(srv, /^ACME: (ordering|renewing)/)).toBeUndefined();
  });
});
