/**
 * Throughput of one server→browser unidirectional stream over loopback, for
 * the native-binding `WebTransportServer` and for the `@matrixai/quic` JS
 * wrapper. A measurement, not a check, so it is not part of npm test; run it with
 *
 *   npx vitest run test/http3/throughput.measure.ts  (with include widened in vitest.config.ts)
 *
 * and prints Mbit/s (goodput, timed in the page from the first byte to the
 * last) plus the server process's CPU time per second of transfer.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeUniStreamHeader } from '../../src/protocols/http3/index.js';
import { patchMatrixaiQuic } from '../../src/protocols/webtransport/matrixai-quic-patch.js';
import { generateSelfSignedCertificate, WebTransportServer } from '../../src/protocols/webtransport/index.js';
import { launchBrowser, type TestBrowser } from './browser.js';
import { startWrapperServer } from './wrapper-server.js';

/** The page-side API used below (it runs in Chromium; the Node tsconfig has no DOM lib). */
declare const WebTransport: new (
  url: string,
  opts: unknown,
) => {
  ready: Promise<void>;
  close(): void;
  incomingUnidirectionalStreams: { getReader(): { read(): Promise<{ value: AsyncIterable<Uint8Array> }> } };
};
declare const performance: { now(): number };

const MB = 1024 * 1024;
const TOTAL = Number(process.env.POLYCAST_BENCH_MB ?? 64) * MB;
const CHUNK = 64 * 1024;
const cert = generateSelfSignedCertificate();

let browser: TestBrowser;
let page: Page;

interface Result {
  bytes: number;
  ms: number;
}

/** Connects, reads one incoming uni stream to its end, and times it in the page. */
function receive(port: number): Promise<Result> {
  return page.evaluate(
    async ({ port, hash }) => {
      const wt = new WebTransport(`https://127.0.0.1:${port}/bench`, {
        serverCertificateHashes: [{ algorithm: 'sha-256', value: new Uint8Array(hash) }],
      });
      await wt.ready;
      const { value: st } = await wt.incomingUnidirectionalStreams.getReader().read();
      let bytes = 0;
      let t0 = 0;
      for await (const c of st) {
        if (t0 === 0) t0 = performance.now();
        bytes += c.byteLength;
      }
      const ms = performance.now() - t0;
      wt.close();
      return { bytes, ms };
    },
    { port, hash: [...cert.sha256] },
  );
}

function report(label: string, r: Result, cpuMs: number): void {
  const mbit = (r.bytes * 8) / (r.ms / 1000) / 1e6;
  console.log(
    `${label}: ${(r.bytes / MB).toFixed(0)} MiB in ${r.ms.toFixed(0)} ms = ${mbit.toFixed(0)} Mbit/s; ` +
      `server CPU ${(cpuMs / r.ms).toFixed(2)} s per s`,
  );
}

describe('throughput, one Chromium session over loopback', () => {
  beforeAll(async () => {
    browser = await launchBrowser();
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
  });

  for (const payload of [1350, 1452]) {
    it(`native binding (WebTransportServer), UDP payload ${payload}`, async () => {
      const server = new WebTransportServer({ host: '127.0.0.1', port: 0, cert: cert.certPem, key: cert.keyPem, maxUdpPayloadSize: payload });
      let cpu0 = process.cpuUsage();
      server.on('session', (s) => {
        void (async () => {
          const out = await s.createUniStream();
          cpu0 = process.cpuUsage();
          const chunk = new Uint8Array(CHUNK).fill(0x5a);
          for (let sent = 0; sent < TOTAL; sent += CHUNK) await out.write(chunk);
          await out.end();
        })();
      });
      await server.listen();
      try {
        const r = await receive(server.address().port);
        const cpu = process.cpuUsage(cpu0);
        expect(r.bytes).toBe(TOTAL);
        report(`native, payload ${payload}`, r, (cpu.user + cpu.system) / 1000);
      } finally {
        await server.close();
      }
    }, 300_000);
  }

  it('JS wrapper (QUICServer/QUICStream)', async () => {
    patchMatrixaiQuic();
    let cpu0 = process.cpuUsage();
    const server = await startWrapperServer({
      cert: cert.certPem,
      key: cert.keyPem,
      onSession: (connection, sessionId) => {
        void (async () => {
          const stream = connection.newStream('uni');
          const w = stream.writable.getWriter();
          cpu0 = process.cpuUsage();
          await w.write(encodeUniStreamHeader(sessionId));
          const chunk = new Uint8Array(CHUNK).fill(0x5a);
          for (let sent = 0; sent < TOTAL; sent += CHUNK) await w.write(chunk);
          await w.close();
        })();
      },
    });
    try {
      const r = await receive(server.port);
      const cpu = process.cpuUsage(cpu0);
      expect(r.bytes).toBe(TOTAL);
      report('JS wrapper, payload 1350', r, (cpu.user + cpu.system) / 1000);
    } finally {
      await server.stop();
    }
  }, 300_000);
});
