import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { Polycast } from '../../src/server.js';

/** A Polycast started from a configuration file it watches, as `polycast file.yml` runs. */
export async function startFromFile(file: string, text: string): Promise<{ server: Polycast; logs: Array<Record<string, unknown>> }> {
  writeFileSync(file, text);
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const server = new Polycast(loadConfig(file, {}), createLogger('debug', { pretty: false, destination: sink }));
  await server.start();
  server.watchConfigFile(file, {});
  return { server, logs };
}
