/**
 * What the Node-side moq tests share: a Polycast with a live path fed by
 * ffmpeg, and a console quiet about what @moq/net narrates.
 */
import * as Net from '@moq/net';
import { afterAll, beforeAll, expect } from 'vitest';
import type { MoqTransport } from '../../transports/moq/server.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import './node-runtime.js';
import { nalTypes } from './raw-client.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export interface LiveServer {
  readonly srv: TestServer;
  readonly moq: MoqTransport;
  stop(): Promise<void>;
}

/**
 * A server with WebTransport (and so /moq) whose path `live` is published
 * with half-second GOPs, which keep group boundaries frequent. @moq/net
 * narrates every announce and subscription at debug level, says "connected
 * via WebSocket" as a warning and reports our own close() of a connection
 * as fatal: all three are kept out of the test output until `stop()`.
 */
export async function startLiveServer(yaml: string, live: string, webTransport = true): Promise<LiveServer> {
  const { debug, warn, error } = console;
  const noise = (args: unknown[]): boolean =>
    args.some((a) => typeof a === 'string' && (a.startsWith('fatal error running connection') || a.includes('connected via WebSocket')));
  console.debug = () => {};
  console.warn = (...args: unknown[]) => void (noise(args) || warn(...args));
  console.error = (...args: unknown[]) => void (noise(args) || error(...args));
  const srv = await startServer(yaml, { webTransport });
  let pub: Publisher | undefined;
  const stop = async (): Promise<void> => {
    await pub?.stop();
    await srv.stop();
    Object.assign(console, { debug, warn, error });
  };
  try {
    pub = publish(srv.rtmpUrl(live), { gop: 15 });
    await until(() => srv.server.paths.get(live)?.stream?.ready === true, `${live} to go live`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { srv, moq: srv.server.transports.find((t) => t.name === 'moq') as MoqTransport, stop };
}

/** `startLiveServer` for the whole test file: started before its tests, stopped after them. */
export function liveServerFixture(yaml: string, live: string): { readonly srv: TestServer; readonly moq: MoqTransport } {
  let current: LiveServer | undefined;
  beforeAll(async () => {
    current = await startLiveServer(yaml, live);
  });
  afterAll(() => current?.stop());
  const started = (): LiveServer => {
    if (current === undefined) throw new Error('the live server is not started yet');
    return current;
  };
  return {
    get srv() {
      return started().srv;
    },
    get moq() {
      return started().moq;
    },
  };
}

export interface ReadFrame {
  /** The hang container's timestamp, µs. */
  readonly ts: number;
  /** The moq-lite frame timestamp in µs (lite-05; on older versions @moq/net stamps arrival time). */
  readonly wireTs: number;
  readonly data: Uint8Array;
}

type NetFrame = { payload: Uint8Array; timestamp: { value: number; scale: number } };

/** Reads `n` groups of a track with @moq/net, frame payloads decoded from the legacy container. */
export async function readGroups(track: Net.Track.Subscriber, n: number): Promise<Array<{ sequence: number; frames: ReadFrame[] }>> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const group = await track.nextGroup();
    if (group === undefined) throw new Error('track ended');
    const frames = [];
    for (;;) {
      const frame = (await group.readFrame()) as NetFrame | undefined;
      if (frame === undefined) break;
      const [ts, data] = Net.Varint.decode(frame.payload);
      frames.push({ ts, wireTs: (frame.timestamp.value * 1_000_000) / frame.timestamp.scale, data });
    }
    out.push({ sequence: group.sequence, frames });
  }
  return out;
}

/** The connection plays `path`: its next video group opens with an IDR. Closes the connection. */
export async function expectVideoThenClose(conn: Net.Connection.Established, path: string): Promise<void> {
  try {
    const broadcast = conn.consume(Net.Path.from(path));
    const [group] = await readGroups(broadcast.track('video').subscribe({ priority: 60 }), 1);
    expect(nalTypes(group!.frames[0]!.data)).toContain(5);
    broadcast.close();
  } finally {
    conn.close();
  }
}
