#!/usr/bin/env node
import { ConfigError } from './config/errors.js';
import { loadConfig } from './config/load.js';
import { createLogger } from './log.js';
import { Polycast } from './server.js';

/** `polycast [config.yml]`, like `mediamtx [conf]`. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h') || args.length > 1) {
    process.stdout.write('usage: polycast [path/to/mediamtx.yml]\n');
    process.exit(args.length > 1 ? 2 : 0);
  }
  const file = args[0] ?? 'mediamtx.yml';
  let config;
  try {
    config = loadConfig(file);
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : `cannot load ${file}: ${(err as Error).message}`}\n`);
    process.exit(1);
  }
  const log = createLogger(config.logLevel);
  let server: Polycast;
  try {
    // Construction reads files too (webServerCert/webServerKey): a missing one is a clear fatal line, not a stack.
    server = new Polycast(config, log);
    await server.start();
  } catch (err) {
    log.fatal((err as Error).message);
    // Let pino flush before leaving.
    setTimeout(() => process.exit(1), 100);
    return;
  }
  // Edits to the file apply without a restart; a broken edit is logged and ignored.
  server.watchConfigFile(file);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      // A second signal: the operator does not want to wait for the graceful path.
      log.warn({ signal }, 'second signal, exiting now');
      setTimeout(() => process.exit(1), 50);
      return;
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.stop('server shutting down').then(
      () => process.exit(0),
      (err: Error) => {
        log.error({ err: err.message }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

void main();
