import pino, { type Logger } from 'pino';
import type { LogLevel } from './config/schema.js';

/**
 * One logger for the whole server: human-readable on a terminal, JSON lines
 * otherwise (for log shippers and tests).
 */
export function createLogger(level: LogLevel, options: { pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  if (pretty && options.destination === undefined) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, options.destination ?? process.stdout);
}
