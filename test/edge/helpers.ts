/** What the edge tests ask of viewers, of a server's control API, and of an RTMP origin (node-media-server). */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { canConnect } from '../../bench/servers.js';
import { FlvDemuxer } from '../../src/codec/flv.js';
import { packageRoot } from '../../src/package-root.js';
import type { MediaMessage, NalClient, TextMessage } from '../helpers/nal-client.js';
import { waitFor } from '../helpers/ops.js';

export const isKeyframe = (m: MediaMessage): boolean => m.type === 0x01 && (m.flags & 0x01) !== 0;

/** Keyframes a viewer received after its `index`-th event. */
export function keyframesAfter(client: NalClient, index = 0): MediaMessage[] {
  return client.events.slice(index).flatMap((e) => (e.kind === 'media' && isKeyframe(e.msg) ? [e.msg] : []));
}

/** Index of the last text message of `type` a viewer received, -1 for none. */
export function lastIndexOf(client: NalClient, type: string): number {
  for (let i = client.events.length - 1; i >= 0; i--) {
    const e = client.events[i]!;
    if (e.kind === 'text' && (e.msg as TextMessage).type === type) return i;
  }
  return -1;
}

/** Every viewer was told `offline` after its `marks[i]`-th event: the origin's stream is gone, the viewer still there. */
export async function allOffline(viewers: readonly NalClient[], marks: readonly number[], timeoutMs: number): Promise<void> {
  await Promise.all(viewers.map((c, i) => c.until(() => lastIndexOf(c, 'offline') >= marks[i]!, timeoutMs, 'offline')));
}

/**
 * Waits until every viewer got a new `init` after its `marks[i]`-th event and
 * a keyframe after it; returns, per viewer, that keyframe's arrival minus `since`.
 */
export async function resumedAfter(viewers: readonly NalClient[], marks: readonly number[], since: number, timeoutMs: number): Promise<number[]> {
  return Promise.all(
    viewers.map(async (c, i) => {
      let first: number | undefined;
      await c.until(() => {
        const init = lastIndexOf(c, 'init');
        first = init > marks[i]! ? keyframesAfter(c, init)[0]?.arrivedAt : undefined;
        return first !== undefined;
      }, timeoutMs, 'a keyframe of a new stream');
      return first! - since;
    }),
  );
}

/**
 * A viewer on a sourceOnDemand path: the origin serves one more pull while
 * it reads, none more once it left; returns how long after it left the pull stopped.
 */
export async function onDemandPull(viewer: NalClient, pulls: () => number | Promise<number>): Promise<number> {
  const before = await pulls();
  await viewer.until(() => keyframesAfter(viewer).length >= 1, 15_000, 'a keyframe on demand');
  expect(await pulls()).toBe(before + 1);
  viewer.close();
  const leftAt = Date.now();
  await waitFor(async () => (await pulls()) === before, 5000, 'the on-demand pull to stop');
  return Date.now() - leftAt;
}

export interface ApiPath {
  name: string;
  ready: boolean;
  source: { type: string; id: string } | null;
  readers: Array<{ type: string; id: string }>;
}

/** `/v3/paths/get/<name>` of a server's API; undefined while the path does not exist. */
export async function apiPath(apiBase: string, name: string): Promise<ApiPath | undefined> {
  const res = await fetch(`${apiBase}/v3/paths/get/${name}`);
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`${apiBase}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as ApiPath;
}

/** Node-Media-Server as bench/nms-peer.ts runs it (built: `npm run build`), on the ports given so it can come back on them. */
export interface NmsPeer {
  readonly rtmpPort: number;
  readonly httpPort: number;
  /** SIGKILL: the origin dies as a crashed server does, without goodbyes. */
  kill(): Promise<void>;
}

export async function startNms(rtmpPort: number, httpPort: number): Promise<NmsPeer> {
  const scratch = mkdtempSync(join(tmpdir(), 'polycast-edge-nms-'));
  const child = spawn(process.execPath, [join(packageRoot(), 'dist/bench/nms-peer.js'), String(rtmpPort), String(httpPort)], { cwd: scratch, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    await waitFor(() => child.exitCode === null && canConnect(rtmpPort), 15_000, 'node-media-server to listen');
  } catch (err) {
    await kill();
    throw new Error(`${(err as Error).message}: ${stderr.trim()}`);
  }
  return { rtmpPort, httpPort, kill };
}

/** A TCP relay in front of a server that counts the connections through it: how many pulls an origin serves. */
export interface CountingRelay {
  readonly port: number;
  /** Connections open now (client and upstream both alive). */
  readonly open: number;
  close(): Promise<void>;
}

export async function startCountingRelay(targetPort: number): Promise<CountingRelay> {
  const pairs = new Set<net.Socket>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        pairs.delete(client);
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.once('connect', () => pairs.add(client));
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get open() {
      return pairs.size;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Keyframe timestamps (ms) of a server's HTTP-FLV output as they arrive:
 * what that server itself says the stream's timestamps are.
 */
export function flvKeyframeTimes(url: string): { times: number[]; stop(): void } {
  const times: number[] = [];
  const abort = new AbortController();
  const demuxer = new FlvDemuxer((_tag, parsed) => {
    if (parsed.type === 'video' && parsed.key) times.push(parsed.timestamp);
  });
  void (async () => {
    try {
      const res = await fetch(url, { signal: abort.signal });
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) demuxer.push(chunk);
    } catch {
      // Aborted by stop(), or the server went away: the times so far stand.
    }
  })();
  return { times, stop: () => abort.abort() };
}

/** Frames of the edge that the origin's viewer also got (by timestamp): the same bytes and keyframe flags. */
export function expectSameFrames(direct: NalClient, viaEdge: NalClient, kind: 'video' | 'audio', atLeast: number): void {
  const byPts = new Map<number, MediaMessage>(direct[kind].map((m) => [m.pts, m]));
  const common = viaEdge[kind].filter((m) => byPts.has(m.pts));
  expect(common.length, `${kind} frames seen on both`).toBeGreaterThan(atLeast);
  for (const m of common) {
    const o = byPts.get(m.pts)!;
    expect(m.flags & 0x01, `${kind} keyframe flag at ${m.pts} µs`).toBe(o.flags & 0x01);
    expect(m.payload.equals(o.payload), `${kind} frame at ${m.pts} µs`).toBe(true);
  }
}
