/**
 * The two servers under test, each as a child process on loopback ports:
 * Polycast from its built CLI with a throw-away config, Node-Media-Server
 * through `nms-peer.js` in a scratch working directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectGarbage, inspectorUrlIn } from './inspector.js';
import type { ReaderTarget } from './lean-reader.js';

const SERVER_LOG = process.env['BENCH_SERVER_LOG'] || undefined;

export type ServerKind = 'polycast' | 'nms';

export const SERVER_LABEL: Record<ServerKind, string> = { polycast: 'Polycast', nms: 'NMS 4.4.3' };

/** Both servers publish and play the same app/name, so one RTMP URL pattern fits both. */
export const STREAM_PATH = 'live/bench';

export interface ServerProcess {
  kind: ServerKind;
  pid: number;
  rtmpUrl: string;
  /** Where a fan-out reader connects. */
  reader: ReaderTarget;
  /** HTTP port of the web side (Polycast's player pages, NMS's HTTP/WS-FLV). */
  httpPort: number;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  alive(): boolean;
  /** Last lines of its stderr, for failure reports. */
  stderr(): string;
  /** With `inspect`: a full garbage collection, then the heap in use (MiB); undefined without an inspector. */
  collectGarbage(): Promise<number | undefined>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Package root: where dist/ lives. */
  root: string;
  /** Run Polycast with `--cpu-prof`, writing the profile into this folder on exit. */
  cpuProfDir?: string;
  /** Polycast only: serve WebTransport (UDP, on the web port's number), off by default to keep fan-out phases TCP-only. */
  webTransport?: boolean;
  /** Polycast only: WebTransport's QUIC stack (POLYCAST_QUIC); default ngtcp2 where it is built. */
  quic?: 'ngtcp2' | 'quiche';
  /** Polycast only: open its inspector on a loopback port, so memory can be read after a full collection. */
  inspect?: boolean;
  /** Polycast only: the bench path pulls from this URL (an edge) instead of taking a publisher. */
  source?: string;
  /** Polycast only: also take SRT publishers on this UDP port. */
  srtPort?: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startServer(kind: ServerKind, o: StartOptions): Promise<ServerProcess> {
  const rtmpPort = await freePort();
  const httpPort = await freePort();
  const scratch = mkdtempSync(join(tmpdir(), `polycast-bench-${kind}-`));
  let child: ChildProcess;
  let reader: ReaderTarget;
  if (kind === 'polycast') {
    const config = join(scratch, 'bench.yml');
    writeFileSync(
      config,
      [
        'logLevel: warn',
        `rtmpAddress: 127.0.0.1:${rtmpPort}`,
        `webAddress: 127.0.0.1:${httpPort}`,
        `webTransport: ${o.webTransport === true ? 'yes' : 'no'}`,
        ...(o.srtPort === undefined ? [] : ['srt: yes', `srtAddress: 127.0.0.1:${o.srtPort}`]),
        'paths:',
        ...(o.source === undefined ? ['  all_others:'] : [`  ${STREAM_PATH}:`, `    source: ${o.source}`]),
        '',
      ].join('\n'),
    );
    const profiling = o.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`];
    const inspecting = o.inspect === true ? ['--inspect=127.0.0.1:0'] : [];
    // For diagnosis: BENCH_SERVER_ARGS adds Node flags (`--trace-gc`), BENCH_SERVER_LOG appends the server's stdout and stderr to a file.
    const extra = (process.env['BENCH_SERVER_ARGS'] ?? '').split(' ').filter(Boolean);
    child = spawn(process.execPath, [...profiling, ...inspecting, ...extra, join(o.root, 'dist/src/main.js'), config], {
      cwd: scratch,
      stdio: ['ignore', SERVER_LOG === undefined ? 'ignore' : 'pipe', 'pipe'],
      env: o.quic === undefined ? process.env : { ...process.env, POLYCAST_QUIC: o.quic },
    });
    reader = { host: '127.0.0.1', port: httpPort, path: `/${STREAM_PATH}/ws/nal`, format: 'ws-nal' };
  } else {
    child = spawn(process.execPath, [join(o.root, 'dist/bench/nms-peer.js'), String(rtmpPort), String(httpPort)], {
      cwd: scratch,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    reader = { host: '127.0.0.1', port: httpPort, path: `/${STREAM_PATH}.flv`, format: 'ws-flv' };
  }
  let stderr = '';
  let inspectorUrl: string | undefined;
  child.stderr!.on('data', (d: Buffer) => {
    const text = d.toString();
    for (const line of text.split('\n')) inspectorUrl ??= inspectorUrlIn(line);
    stderr = (stderr + text).slice(-4000);
    if (SERVER_LOG !== undefined) appendFileSync(SERVER_LOG, text);
  });
  child.stdout?.on('data', (d: Buffer) => appendFileSync(SERVER_LOG!, d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    if (alive()) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    await waitForPorts([rtmpPort, httpPort], alive, 15_000);
  } catch (err) {
    await stop();
    throw new Error(`${SERVER_LABEL[kind]} did not start: ${(err as Error).message}; stderr: ${stderr.trim().slice(-500)}`);
  }
  return {
    kind,
    pid: child.pid!,
    rtmpUrl: `rtmp://127.0.0.1:${rtmpPort}/${STREAM_PATH}`,
    reader,
    httpPort,
    exited,
    alive,
    stderr: () => stderr,
    collectGarbage: async () => (inspectorUrl !== undefined && alive() ? collectGarbage(inspectorUrl) : undefined),
    stop,
  };
}

async function waitForPorts(ports: number[], alive: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (const port of ports) {
    for (;;) {
      if (!alive()) throw new Error('the process exited');
      if (await canConnect(port)) break;
      if (performance.now() > deadline) throw new Error(`port ${port} not listening after ${timeoutMs} ms`);
      await sleep(50);
    }
  }
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
