import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LocalCaCertificates } from '../../src/web/local-ca.js';
import { freePort } from '../helpers/ports.js';
import { quicPeerCertificates } from '../helpers/quic-peer.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * `webTLS: local`: a LAN without a public name. Polycast makes a CA, serves
 * its root for installation, and issues short-lived certificates for the
 * names and addresses in webTLSDomains; clients that trust the root get a
 * verified HTTPS page, wss:// and WebTransport, and the leaf is short enough
 * (≤ 14 days) for WebTransport's hash pinning.
 */

let cache: string;
let srv: TestServer;
let httpPort: number;
let root: string;

function get(url: string, ca?: string, servername?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const secure = url.startsWith('https:');
    const req = (secure ? httpsRequest : httpRequest)(url, secure ? { ca, servername } : {}, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function peer(port: number, servername: string, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, ca }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  cache = mkdtempSync(join(tmpdir(), 'polycast-localca-'));
  httpPort = await freePort();
  srv = await startServer(
    ['webTLS: local', 'webTLSDomains: [polycast.lan, 127.0.0.1]', `webTLSCacheDirectory: ${cache}`, `webTLSHTTPAddress: 127.0.0.1:${httpPort}`, 'paths:', '  all_others:', ''].join('\n'),
    { webTransport: true },
  );
  // What a device does first: fetch the root over plain HTTP.
  root = (await get(`http://127.0.0.1:${httpPort}/polycast-root-ca.crt`)).body;
});

afterAll(async () => {
  await srv?.stop();
  if (cache) rmSync(cache, { recursive: true, force: true });
});

describe('webTLS: local', () => {
  it('serves its root on the plain-HTTP port and on the web port', async () => {
    const ca = new X509Certificate(root);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toMatch(/^CN=Polycast local CA/);
    const again = await get(`https://127.0.0.1:${srv.webPort}/polycast-root-ca.crt`, root);
    expect(again.body).toBe(root);
    expect(again.headers['content-type']).toBe('application/x-x509-ca-cert');
    expect((await get(`http://127.0.0.1:${httpPort}/live/x/`)).status).toBe(308);
  });

  it('a client that trusts the root gets the player page, for the name and for the address', async () => {
    const byName = await peer(srv.webPort, 'polycast.lan', root);
    expect(byName.subjectaltname).toContain('DNS:polycast.lan');
    expect(byName.subjectaltname).toContain('IP Address:127.0.0.1');
    expect((await get(`https://127.0.0.1:${srv.webPort}/live/x/`, root)).status).toBe(200);
    // Short-lived, so that WebTransport can pin it by hash (≤ 14 days).
    const leaf = new X509Certificate((srv.server.certificates as LocalCaCertificates).current.cert);
    expect(new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()).toBeLessThanOrEqual(14 * 86_400_000);
  });

  it('wss:// and WebTransport (QUIC) verify under the root too', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${srv.webPort}/live/x/ws/nal`, { ca: root });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.close();
    const chain = await quicPeerCertificates(srv.server.listening!.webTransport!, 'polycast.lan', root);
    const hash = (await get(`https://127.0.0.1:${srv.webPort}/certificate.sha256`, root)).body.trim();
    expect(createHash('sha256').update(chain[0]!).digest('hex')).toBe(hash);
  });

  it('renews without closing an open WebSocket, and keeps its CA and leaf 0600', async () => {
    const local = srv.server.certificates as LocalCaCertificates;
    const ws = new WebSocket(`wss://127.0.0.1:${srv.webPort}/live/x/ws/nal`, { ca: root });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const before = await peer(srv.webPort, 'polycast.lan', root);
    local.renewNow();
    const after = await peer(srv.webPort, 'polycast.lan', root);
    expect(after.fingerprint256).not.toBe(before.fingerprint256);
    await new Promise<void>((resolve, reject) => {
      ws.once('pong', () => resolve());
      ws.ping();
      setTimeout(() => reject(new Error('no pong')), 3000);
    });
    ws.close();
    expect(statSync(local.directory).mode & 0o777).toBe(0o700);
    const files = readdirSync(local.directory).sort();
    expect(files).toEqual(['leaf.crt', 'leaf.key', 'root-ca.crt', 'root-ca.key']);
    for (const f of files) expect(statSync(join(local.directory, f)).mode & 0o777).toBe(0o600);
  });

  it('a restart keeps the same root and leaf', async () => {
    const leaf = (srv.server.certificates as LocalCaCertificates).current.sha256;
    const webPort = srv.webPort;
    await srv.stop();
    srv = await startServer(
      ['webTLS: local', 'webTLSDomains: [polycast.lan, 127.0.0.1]', `webTLSCacheDirectory: ${cache}`, `webTLSHTTPAddress: 127.0.0.1:${httpPort}`, 'paths:', '  all_others:', ''].join('\n'),
      { webTransport: true, webPort },
    );
    expect((srv.server.certificates as LocalCaCertificates).rootPem).toBe(root);
    expect((srv.server.certificates as LocalCaCertificates).current.sha256).toBe(leaf);
  });
});
