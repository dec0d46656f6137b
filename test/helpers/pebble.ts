/**
 * Pebble, Let's Encrypt's ACME test server (Debian package `pebble`), on
 * loopback, with a tiny DNS responder that resolves every name to 127.0.0.1
 * so that a name such as `polycast.test` validates against this machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSelfSignedCertificate } from '../../src/protocols/webtransport/cert.js';
import { freePort } from './ports.js';

export interface Pebble {
  /** The ACME directory URL. */
  directory: string;
  /** PEM file trusted for pebble's own HTTPS (its directory and management ports). */
  tlsRootFile: string;
  /** The root pebble issues under, PEM (from its management port; a new one at every start). */
  issuingRoot(): Promise<string>;
  /** Everything pebble printed. */
  output(): string;
  stop(): Promise<void>;
}

/** A DNS server on 127.0.0.1 answering A 127.0.0.1 to every name, and nothing to other types. */
export async function startLoopbackDns(): Promise<{ port: number; queries: string[]; close(): void }> {
  const socket: Socket = createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    let at = 12;
    const labels: string[] = [];
    while (at < msg.length && msg[at] !== 0) {
      const len = msg[at]!;
      labels.push(msg.subarray(at + 1, at + 1 + len).toString('latin1'));
      at += len + 1;
    }
    at++;
    if (at + 4 > msg.length) return;
    const qtype = msg.readUInt16BE(at);
    const question = msg.subarray(12, at + 4);
    queries.push(`${labels.join('.')}/${qtype}`);
    const isA = qtype === 1;
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8180 | (msg.readUInt16BE(2) & 0x0100), 2); // response, recursion desired as asked, available
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(isA ? 1 : 0, 6);
    const answer = isA ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]) : Buffer.alloc(0);
    socket.send(Buffer.concat([header, question, answer]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, queries, close: () => socket.close() };
}

/** Starts pebble: HTTP-01 validation connects to `httpPort` on whatever the DNS answers (127.0.0.1). */
export async function startPebble(opts: { httpPort: number; dnsPort: number; tlsPort?: number }): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'pebble-'));
  // Debian's package ships no test certificate: pebble's own HTTPS gets one made here.
  const tls = generateSelfSignedCertificate({ commonName: 'pebble', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  writeFileSync(join(dir, 'cert.pem'), tls.certPem);
  writeFileSync(join(dir, 'key.pem'), tls.keyPem);
  const listen = await freePort();
  const management = await freePort();
  writeFileSync(
    join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listen}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: join(dir, 'cert.pem'),
        privateKey: join(dir, 'key.pem'),
        httpPort: opts.httpPort,
        tlsPort: opts.tlsPort ?? (await freePort()),
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  let out = '';
  const child: ChildProcess = spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${opts.dnsPort}`], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_VA_ALWAYS_VALID: '0', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const get = (url: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request(url, { ca: tls.certPem }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  const directory = `https://127.0.0.1:${listen}/dir`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await get(directory);
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`pebble did not start: ${(err as Error).message}\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    directory,
    tlsRootFile: join(dir, 'cert.pem'),
    issuingRoot: () => get(`https://127.0.0.1:${management}/roots/0`),
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
