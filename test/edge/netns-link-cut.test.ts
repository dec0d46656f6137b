/**
 * An origin and an edge on two hosts: each Polycast (the built CLI) runs in
 * a network namespace of its own, `pc-origin…` with ffmpeg publishing to it
 * and `pc-edge…` pulling from it over ws-nal, joined by a veth pair
 * (10.77.0.1 ↔ 10.77.0.2). Viewers and the API checks reach them from here
 * over each namespace's own link, so cutting the origin–edge link leaves
 * them untouched. The link goes down for 5 s: the edge's viewers must keep
 * their WebSockets and get keyframes again, and the origin must serve the
 * edge as the same single reader throughout. Needs root and the build.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package-root.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { createNamespace, netnsUnavailable, type Namespace } from '../helpers/netns.js';
import { sleep, waitFor } from '../helpers/ops.js';
import { terminate } from '../helpers/process.js';
import { keyframesAfter } from './helpers.js';

const PATH = 'live/x';
const VIEWERS = 20;
const CUT_MS = 5000;
const ORIGIN_LINK = '10.77.0.1';
const EDGE_LINK = '10.77.0.2';
const WEB_PORT = 4443;
const API_PORT = 9997;

// Each namespace also has a link to this one, on a /24 picked from the pid so parallel runs do not share one.
const pid = process.pid;
const linkIndex = 1 + (pid % 49) * 2;
const linkNet = 100 + (Math.floor(pid / 49) % 100);
const veth = { origin: `vo${pid % 100_000}`, edge: `ve${pid % 100_000}` };

const scratch = mkdtempSync(join(tmpdir(), 'polycast-edge-netns-'));
let originNs: Namespace | undefined;
let edgeNs: Namespace | undefined;
const children: Array<{ name: string; child: ChildProcess; output: () => string }> = [];
let pub: Publisher | undefined;
const clients: NalClient[] = [];

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim() || r.error?.message}`);
}

const CONFIG = [
  'logLevel: info',
  'webTransport: no',
  `webAddress: :${WEB_PORT}`,
  'api: yes',
  `apiAddress: :${API_PORT}`,
  // The API is asked from the other end of the namespace's link, not from this machine's loopback.
  'authInternalUsers:',
  '  - user: any',
  '    permissions: [{ action: publish }, { action: read }, { action: api }]',
];

function startPolycast(ns: Namespace, name: string, lines: string[]): void {
  const file = join(scratch, `${name}.yml`);
  writeFileSync(file, `${[...CONFIG, ...lines].join('\n')}\n`);
  const child = ns.spawn(process.execPath, [join(packageRoot(), 'dist/src/main.js'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  children.push({ name, child, output: () => output });
}

async function apiReaders(ns: Namespace): Promise<string[] | undefined> {
  const res = await fetch(`http://${ns.address}:${API_PORT}/v3/paths/get/${PATH}`, { signal: AbortSignal.timeout(1000) });
  if (!res.ok) return undefined;
  return ((await res.json()) as { readers: Array<{ id: string }> }).readers.map((r) => r.id);
}

beforeAll(async () => {
  const why = netnsUnavailable();
  if (why) throw new Error(why);
  originNs = createNamespace('origin', linkIndex, linkNet);
  edgeNs = createNamespace('edge', linkIndex + 1, linkNet);
  spawnSync('ip', ['link', 'del', veth.origin]);
  ip('link', 'add', veth.origin, 'type', 'veth', 'peer', 'name', veth.edge);
  ip('link', 'set', veth.origin, 'netns', originNs.name);
  ip('link', 'set', veth.edge, 'netns', edgeNs.name);
  ip('-n', originNs.name, 'addr', 'add', `${ORIGIN_LINK}/24`, 'dev', veth.origin);
  ip('-n', edgeNs.name, 'addr', 'add', `${EDGE_LINK}/24`, 'dev', veth.edge);
  ip('-n', originNs.name, 'link', 'set', veth.origin, 'up');
  ip('-n', edgeNs.name, 'link', 'set', veth.edge, 'up');

  startPolycast(originNs, 'origin', ['rtmpAddress: 127.0.0.1:1935', 'paths:', '  all_others:']);
  startPolycast(edgeNs, 'edge', ['rtmp: no', 'paths:', `  ${PATH}:`, `    source: ws://${ORIGIN_LINK}:${WEB_PORT}/${PATH}/ws/nal`]);
  const origin = originNs;
  await waitFor(async () => (await apiReaders(origin).catch(() => undefined)) !== undefined, 15_000, 'the origin to answer');
  pub = publish(`rtmp://127.0.0.1:1935/${PATH}`, { size: '320x180', rate: 25, gop: 25, spawn: origin.spawn });
}, 40_000);

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await pub?.stop().catch(() => undefined);
  await Promise.all(children.map(({ child }) => terminate(child, { graceMs: 3000 }).catch(() => undefined)));
  // Taking the namespaces away takes the veth pairs inside them too.
  originNs?.remove();
  edgeNs?.remove();
  rmSync(scratch, { recursive: true, force: true });
}, 20_000);

describe('origin and edge in their own network namespaces', () => {
  it(`the edge's ${VIEWERS} viewers ride out a ${CUT_MS / 1000} s cut of the origin–edge link; the origin serves one reader throughout`, async () => {
    const edge = edgeNs!;
    const origin = originNs!;
    try {
      const url = `ws://${edge.address}:${WEB_PORT}/${PATH}/ws/nal`;
      for (let i = 0; i < VIEWERS; i++) clients.push(new NalClient(url));
      await Promise.all(clients.map((c) => c.until(() => keyframesAfter(c).length >= 2, 20_000, 'keyframes through the edge')));

      // The origin's readers of the path, sampled through the whole cut.
      const samples: Array<{ at: number; readers: string[] | undefined; error?: string }> = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const at = Date.now();
          samples.push(await apiReaders(origin).then((readers) => ({ at, readers }), (err: Error) => ({ at, readers: undefined, error: err.message })));
          await sleep(200);
        }
      })();

      await sleep(1000);
      const marks = clients.map((c) => c.events.length);
      const cutAt = Date.now();
      ip('-n', origin.name, 'link', 'set', veth.origin, 'down');
      await sleep(CUT_MS);
      ip('-n', origin.name, 'link', 'set', veth.origin, 'up');
      const upAt = Date.now();
      const resumed = await Promise.all(
        clients.map(async (c) => {
          let first: number | undefined;
          await c.until(() => (first = keyframesAfter(c).find((m) => m.arrivedAt > upAt)?.arrivedAt) !== undefined, 15_000, 'a keyframe after the link came back');
          return first! - upAt;
        }),
      );
      await sleep(1000);
      sampling = false;
      await sampler;

      const duringCut = clients.map((c) => keyframesAfter(c).filter((m) => m.arrivedAt > cutAt + 1000 && m.arrivedAt < upAt).length);
      const readerSets = new Set(samples.map((s) => JSON.stringify(s.readers ?? s.error)));
      console.log(
        `netns: link down ${upAt - cutAt} ms; keyframes resumed ${Math.min(...resumed)}–${Math.max(...resumed)} ms after it came back ` +
          `(${VIEWERS} viewers); keyframes during the cut: ${Math.max(...duringCut)}; origin readers over ${samples.length} API samples: ${[...readerSets].join(' | ')}`,
      );
      // The cut was real: nothing came through while the link was down.
      expect(Math.max(...duringCut)).toBe(0);
      clients.forEach((c, i) => {
        expect(c.closeInfo).toBeUndefined();
        // The edge never lost its source, so its viewers were never told the stream was gone.
        expect(c.events.slice(marks[i]).filter((e) => e.kind === 'text' && e.msg.type === 'offline')).toEqual([]);
      });
      expect(samples.length).toBeGreaterThan(20);
      expect(samples.every((s) => s.readers?.length === 1)).toBe(true);
      expect(readerSets.size).toBe(1);
    } catch (err) {
      for (const { name, output } of children) console.log(`--- ${name} output ---\n${output().slice(-4000)}`);
      console.log(`--- ffmpeg ---\n${pub?.stderr()}`);
      throw err;
    }
  }, 60_000);
});
