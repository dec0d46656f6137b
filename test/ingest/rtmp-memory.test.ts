/**
 * Fault 2 of issue 9: unauthenticated chunk headers that declare 16 MB
 * messages on hundreds of chunk streams must cost the server almost nothing.
 *
 * The server runs in a child process with glibc told to keep freed memory
 * (what a server that has run a while looks like), so an allocator that
 * commits what a header declares shows up in RSS. A real ffmpeg publishes
 * and a real ws-nal reader watches throughout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { freePort } from '../helpers/ports.js';

const root = resolve(import.meta.dirname, '../..');
/** Past this the allocator is clearly committing declared lengths: stop the child before it eats the machine. */
const RSS_ABORT_MB = 800;
const RSS_LIMIT_MB = 300;
const ATTACKERS_PER_ROUND = 4;
const CSIDS_PER_ATTACKER = 300;
const ROUNDS = 2;
const DECLARED_LENGTH = 0xffffff; // the largest a 3-byte message length can say: 16 MB

let child: ChildProcess;
let rtmpPort: number;
let webPort: number;
let peakRssMb = 0;
let sampler: NodeJS.Timeout;
let out = '';
const publishers: Publisher[] = [];

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

beforeAll(async () => {
  // Bundle the CLI from the sources under test, next to node_modules so its packages resolve.
  const dir = join(root, 'node_modules/.cache/polycast-test');
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, `rtmp-memory-${process.pid}.mjs`);
  await build({ entryPoints: [join(root, 'src/main.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: entry, logLevel: 'error' });
  rtmpPort = await freePort();
  webPort = await freePort();
  const work = mkdtempSync(join(tmpdir(), 'polycast-rtmp-memory-'));
  const config = join(work, 'mediamtx.yml');
  writeFileSync(config, `logLevel: info\nrtmpAddress: 127.0.0.1:${rtmpPort}\nwebAddress: 127.0.0.1:${webPort}\nwebTransport: no\npaths:\n  all_others:\n`);
  child = spawn(process.execPath, [entry, config], {
    cwd: work,
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '68719476736' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  const deadline = Date.now() + 20_000;
  while (!out.includes('listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  sampler = setInterval(() => {
    try {
      peakRssMb = Math.max(peakRssMb, rssMb(child.pid!));
      if (peakRssMb > RSS_ABORT_MB) child.kill('SIGKILL');
    } catch {
      // The child is gone; the assertions will say so.
    }
  }, 20);
});

afterAll(async () => {
  clearInterval(sampler);
  await Promise.all(publishers.map((p) => p.stop()));
  child?.kill('SIGKILL');
});

/** Connects and completes a simple RTMP handshake; resolves with the socket and how long the server took. */
async function handshake(): Promise<{ socket: net.Socket; ms: number }> {
  const socket = net.connect(rtmpPort, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((r, j) => {
    socket.once('connect', () => r());
    socket.once('error', j);
  });
  const t0 = performance.now();
  socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 0x5a)]));
  const s012 = await new Promise<Buffer>((r, j) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 3073) {
        socket.off('data', onData);
        r(got);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => j(new Error(`closed during the handshake after ${got.length} bytes`)));
  });
  const ms = performance.now() - t0;
  socket.write(s012.subarray(1, 1537)); // C2 echoes S1
  return { socket, ms };
}

/** fmt-0 chunk headers declaring a 16 MB video message on each csid, each followed by a few payload bytes. */
function declarations(): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < CSIDS_PER_ATTACKER; i++) {
    const csid = 3 + i;
    const basic = csid < 64 ? Buffer.from([csid]) : Buffer.from([0, csid - 64]);
    const header = Buffer.alloc(11);
    header.writeUIntBE(0, 0, 3);
    header.writeUIntBE(DECLARED_LENGTH, 3, 3);
    header[6] = 9;
    header.writeUInt32LE(1, 7);
    parts.push(basic, header, Buffer.alloc(64, 0x17));
  }
  return Buffer.concat(parts);
}

async function attack(): Promise<boolean> {
  const { socket } = await handshake();
  const closed = new Promise<boolean>((r) => {
    socket.once('close', () => r(true));
    setTimeout(() => r(false), 5000).unref();
  });
  socket.write(declarations());
  const wasClosed = await closed;
  socket.destroy();
  return wasClosed;
}

describe('RTMP memory before authentication (issue 9, fault 2)', () => {
  it('closes connections declaring 16 MB on many chunk streams, stays small and keeps serving', async () => {
    publishers.push(publish(`rtmp://127.0.0.1:${rtmpPort}/live/cam`, { size: '320x240', audio: false }));
    const reader = new NalClient(`ws://127.0.0.1:${webPort}/live/cam/ws/nal`);
    await reader.until(() => reader.video.length >= 10, 30_000, 'frames before the attack');
    const before = rssMb(child.pid!);

    const handshakes: number[] = [];
    const closed: boolean[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        closed.push(...(await Promise.all(Array.from({ length: ATTACKERS_PER_ROUND }, () => attack()))));
        const probe = await handshake();
        handshakes.push(probe.ms);
        probe.socket.destroy();
      }
    } finally {
      console.log(`RSS before ${before.toFixed(0)} MB, peak ${peakRssMb.toFixed(0)} MB; handshakes after each round ${handshakes.map((ms) => ms.toFixed(0)).join(', ')} ms; attackers closed ${closed.join(',')}`);
    }
    expect(closed, 'every attacker closed by the server').toEqual(Array(ATTACKERS_PER_ROUND * ROUNDS).fill(true));

    const frames = reader.video.length;
    await reader.until(() => reader.video.length >= frames + 30, 15_000, 'frames after the attack');
    reader.close();
    expect(peakRssMb).toBeLessThan(RSS_LIMIT_MB);
    for (const ms of handshakes) expect(ms).toBeLessThan(1000);
    expect(out).toMatch(/"msg":"RTMP protocol error, closing connection"/);
  }, 120_000);
});
