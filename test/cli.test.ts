import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NalClient } from './helpers/nal-client.js';
import { freePort } from './helpers/ports.js';

const root = resolve(import.meta.dirname, '..');
const main = join(root, 'dist/src/main.js');
const work = mkdtempSync(join(tmpdir(), 'polycast-cli-'));

interface Run {
  code: Promise<number | null>;
  out: () => string;
  kill(signal?: NodeJS.Signals): void;
  pid: number;
}

function run(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [main, ...args], { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    code: new Promise((r) => child.on('exit', (code) => r(code))),
    out: () => out,
    kill: (signal = 'SIGTERM') => child.kill(signal),
    pid: child.pid!,
  };
}

const running: Run[] = [];
afterAll(() => {
  for (const r of running) r.kill('SIGKILL');
});

describe('polycast command line', () => {
  it('refuses a config with a misspelled key, naming file, line, column and key', async () => {
    const file = join(work, 'bad.yml');
    writeFileSync(file, 'logLevel: info\nrtmpAdress: :1935\nreadTimeout: 10 seconds\n');
    const r = run([file]);
    expect(await r.code).toBe(1);
    expect(r.out()).toContain(`${file}:2:1: rtmpAdress: unknown key (did you mean 'rtmpAddress'?)`);
    expect(r.out()).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: readTimeout:`));
  });

  it('fails with a clear message, not a library exit, when the RTMP port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    const file = join(work, 'taken.yml');
    writeFileSync(file, `rtmpAddress: 127.0.0.1:${port}\nwebAddress: 127.0.0.1:${await freePort()}\nwebTransport: no\n`);
    const r = run([file]);
    expect(await r.code).toBe(1);
    expect(r.out()).toContain(`RTMP listener: address 127.0.0.1:${port} is already in use`);
    expect(r.out()).not.toContain('bin/config.json');
    blocker.close();
  });

  it('starts with the shipped mediamtx.yml and plays the demo path at once; SIGTERM stops it and its ffmpeg', async () => {
    const rtmp = await freePort();
    const web = await freePort();
    const r = run([join(root, 'mediamtx.yml')], {
      POLYCAST_RTMPADDRESS: `127.0.0.1:${rtmp}`,
      POLYCAST_WEBADDRESS: `127.0.0.1:${web}`,
      POLYCAST_WEBTRANSPORT: 'no',
    });
    running.push(r);
    const deadline = Date.now() + 15_000;
    while (!r.out().includes('listening') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    const viewer = new NalClient(`ws://127.0.0.1:${web}/demo/ws/nal`);
    await viewer.until(() => viewer.video.length >= 30 && viewer.audio.length >= 10, 20_000, 'demo frames');
    const init = viewer.texts('init').at(-1)!;
    expect(init.video).toMatchObject({ codedWidth: 1280, codedHeight: 720 });
    expect(viewer.video[0]!.flags & 1).toBe(1);
    const hookPid = Number(/"hook":"runOnInit demo","pid":(\d+)/.exec(r.out())?.[1]);
    expect(hookPid).toBeGreaterThan(0);

    r.kill('SIGTERM');
    expect(await r.code).toBe(0);
    const closed = await viewer.closed;
    expect(closed.code).toBe(1001);
    expect(() => process.kill(hookPid, 0)).toThrow();
    // node-media-server's JSON store must not appear in the working directory.
    expect(readdirSync(work)).not.toContain('data');
  }, 60_000);
});
