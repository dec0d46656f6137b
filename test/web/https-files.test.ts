import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { generateSelfSignedCertificate } from '../../src/protocols/webtransport/cert.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * `webServerCert`/`webServerKey` make the web port HTTPS (they used to reach
 * WebTransport only): the page, the API of the player and the WebSocket
 * transports (wss://) are served over TLS with that certificate, and the
 * plain-HTTP port redirects to HTTPS.
 */

let dir: string;
let srv: TestServer;
let httpPort: number;
const made = generateSelfSignedCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
const sha256 = Buffer.from(made.sha256).toString('hex');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'polycast-https-'));
  writeFileSync(join(dir, 'cert.pem'), made.certPem);
  writeFileSync(join(dir, 'key.pem'), made.keyPem);
  httpPort = await freePort();
  srv = await startServer(
    [`webServerCert: ${join(dir, 'cert.pem')}`, `webServerKey: ${join(dir, 'key.pem')}`, `webTLSHTTPAddress: 127.0.0.1:${httpPort}`, 'paths:', '  all_others:', ''].join('\n'),
    { webTransport: true },
  );
});

afterAll(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function get(url: string, secure: boolean): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(url, { ca: made.certPem }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('webTLS: files (webServerCert/webServerKey set)', () => {
  it('resolves to files and serves the player page over HTTPS with that certificate', async () => {
    expect(srv.server.config.webTLS).toBe('files');
    const page = await get(`https://127.0.0.1:${srv.webPort}/live/x/`, true);
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<html/i);
    const served = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: srv.webPort, ca: made.certPem, servername: 'localhost' }, () => {
        resolve(socket.getPeerX509Certificate()!.fingerprint256.replace(/:/g, '').toLowerCase());
        socket.end();
      });
      socket.on('error', reject);
    });
    expect(served).toBe(sha256);
  });

  it('WebTransport serves the same certificate: /certificate.sha256 is its hash', async () => {
    const hash = await get(`https://127.0.0.1:${srv.webPort}/certificate.sha256`, true);
    expect(hash.body.trim()).toBe(sha256);
  });

  it('opens WebSocket transports over wss://', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${srv.webPort}/live/x/ws/nal`, { ca: made.certPem });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('refuses a TLS client that does not trust the certificate', async () => {
    await expect(get(`https://127.0.0.1:${srv.webPort}/`, true).then(() => get(`https://localhost:${srv.webPort}/`, true))).resolves.toBeTruthy();
    const untrusted = new Promise((resolve, reject) => {
      const req = httpsRequest(`https://127.0.0.1:${srv.webPort}/`, (res) => resolve(res.statusCode));
      req.on('error', reject);
      req.end();
    });
    await expect(untrusted).rejects.toThrow(/self.signed|certificate/i);
  });

  it('a reload that moves webAddress opens the new listener with HTTPS too', async () => {
    const port = await freePort();
    await srv.server.applyConfig({ ...srv.server.config, webAddress: { host: '127.0.0.1', port } });
    const page = await get(`https://127.0.0.1:${port}/live/x/`, true);
    expect(page.status).toBe(200);
    const redirect = await get(`http://127.0.0.1:${httpPort}/a/`, false);
    expect(redirect.headers['location']).toBe(`https://127.0.0.1:${port}/a/`);
  });

  it('the plain-HTTP port redirects to the same URL on HTTPS', async () => {
    const r = await get(`http://127.0.0.1:${httpPort}/live/x/?transport=ws-nal`, false);
    expect(r.status).toBe(308);
    expect(r.headers['location']).toBe(`https://127.0.0.1:${srv.server.listening!.web}/live/x/?transport=ws-nal`);
    const challenge = await get(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/nothing`, false);
    expect(challenge.status).toBe(404);
  });
});
