/**
 * The system under fuzz: Polycast in a child process (so its RSS is its own
 * and a crash is seen as an exit), a real ffmpeg publishing a test pattern,
 * and one real ws-nal reader whose frame rate is sampled every second. The
 * fuzz targets talk to the child over its real ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { Worker } from 'node:worker_threads';
import { collectGarbage, inspectorUrlIn, isInspectorNoise } from '../../bench/inspector.js';
import type { WatchMessage } from './watch-worker.js';
import { freePort, freeUdpPort } from '../helpers/ports.js';
import { moqtOriginCertificate } from './targets/moqt-origin.js';

/** The path the publisher feeds and the watching reader reads; fuzzers keep their own paths. */
export const WATCH_PATH = 'live/watch';
export const API_USER = 'fuzzapi';
export const API_PASS = 'fuzzpass';

export interface Ports {
  rtmp: number;
  web: number;
  /** UDP, same number as web. */
  webTransport: number;
  api: number;
  /** Where the `rtmp-origin` target plays a hostile origin that `fuzzorigin/<n>` pulls from. */
  origin: number;
  /** UDP: the SRT listener. */
  srt: number;
  /** UDP: where the `moqt-origin` target plays a hostile moq-transport origin that `fuzzmoqt/<n>` and `fuzzmoqtp/<n>` pull from. */
  moqtOrigin: number;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resident set of a process in MiB, or undefined once it is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function configText(p: Ports): string {
  return [
    'logLevel: warn',
    `rtmpAddress: 127.0.0.1:${p.rtmp}`,
    `webAddress: 127.0.0.1:${p.web}`,
    'webTransport: yes',
    'srt: yes',
    `srtAddress: 127.0.0.1:${p.srt}`,
    'api: yes',
    `apiAddress: 127.0.0.1:${p.api}`,
    // Every fuzz client comes from 127.0.0.1, like the watcher and the publisher:
    // brute-force blocking would lock them out together with the fuzzer.
    'authMaxFailures: 0',
    'authInternalUsers:',
    '  - user: any',
    '    permissions: [{ action: publish }, { action: read }]',
    // The API changes the configuration; only requests carrying these credentials
    // reach its routes, so that a mutation rarely becomes an operator's command.
    `  - user: ${API_USER}`,
    `    pass: ${API_PASS}`,
    '    permissions: [{ action: api }]',
    'paths:',
    // Polycast as an edge: each reader of fuzzorigin/<n> makes it pull from the rtmp-origin target.
    '  ~^fuzzorigin/(\\d+)$:',
    `    source: rtmp://127.0.0.1:${p.origin}/o$G1/s`,
    '    sourceOnDemand: yes',
    '    sourceOnDemandStartTimeout: 2s',
    '    sourceOnDemandCloseAfter: 1s',
    // …and of fuzzmoqt/<n> (MediaMTX's layout) and fuzzmoqtp/<n> (Polycast's) from the moqt-origin target, pinned to its certificate.
    '  ~^fuzzmoqt/(\\d+)$:',
    `    source: moqt://127.0.0.1:${p.moqtOrigin}/m$G1?layout=mediamtx&fingerprint=${moqtOriginCertificate().fingerprint}`,
    '    sourceOnDemand: yes',
    '    sourceOnDemandStartTimeout: 2s',
    '    sourceOnDemandCloseAfter: 1s',
    '  ~^fuzzmoqtp/(\\d+)$:',
    `    source: moqt://127.0.0.1:${p.moqtOrigin}/p$G1?fingerprint=${moqtOriginCertificate().fingerprint}`,
    '    sourceOnDemand: yes',
    '    sourceOnDemandStartTimeout: 2s',
    '    sourceOnDemandCloseAfter: 1s',
    '  all_others:',
    '',
  ].join('\n');
}

export interface ServerLog {
  lines: number;
  errors: number;
  /** Last lines, for reports. */
  tail: string[];
}

export class ServerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  exitInfo: { code: number | null; signal: string | null } | undefined;
  readonly log: ServerLog = { lines: 0, errors: 0, tail: [] };
  private readonly scratch: string;
  private inspectorUrl: string | undefined;

