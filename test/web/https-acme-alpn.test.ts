import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmeCertificates } from '../../src/web/acme.js';
import { ACME_TLS_ALPN } from '../../src/web/tls-alpn-challenge.js';
import { startLoopbackDns, startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * `webTLS: auto` with TLS-ALPN-01 (RFC 8737): pebble validates by a TLS
 * handshake to the web port offering only `acme-tls/1`, so the web port is
 * pebble's `tlsPort`; its `httpPort` is one nobody listens on, so HTTP-01
 * cannot pass.
 */

const NAME = 'polycast.test';
let dns: Awaited<ReturnType<typeof startLoopbackDns>>;
let pebble: Pebble;
let webPort: number;
let root: string;
const dirs: string[] = [];

beforeAll(async () => {
  dns = await startLoopbackDns();
  webPort = await freePort();
  pebble = await startPebble({ httpPort: await freePort(), tlsPort: webPort, dnsPort: dns.port });
  root = await pebble.issuingRoot();
});

afterAll(async () => {
  await pebble?.stop();
  dns?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function autoConfig(httpAddress: string): string {
  const cache = mkdtempSync(join(tmpdir(), 'polycast-acme-alpn-'));
  dirs.push(cache);
  return [
    'webTLS: auto',
    `webTLSDomains: [${NAME}]`,
    `webTLSACMEDirectory: ${pebble.directory}`,
    `webTLSACMERootCA: ${pebble.tlsRootFile}`,
    `webTLSCacheDirectory: ${cache}`,
    `webTLSHTTPAddress: "${httpAddress}"`,
    'paths:',
    '  all_others:',
    '',
  ].join('\n');
}

const logged = (srv: TestServer, pattern: RegExp) => srv.logs.find((l) => typeof l['msg'] === 'string' && pattern.test(l['msg']));

async function waitForLog(srv: TestServer, pattern: RegExp, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const line = logged(srv, pattern);
    if (line !== undefined) return line;
  }
  throw new Error(`no log line ${pattern}\n${srv.logs.map((l) => l['msg']).join('\n')}\n${pebble.output().slice(-2000)}`);
}

function handshake(alpn: string[], ca?: string): Promise<{ cert: PeerCertificate; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: webPort, servername: NAME, ALPNProtocols: alpn, ...(ca === undefined ? { rejectUnauthorized: false } : { ca }) }, () => {
      resolve({ cert: socket.getPeerCertificate(), alpn: socket.alpnProtocol });
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe('webTLS: auto over TLS-ALPN-01 on the web port', () => {
  it('with no plain-HTTP listener: the certificate comes over TLS-ALPN-01, and afterwards acme-tls/1 gets nothing special', async () => {
    const srv = await startServer(autoConfig(''), { webPort });
    try {
      await waitForLog(srv, /^ACME: certificate for polycast\.test installed/);
      expect(logged(srv, /^ACME: answering a tls-alpn-01 challenge for polycast\.test/)).toBeDefined();
      expect(logged(srv, /answering a http-01/)).toBeUndefined();
      const served = await handshake(['http/1.1'], root);
      expect(served.cert.subjectaltname).toContain(`DNS:${NAME}`);
      expect(served.cert.issuer.CN).toMatch(/Pebble/i);
      expect(served.alpn).toBe('http/1.1');
      // The challenge is over: a handshake that offers only acme-tls/1 is refused, never given a challenge certificate.
      await expect(handshake([ACME_TLS_ALPN])).rejects.toThrow(/no.application.protocol|alert/i);
      // Browsers offer h2 before http/1.1: still HTTP/1.1 with the real certificate.
      expect((await handshake(['h2', 'http/1.1'], root)).alpn).toBe('http/1.1');
    } finally {
      await srv.stop();
    }
  });

  it('after HTTP-01 fails, the retry leads with TLS-ALPN-01 and succeeds', async () => {
    // Polycast listens for HTTP-01, but pebble validates HTTP-01 elsewhere: the first order fails.
    const srv = await startServer(autoConfig(`127.0.0.1:${await freePort()}`), { webPort });
    try {
      await waitForLog(srv, /^ACME: could not obtain a certificate for polycast\.test/);
      expect(logged(srv, /^ACME: answering a http-01 challenge/)).toBeDefined();
      const acme = srv.server.certificates as AcmeCertificates;
      const renewed = await acme.renewNow();
      expect(renewed, srv.logs.map((l) => l['msg']).filter((m) => /^ACME/.test(String(m))).join('\n')).toBe(true);
      expect(logged(srv, /^ACME: answering a tls-alpn-01 challenge/)).toBeDefined();
      expect((await handshake(['http/1.1'], root)).cert.issuer.CN).toMatch(/Pebble/i);
    } finally {
      await srv.stop();
    }
  });
});
