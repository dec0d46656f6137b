import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Polycast } from '../../src/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { sleep, waitFor } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { startFromFile } from './file-server.js';

const dir = mkdtempSync(join(tmpdir(), 'polycast-reload-'));
const file = join(dir, 'mediamtx.yml');
const out = (name: string) => join(dir, name);
const read = (name: string) => {
  try {
    return readFileSync(out(name), 'utf8');
  } catch {
    return '';
  }
};

let server: Polycast;
let logs: Array<Record<string, unknown>>;
let rtmp1: number;
let rtmp2: number;
let web: number;
const publishers: Publisher[] = [];

function config(o: { rtmp: number; keep: string; paths: string[]; global?: string[] }): string {
  return [
    'logLevel: debug',
    `rtmpAddress: 127.0.0.1:${o.rtmp}`,
    `webAddress: 127.0.0.1:${web}`,
    'webTransport: no',
    ...(o.global ?? []),
    'paths:',
    '  keep:',
    o.keep,
    ...o.paths,
    '',
  ].join('\n');
}

/** Editors save by writing a new file and renaming it over the old one. */
function save(text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const reloads = () => logs.filter((l) => l.msg === 'configuration reloaded').length;

beforeAll(async () => {
  rtmp1 = await freePort();
  rtmp2 = await freePort();
  web = await freePort();
  ({ server, logs } = await startFromFile(
    file,
    config({
      rtmp: rtmp1,
      keep: '    maxReaders: 3',
      paths: [
        '  gone:',
        '  steady:',
        `    runOnInit: ${JSON.stringify(`echo $$ > ${out('steady.pid')}; exec sleep 1000`)}`,
        '  hooked:',
        `    runOnInit: ${JSON.stringify(`echo first >> ${out('hooked.log')}; exec sleep 1000`)}`,
      ],
    }),
  ));
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await server.stop();
});

describe('configuration hot reload', () => {
  it('adds and removes paths, applies changed settings in place, moves a listener, and keeps an unaffected stream going without a gap', async () => {
    const keepPub = publish(`rtmp://127.0.0.1:${rtmp1}/keep`, { size: '320x240', rate: 25, gop: 25 });
    const gonePub = publish(`rtmp://127.0.0.1:${rtmp1}/gone`, { size: '160x120', audio: false });
    publishers.push(keepPub, gonePub);
    await waitFor(() => server.paths.get('keep')?.stream?.ready === true && server.paths.get('gone')?.stream?.ready === true, 20_000, 'both published');
    const keepViewer = new NalClient(`ws://127.0.0.1:${web}/keep/ws/nal`);
    const goneViewer = new NalClient(`ws://127.0.0.1:${web}/gone/ws/nal`);
    await keepViewer.until(() => keepViewer.video.length >= 25, 15_000, 'keep frames');
    await goneViewer.until(() => goneViewer.video.length >= 5, 15_000, 'gone frames');
    const keepPath = server.paths.get('keep')!;
    const steadyPid = Number(read('steady.pid'));
    expect(steadyPid).toBeGreaterThan(0);
    await waitFor(() => read('hooked.log') === 'first\n', 5000, 'hooked runOnInit');

    const eventsBefore = keepViewer.events.length;
    save(
      config({
        rtmp: rtmp2,
        keep: '    maxReaders: 7',
        paths: [
          '  added:',
          '  steady:',
          `    runOnInit: ${JSON.stringify(`echo $$ > ${out('steady.pid')}; exec sleep 1000`)}`,
          '  hooked:',
          `    runOnInit: ${JSON.stringify(`echo second >> ${out('hooked.log')}; exec sleep 1000`)}`,
        ],
      }),
    );
    await waitFor(() => reloads() === 1, 10_000, 'the reload');

    // The removed path's viewer is closed with the reason, its publisher ended.
    expect(await goneViewer.closed).toEqual({ code: 4404, reason: "path 'gone' was removed from the configuration" });
    expect(await gonePub.exited).not.toBe(null);
    expect(server.paths.get('gone')).toBeUndefined();

    // The kept path is the same object, its new setting applied in place.
    expect(server.paths.get('keep')).toBe(keepPath);
    expect(keepPath.settings.maxReaders).toBe(7);

    // runOnInit: the changed one restarted, the unchanged one untouched.
    await waitFor(() => read('hooked.log') === 'first\nsecond\n', 5000, 'hooked restarted');
    expect(Number(read('steady.pid'))).toBe(steadyPid);
    expect(() => process.kill(steadyPid, 0)).not.toThrow();

    // The added path takes a publisher on the moved RTMP listener; the old port is closed.
    const addedPub = publish(`rtmp://127.0.0.1:${rtmp2}/added`, { size: '160x120', audio: false });
    publishers.push(addedPub);
    await waitFor(() => server.paths.get('added')?.stream?.ready === true, 20_000, 'publish on the added path');
    expect(server.listening?.rtmp).toBe(rtmp2);
    const oldPort = publish(`rtmp://127.0.0.1:${rtmp1}/added2`, { duration: 3, audio: false });
    expect(await oldPort.exited).not.toBe(0);

    // The kept stream never stopped: same init, no offline, DTS steps of one frame (25 fps, 40 ms) across the reload.
    await sleep(1000);
    const after = keepViewer.events.slice(eventsBefore);
    expect(after.filter((e) => e.kind === 'text' && (e.msg.type === 'offline' || e.msg.type === 'init'))).toEqual([]);
    const video = keepViewer.video;
    expect(video.length).toBeGreaterThanOrEqual(50);
    for (let i = 1; i < video.length; i++) {
      expect(video[i]!.dts - video[i - 1]!.dts, `frame ${i}`).toBeLessThanOrEqual(41_000);
      expect(video[i]!.flags & 2, `discontinuity at frame ${i}`).toBe(0);
    }
    keepViewer.close();
  });

  it('rejects a bad file with the same located errors, keeping the running configuration', async () => {
    const before = server.config;
    save(['paths:', '  keep:', '    maxReaders: lots', '  ~^(unclosed:', ''].join('\n'));
    await waitFor(() => logs.some((l) => l.msg !== undefined && String(l.msg).startsWith('configuration not reloaded')), 10_000, 'the refusal');
    const refusal = logs.find((l) => String(l.msg).startsWith('configuration not reloaded'))!;
    expect(refusal.level).toBe(50);
    expect(refusal.problems).toEqual([
      `${file}:3:17: paths.keep.maxReaders: must be an integer ≥ 0`,
      `${file}:4:3: paths.~^(unclosed: Invalid regular expression: /^(unclosed/: Unterminated group`,
    ]);
    expect(server.config).toBe(before);
    expect(server.paths.get('keep')!.settings.maxReaders).toBe(7);
  });

  it('starts, moves and stops the API listener as the file says', async () => {
    const [a1, a2] = [await freePort(), await freePort()];
    const withApi = (port: number | undefined) =>
      config({ rtmp: rtmp2, keep: '    maxReaders: 7', paths: ['  added:'], global: port === undefined ? [] : ['api: yes', `apiAddress: 127.0.0.1:${port}`] });
    const info = (port: number) => fetch(`http://127.0.0.1:${port}/v3/info`).then((r) => r.status, () => 'refused');
    const count = reloads();
    save(withApi(a1));
    await waitFor(() => reloads() === count + 1, 10_000, 'reload with the API on');
    expect(await info(a1)).toBe(200);
    save(withApi(a2));
    await waitFor(() => reloads() === count + 2, 10_000, 'reload with the API moved');
    expect(await info(a2)).toBe(200);
    expect(await info(a1)).toBe('refused');
    save(withApi(undefined));
    await waitFor(() => reloads() === count + 3, 10_000, 'reload with the API off');
    expect(await info(a2)).toBe('refused');
  });

  it('moves the web listener: new viewers on the new port, the old one closed', async () => {
    const oldWeb = web;
    web = await freePort();
    const count = reloads();
    save(config({ rtmp: rtmp2, keep: '', paths: ['  added:'] }));
    await waitFor(() => reloads() === count + 1, 10_000, 'reload with the web listener moved');
    expect((await fetch(`http://127.0.0.1:${web}/_api/paths`)).status).toBe(200);
    const viewer = new NalClient(`ws://127.0.0.1:${web}/keep/ws/nal`);
    await viewer.until(() => viewer.video.length >= 3, 15_000, 'frames through the moved listener');
    viewer.close();
    await expect(fetch(`http://127.0.0.1:${oldWeb}/_api/paths`)).rejects.toThrow();
  });
});
