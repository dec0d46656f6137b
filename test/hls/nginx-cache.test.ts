/**
 * The shipped nginx configuration in front of a real Polycast: 100 viewers
 * follow LL-HLS through it, and the origin must see each part at most twice.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HlsTransport } from '../../transports/hls/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { CLEAN_DECODE, ffmpegPlay } from './ffmpeg-player.js';
import { followParts } from './ll-client.js';

const CONF = fileURLToPath(new URL('../../config/examples/nginx-hls-cache.conf', import.meta.url));
const PATH = 'live/cached';
const VIEWERS = 100;
/** Debian puts it in /usr/sbin, which a non-login PATH may lack. */
const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const PARTS = 10;

let srv: TestServer;
let pub: Publisher;
let nginx: ChildProcess | undefined;
let dir: string;
let nginxPort: number;
/** Origin requests by file and query, as the HLS transport saw them. */
const origin = new Map<string, number>();

async function startNginx(): Promise<void> {
  if (spawnSync(NGINX, ['-v']).error !== undefined) throw new Error('nginx is not installed: apt-get install nginx (.ci/run does)');
  dir = mkdtempSync(join(tmpdir(), 'polycast-nginx-'));
  // nginx's workers drop root privileges: they must reach the cache below this directory.
  chmodSync(dir, 0o755);
  nginxPort = await freePort();
  const conf = readFileSync(CONF, 'utf8')
    .replaceAll('__LISTEN__', `127.0.0.1:${nginxPort}`)
    .replaceAll('__ORIGIN__', `127.0.0.1:${srv.webPort}`)
    .replaceAll('__CACHE_DIR__', dir);
  writeFileSync(join(dir, 'nginx.conf'), conf);
  nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${nginxPort}/`);
      return;
    } catch {
      if (Date.now() > deadline || nginx.exitCode !== null) throw new Error(`nginx did not start: ${stderr} ${readLog()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function readLog(): string {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

beforeAll(async () => {
  srv = await startServer('paths:\n  all_others:\n');
  pub = publish(srv.rtmpUrl(PATH), { gop: 30 });
  const deadline = Date.now() + 15_000;
  while (srv.server.paths.get(PATH)?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  (srv.server.transports.find((t) => t.name === 'hls') as HlsTransport).onRequest = (_path, file, search) => origin.set(file + search, (origin.get(file + search) ?? 0) + 1);
  await startNginx();
}, 40_000);

afterAll(async () => {
  if (nginx !== undefined && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx!.once('exit', r));
    nginx.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (nginx.exitCode === null) nginx.kill('SIGKILL');
  }
  await pub?.stop();
  await srv?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('LL-HLS behind the shipped nginx cache', () => {
  it(`${VIEWERS} viewers each get every part; the origin sees each part at most twice`, async () => {
    const base = `http://127.0.0.1:${nginxPort}/${PATH}`;
    // The muxer starts on the first request; it reaches the origin through nginx like any other.
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: VIEWERS }, () => followParts(base, PARTS, { deadline: Date.now() + 30_000, useHint: true })));
    const elapsed = Math.round(performance.now() - started);
    for (const { received } of results) {
      expect(received).toHaveLength(PARTS);
      expect(received).toEqual(received.map((_, i) => received[0]! + i));
    }
    const partCounts = [...origin].filter(([key]) => /-p\d+\.m4s$/.test(key)).map(([, n]) => n);
    const playlistCounts = [...origin].filter(([key]) => key.includes('_HLS_msn=')).map(([, n]) => n);
    const distinctParts = new Set(results.flatMap((r) => r.received)).size;
    const summary = {
      elapsedMs: elapsed,
      partsFetchedByViewers: VIEWERS * PARTS,
      distinctParts,
      originPartRequests: partCounts.reduce((a, b) => a + b, 0),
      maxOriginRequestsPerPart: Math.max(...partCounts),
      originBlockingPlaylistRequests: playlistCounts.reduce((a, b) => a + b, 0),
      maxOriginRequestsPerBlockingQuery: Math.max(...playlistCounts),
      originIndexRequests: origin.get('index.m3u8') ?? 0,
    };
    console.log(`nginx cache: ${JSON.stringify(summary)}`);
    expect(partCounts.length).toBeGreaterThanOrEqual(distinctParts - 1);
    expect(summary.maxOriginRequestsPerPart).toBeLessThanOrEqual(2);
    expect(summary.maxOriginRequestsPerBlockingQuery).toBeLessThanOrEqual(2);
  }, 40_000);

  it('ffmpeg plays it through the cache', async () => {
    const { code, log } = await ffmpegPlay(`http://127.0.0.1:${nginxPort}/${PATH}/index.m3u8`, 2);
    expect(code, log).toBe(0);
    expect(log).toMatch(CLEAN_DECODE.progress);
    expect(log).not.toMatch(CLEAN_DECODE.problems);
  }, 40_000);
});
