/**
 * What a transport whose clients hold one session of many streams
 * (WebTransport, QMux) does around each path it reads for them: the read
 * authorization, and joining and leaving the path with a reader of its own.
 * HTTP and WebSocket transports do this per request instead.
 */
import type { Logger } from 'pino';
import { redactQuery } from './auth/credentials.js';
import type { ConnectionLease } from './limits.js';
import type { SessionRequestInfo } from './protocols/webtransport/session.js';
import { PathError, type Path } from './stream/path.js';
import type { Reader } from './stream/reader.js';
import type { TransportContext } from './transport.js';

/** Asks `authorizeRead` about the session's client; the refusal reason, or undefined when it may read. Throws when the check itself failed. */
export async function authorizeSessionRead(ctx: TransportContext, request: SessionRequestInfo, path: string, transport: string): Promise<string | undefined> {
  if (ctx.authorizeRead === undefined) return undefined;
  return ctx.authorizeRead({
    path,
    transport,
    query: new URL(request.path, 'https://x').searchParams,
    headers: request.headers,
    remoteAddress: request.remoteAddress,
    ip: request.remoteAddress,
  });
}

export type JoinRefusal = { refused: 'not-found' | 'too-many-readers' | 'too-many-paths'; message: string };

/** What a session reads one path through: a reader of its own, and what hangs on it. */
export interface PathReading {
  readonly id: string;
  readonly path: Path;
  readonly reader: Reader;
  /** Stops what the session sends for this path (the reader is removed after). */
  close(): void;
}

export interface SessionPathsOptions<T extends PathReading> {
  readonly ctx: TransportContext;
  readonly request: SessionRequestInfo;
  readonly log: Logger;
  /** For logs: the session's id and its client's address. */
  readonly session: string;
  readonly remoteAddress: string;
  /** Paths one session may read at once. */
  readonly max: number;
  readonly make: (path: Path) => T;
  /** How the core ends the session (API kick, path removed). */
  readonly kick: NonNullable<Reader['kick']>;
}

/**
 * The paths one session reads, one reader each however many of a path's
 * tracks it takes, so a viewer counts once against `maxReaders`.
 */
export class SessionPaths<T extends PathReading> {
  private readonly joined = new Map<string, T>();

  constructor(private readonly o: SessionPathsOptions<T>) {}

  get(name: string): T | undefined {
    return this.joined.get(name);
  }

  /** The reading of `name`, joining the path first if the session does not read it yet; on refusal nothing is left held. */
  join(name: string): T | JoinRefusal {
    const existing = this.joined.get(name);
    if (existing !== undefined) return existing;
    if (this.joined.size >= this.o.max) return { refused: 'too-many-paths', message: `a session reads at most ${this.o.max} paths` };
    const { ctx, request } = this.o;
    const acquired = ctx.paths.acquire(name);
    if (!('name' in acquired)) return { refused: 'not-found', message: acquired.error };
    const reading = this.o.make(acquired);
    reading.reader.query = redactQuery(new URL(request.path, 'https://x').search.slice(1));
    reading.reader.kick = this.o.kick;
    try {
      acquired.addReader(reading.reader);
    } catch (err) {
      ctx.paths.release(acquired);
      const tooMany = err instanceof PathError && err.code === 'too-many-readers';
      return { refused: tooMany ? 'too-many-readers' : 'not-found', message: (err as Error).message };
    }
    this.joined.set(name, reading);
    this.o.log.info({ path: name, remoteAddress: this.o.remoteAddress, id: reading.id, session: this.o.session }, 'viewer connected');
    return reading;
  }

  leave(reading: T, reason: string): void {
    const name = reading.path.name;
    if (this.joined.get(name) !== reading) return;
    this.joined.delete(name);
    reading.close();
    reading.path.removeReader(reading.reader, reason);
    this.o.ctx.paths.release(reading.path);
    this.o.log.info({ path: name, remoteAddress: this.o.remoteAddress, id: reading.id, session: this.o.session, reason }, 'viewer disconnected');
  }

  leaveAll(reason: string): void {
    for (const reading of [...this.joined.values()]) this.leave(reading, reason);
  }
}

/** A `maxConnections` slot for a new session, or undefined after closing it with `code` and logging why. */
export function reserveSession(
  ctx: TransportContext,
  request: SessionRequestInfo,
  log: Logger,
  close: (code: number, reason: string) => void,
  code: number,
): { lease: ConnectionLease | undefined } | undefined {
  const lease = ctx.connections?.reserve(`${request.remoteAddress}:${request.remotePort}`);
  if (lease === undefined || !('refused' in lease)) return { lease };
  log.warn({ remoteAddress: request.remoteAddress, reason: lease.refused }, 'session refused');
  close(code, lease.refused);
  return undefined;
}
