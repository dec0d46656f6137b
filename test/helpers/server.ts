import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { Polycast } from '../../src/server.js';
import { freePort } from './ports.js';

export interface TestServer {
  server: Polycast;
  rtmpPort: number;
  webPort: number;
  rtmpUrl(path: string): string;
  wsUrl(path: string, suffix?: string): string;
  httpUrl(path: string): string;
  /** `https://127.0.0.1:<port>` for WebTransport (UDP on the web port), when enabled. */
  wtUrl(path: string): string;
  /** Every log line the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * Starts a real Polycast in this process on free loopback ports. `yaml` is
 * appended to a config that sets the addresses; it usually holds `paths:`.
 */
export async function startServer(
  yaml = 'paths:\n  all_others:\n',
  /** Ports: free ones unless given (a test that restarts a server on the same ports gives them). */
  options: { webTransport?: boolean; webHost?: string; rtmpPort?: number; webPort?: number } = {},
): Promise<TestServer> {
  const rtmpPort = options.rtmpPort ?? (await freePort());
  const webPort = options.webPort ?? (await freePort());
  const text = `logLevel: debug\nrtmpAddress: 127.0.0.1:${rtmpPort}\nwebAddress: ${options.webHost ?? '127.0.0.1'}:${webPort}\nwebTransport: ${options.webTransport ? 'yes' : 'no'}\n${yaml}`;
  const config = parseConfig(text, 'test.yml', {});
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger('debug', { pretty: false, destination: sink });
  const server = new Polycast(config, log);
  await server.start();
  return {
    server,
    rtmpPort,
    webPort,
    logs,
    rtmpUrl: (path) => `rtmp://127.0.0.1:${rtmpPort}/${path}`,
    wsUrl: (path, suffix = 'ws/nal') => `ws://127.0.0.1:${webPort}/${path}/${suffix}`,
    httpUrl: (path) => `http://127.0.0.1:${webPort}${path}`,
    wtUrl: (path) => `https://127.0.0.1:${webPort}${path}`,
    stop: () => server.stop(),
  };
}
