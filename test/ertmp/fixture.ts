/**
 * What every enhanced-RTMP test file sets up: a server, a temporary
 * directory for the encoded clips, and the RTMP clients to close at the end.
 */
import { afterAll, beforeAll } from 'vitest';
import { makeTempDir } from '../codec/helpers.js';
import { startServer, type TestServer } from '../helpers/server.js';
import type { TestRtmpClient } from '../rtmp/client.js';

/** The fields of `ffprobe -show_streams` these tests read. */
export interface ProbedStream {
  codec_type: string;
  codec_name: string;
  codec_tag_string: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  channels?: number;
  sample_rate?: string;
  nb_read_frames?: string;
}

export interface ErtmpFixture {
  readonly srv: TestServer;
  readonly dir: string;
  /** Closed when the file's tests end. */
  keep(client: TestRtmpClient): void;
}

/** Starts the server (with `yaml`) before the file's tests and stops it after. */
export function useErtmpServer(yaml?: string, options: { webTransport?: boolean } = {}): ErtmpFixture {
  let srv: TestServer | undefined;
  let dir: string | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  const clients: TestRtmpClient[] = [];
  beforeAll(async () => {
    srv = await startServer(yaml, options);
    ({ dir, cleanup } = await makeTempDir());
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await srv?.stop();
    await cleanup?.();
  });
  return {
    get srv() {
      return srv!;
    },
    get dir() {
      return dir!;
    },
    keep: (client) => void clients.push(client),
  };
}

export async function until(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
