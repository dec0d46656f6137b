/**
 * The peer under test: a stock Node-Media-Server with RTMP in and HTTP/WS-FLV
 * out, run as its own process so its CPU and memory are measured alone.
 * Usage: `node dist/bench/nms-peer.js <rtmpPort> <httpPort>`, with the
 * working directory in a scratch folder (the server writes `./data`).
 */
import { createRequire } from 'node:module';

interface NmsLogger {
  log(message: string, level?: string): void;
}

interface NodeMediaServer {
  run(): Promise<void>;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);
const logger = require('node-media-server/src/core/logger.js') as NmsLogger;
const NodeMediaServerClass = require('node-media-server') as new (config: Record<string, unknown>) => NodeMediaServer;

const [rtmpPort, httpPort] = process.argv.slice(2).map(Number);
if (!Number.isInteger(rtmpPort) || !Number.isInteger(httpPort)) {
  process.stderr.write('usage: nms-peer <rtmpPort> <httpPort>\n');
  process.exit(2);
}

// Its constructor resets the level to debug and it logs every session: a
// thousand readers would be a thousand console lines inside the measurement.
logger.log = (message: string, level = 'info') => {
  if (level === 'error') process.stderr.write(`${message}\n`);
};

const nms = new NodeMediaServerClass({
  bind: '127.0.0.1',
  rtmp: { port: rtmpPort },
  http: { port: httpPort },
  webadmin: { enable: false },
});
await nms.run();

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  const hardStop = setTimeout(() => process.exit(0), 3000);
  hardStop.unref();
  nms.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