  private constructor(
    serverScript: string,
    readonly ports: Ports,
    env: NodeJS.ProcessEnv,
  ) {
    this.scratch = mkdtempSync(join(tmpdir(), 'polycast-fuzz-'));
    const file = join(this.scratch, 'fuzz.yml');
    writeFileSync(file, configText(ports));
    // The inspector (loopback, a free port) lets the runner ask for a full garbage collection before it reads
    // memory: what V8 would collect at its leisure is not memory the server holds.
    this.child = spawn(process.execPath, ['--inspect=127.0.0.1:0', serverScript, file], { cwd: this.scratch, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      }),
    );
    let partial = '';
    const onData = (d: Buffer) => {
      const text = partial + d.toString();
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        this.inspectorUrl ??= inspectorUrlIn(line);
        if (isInspectorNoise(line)) continue;
        this.log.lines++;
        if (/"level":(50|60)/.test(line) || !line.startsWith('{')) this.log.errors++;
        this.log.tail.push(line.slice(0, 400));
        if (this.log.tail.length > 40) this.log.tail.shift();
      }
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
  }

  static async start(serverScript: string, env: NodeJS.ProcessEnv = process.env): Promise<ServerProcess> {
    const web = await freePort();
    const ports = { rtmp: await freePort(), web, webTransport: web, api: await freePort(), origin: await freePort(), srt: await freeUdpPort(), moqtOrigin: await freeUdpPort() };
    const server = new ServerProcess(serverScript, ports, env);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (server.exitInfo) throw new Error(`Polycast exited at start: ${server.log.tail.join('\n')}`);
      // At logLevel warn the server says nothing when up: its ports answering is the sign.
      if ((await canConnect(ports.web)) && (await canConnect(ports.rtmp)) && (await canConnect(ports.api))) return server;
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`Polycast did not start: ${server.log.tail.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  alive(): boolean {
    return this.exitInfo === undefined;
  }

  rss(): number | undefined {
    return rssMiB(this.pid);
  }

  /**
   * A full garbage collection in the server (through its inspector), then
   * its V8 heap in use, in MiB; undefined if the inspector did not answer.
   */
  async collectGarbage(): Promise<number | undefined> {
    const url = this.inspectorUrl;
    if (url === undefined || !this.alive()) return undefined;
    return collectGarbage(url);
  }

  async stop(): Promise<void> {
    if (this.alive()) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(t);
    }
    rmSync(this.scratch, { recursive: true, force: true });
  }
}

/**
 * The publisher and the watching reader. The publisher is restarted if it
 * exits (a fuzz case that disconnects it is a finding, and the run goes on);
 * the reader is reconnected likewise, and each event is counted.
 */
export class Watch {
  publisher!: Publisher;
  private reader: Worker | undefined;
  publisherExits = 0;
  readerCloses: string[] = [];
  /** Video frames per whole second since `mark()`. */
  fps: number[] = [];
  private total = 0;
  private stopped = false;

  constructor(private readonly server: ServerProcess) {}

  async start(): Promise<void> {
    this.startPublisher();
    this.connectReader();
    // Until the reader gets a steady stream, fuzzing has nothing to disturb.
    const deadline = Date.now() + 20_000;
    while (this.total < 30) {
      if (Date.now() > deadline) throw new Error(`the watching reader got no video: ${this.publisher.stderr()} ${this.readerCloses.join('; ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    this.fps = [];
  }

  /** Starts a new measurement window. */
  mark(): void {
    this.fps = [];
  }

  private startPublisher(): void {
    this.publisher = publish(`rtmp://127.0.0.1:${this.server.ports.rtmp}/${WATCH_PATH}`, { size: '640x360', rate: 30, gop: 30 });
    void this.publisher.exited.then(() => {
      if (this.stopped || !this.server.alive()) return;
      this.publisherExits++;
      setTimeout(() => !this.stopped && this.server.alive() && this.startPublisher(), 500);
    });
  }

  private connectReader(): void {
    const script = process.env.POLYCAST_FUZZ_WATCH_WORKER;
    if (!script) throw new Error('POLYCAST_FUZZ_WATCH_WORKER is not set (the bundled watch-worker.mjs)');
    const worker = new Worker(script, { workerData: { url: `ws://127.0.0.1:${this.server.ports.web}/${WATCH_PATH}/ws/nal` } });
    this.reader = worker;
    worker.on('message', (m: WatchMessage) => {
      if (m.kind === 'frames') {
        this.fps.push(m.count);
        this.total += m.count;
        return;
      }
      void worker.terminate();
      if (this.stopped) return;
      this.readerCloses.push(`${m.code} ${m.reason}`);
      setTimeout(() => !this.stopped && this.server.alive() && this.connectReader(), 500);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.reader?.postMessage('stop');
    await this.reader?.terminate();
    await this.publisher.stop();
  }
}
