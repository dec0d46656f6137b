import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmeCertificates } from '../../src/web/acme.js';
import { LocalCaCertificates } from '../../src/web/local-ca.js';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startLoopbackDns, startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openPlayer, waitForStats } from '../player/page.js';

/**
 * A non-localhost HTTPS origin with a CA certificate (pebble's, for
 * `polycast.test`): Chromium plays wt-raw over WebTransport with the same
 * certificate, without pinning it by hash. The same name over plain HTTP is
 * an insecure page: the player says low latency needs HTTPS.
 */

const NAME = 'polycast.test';
let dns: Awaited<ReturnType<typeof startLoopbackDns>>;
let pebble: Pebble;
let cache: string;
let srv: TestServer;
let plain: TestServer;
let pub: Publisher;
let browser: Browser;

beforeAll(async () => {
  dns = await startLoopbackDns();
  const challengePort = await freePort();
  pebble = await startPebble({ httpPort: challengePort, dnsPort: dns.port });
  cache = mkdtempSync(join(tmpdir(), 'polycast-acme-'));
  srv = await startServer(
    [
      'webTLS: auto',
      `webTLSDomains: [${NAME}]`,
      `webTLSACMEDirectory: ${pebble.directory}`,
      `webTLSACMERootCA: ${pebble.tlsRootFile}`,
      `webTLSCacheDirectory: ${cache}`,
      `webTLSHTTPAddress: 127.0.0.1:${challengePort}`,
      'paths:',
      '  ~^live/.+$:',
      '',
    ].join('\n'),
    { webTransport: true },
  );
  const acme = srv.server.certificates as AcmeCertificates;
  const deadline = Date.now() + 30_000;
  while (acme.current.selfSigned) {
    if (Date.now() > deadline) throw new Error(`no certificate from pebble\n${pebble.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  plain = await startServer('paths:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl('live/tls'), { size: '640x360' });
  // Trust pebble's leaf for this browser only: its SPKI, as Chromium takes it.
  const spki = createHash('sha256')
    .update(new X509Certificate(acme.current.cert).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  // Chromium accepts a QUIC (WebTransport) certificate only when it chains to a publicly known root: pebble's
  // root, even installed in an NSS database, is refused there (tried), so QUIC's certificate checks are
  // skipped with --webtransport-developer-mode. That QUIC presents the CA certificate, valid for the name under
  // pebble's root, is checked by test/web/https-acme.test.ts with a verifying quiche client.
  browser = await launchChromium([`--host-resolver-rules=MAP ${NAME} 127.0.0.1`, `--ignore-certificate-errors-spki-list=${spki}`, '--webtransport-developer-mode']);
});

afterAll(async () => {
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
  await plain?.stop();
  await pebble?.stop();
  dns?.close();
  if (cache) rmSync(cache, { recursive: true, force: true });
});

describe('HTTPS with a CA certificate, in Chromium', () => {
  it('plays wt-raw on https://polycast.test without pinning the certificate by hash', async () => {
    const page = await openPlayer(browser.context, `https://${NAME}:${srv.webPort}/live/tls/`);
    const s = await waitForStats(page, (x) => x.transport === 'wt-raw' && x.framesPainted > 20, 30_000, 'wt-raw frames');
    expect(s.log.some((line) => line.includes(`WebTransport connecting to https://${NAME}:${srv.webPort}/`))).toBe(true);
    expect(s.log.some((line) => line.includes('certificate pinned by hash'))).toBe(false);
    expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
    expect(await page.locator('polycast-player a.secure-hint').isHidden()).toBe(true);
    await page.close();
  });

  it('plays ws-nal (WebCodecs over wss://) there when asked for', async () => {
    const page = await openPlayer(browser.context, `https://${NAME}:${srv.webPort}/live/tls/?transport=ws-nal`);
    const s = await waitForStats(page, (x) => x.transport === 'ws-nal' && x.framesPainted > 20, 30_000, 'ws-nal frames');
    expect(s.state).toBe('playing');
    await page.close();
  });

  it('on plain http://polycast.test the player shows that low latency needs HTTPS, with the https:// link', async () => {
    const url = `http://${NAME}:${plain.webPort}/live/tls/?x=1`;
    const page = await openPlayer(browser.context, url);
    expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
    const hint = page.locator('polycast-player a.secure-hint');
    await hint.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await hint.innerText()).toBe('Low latency needs HTTPS');
    expect(await hint.getAttribute('aria-label')).toBe('Low latency needs HTTPS');
    expect(await hint.getAttribute('href')).toBe(`https://${NAME}:${plain.webPort}/live/tls/?x=1`);
    // A phone-wide bar has room for the short form.
    await page.setViewportSize({ width: 380, height: 700 });
    expect(await hint.innerText()).toBe('Use HTTPS');
    await page.close();
  });
});

describe('webTLS: local (a LAN name), in Chromium', () => {
  let lan: TestServer;
  let lanBrowser: Browser;
  let lanPub: Publisher;
  let lanCache: string;

  beforeAll(async () => {
    lanCache = mkdtempSync(join(tmpdir(), 'polycast-localca-'));
    lan = await startServer(['webTLS: local', 'webTLSDomains: [polycast.lan]', `webTLSCacheDirectory: ${lanCache}`, "webTLSHTTPAddress: ''", 'paths:', '  ~^live/.+$:', ''].join('\n'), {
      webTransport: true,
    });
    lanPub = publish(lan.rtmpUrl('live/lan'), { size: '640x360' });
    // The page's certificate is trusted as if the local root were installed (its SPKI); WebTransport gets no such help.
    const leaf = (lan.server.certificates as LocalCaCertificates).current.cert;
    const spki = createHash('sha256').update(new X509Certificate(leaf).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
    lanBrowser = await launchChromium(['--host-resolver-rules=MAP polycast.lan 127.0.0.1', `--ignore-certificate-errors-spki-list=${spki}`]);
  });

  afterAll(async () => {
    await lanBrowser?.close();
    await lanPub?.stop();
    await lan?.stop();
    if (lanCache) rmSync(lanCache, { recursive: true, force: true });
  });

  it('plays wt-raw: the short-lived leaf is pinned by hash where the local root is not enough', async () => {
    const page = await openPlayer(lanBrowser.context, `https://polycast.lan:${lan.webPort}/live/lan/`);
    const s = await waitForStats(page, (x) => x.transport === 'wt-raw' && x.framesPainted > 20, 30_000, 'wt-raw frames');
    expect(s.log.some((line) => line.includes('certificate pinned by hash'))).toBe(true);
    await page.close();
  });
});
