import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { WebTransportSession } from './protocols/webtransport/session.js';
import { credentialsOf, hasCredentials } from './auth/credentials.js';
import type { Connections } from './limits.js';
import type { PathManager } from './stream/path-manager.js';

/** What a transport knows of a client asking for a path. */
export interface AuthorizationRequest {
  path: string;
  transport: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  remoteAddress: string;
  /** The bare client IP when known (`remoteAddress` may carry a port, which is ambiguous for IPv6). */
  ip?: string;
}

/**
 * What the core offers an output transport. A transport reads paths through
 * `Reader`s and nothing else: it never sees the ingest.
 */
export interface TransportContext {
  readonly paths: PathManager;
  readonly log: Logger;
  /** Frames a reader may have queued before it starts losing GOPs. */
  readonly writeQueueSize: number;
  /** A client that sends nothing (not even a pong) for this long is closed (ms). */
  readonly readTimeoutMs: number;
  /** A client whose socket has made no progress on unsent data for this long is closed (ms). */
  readonly writeTimeoutMs?: number;
  readonly serverName: string;
  /** Decides whether a client may read a path; returns a refusal reason or undefined. */
  authorizeRead?(request: AuthorizationRequest): string | undefined | Promise<string | undefined>;
  /** The same for the publisher's side of a path (e.g. the ws-nal input socket, which receives viewers' input). */
  authorizePublish?(request: AuthorizationRequest): string | undefined | Promise<string | undefined>;
  /** `maxConnections` and runOnConnect: reserve a slot before serving a new client, release it when it leaves. */
  readonly connections?: Connections;
}

/** A client session as the control API lists it (MediaMTX's `*sessions/list` items). */
export interface SessionInfo {
  readonly id: string;
  readonly created: Date;
  readonly remoteAddr: string;
  readonly state: 'read' | 'publish' | 'idle';
  readonly path: string;
  /** Query string without `?`, secrets redacted. */
  readonly query: string;
  readonly inboundBytes: number;
  readonly outboundBytes: number;
  readonly outboundFramesDiscarded: number;
  /** Transport-specific fields, e.g. the ws-fmp4 variant. */
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}

/** An HTTP upgrade handled by a transport, e.g. `ws/nal` in `/<path>/ws/nal`. */
export interface UpgradeRoute {
  /** Path suffix after the stream path, without a leading slash; with `exact`, the whole URL path (`moq` for `/moq`). */
  readonly suffix: string;
  /** The route is one fixed URL, not a suffix of stream paths; `pathName` is then ''. */
  readonly exact?: boolean;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pathName: string): void;
}

/**
 * A plain HTTP GET handled by a transport, e.g. `snapshot.jpg` in `/<path>/snapshot.jpg`.
 * A RegExp suffix matches the URL's last segment in full (anchor it, no `g` flag): for
 * names chosen at run time, such as HLS parts; that segment is handed over as `file`.
 */
export interface HttpRoute {
  readonly suffix: string | RegExp;
  handle(req: FastifyRequest, reply: FastifyReply, pathName: string, file: string): Promise<FastifyReply> | FastifyReply;
}

/**
 * A WebTransport endpoint: `exact` matches one URL path (`/moq`), `suffix`
 * matches `/<path>/<suffix>` (`wt/fmp4`) and hands over the stream path.
 * `path` matches `/<path>` itself, and only when `selectProtocol` picks one
 * of the client's subprotocols (moq-transport's `moqt-NN`, as MediaMTX's
 * clients connect): it is tried after every `exact` and `suffix` route, and
 * `path` is then unused.
 */
export interface WebTransportRoute {
  readonly kind: 'exact' | 'suffix' | 'path';
  readonly path: string;
  /**
   * Picks one of the subprotocols the client offered (`wt-available-protocols`);
   * the listener answers it as `wt-protocol` and hands it to `handleSession`.
   * Undefined (or no hook) selects none.
   */
  selectProtocol?(offered: readonly string[]): string | undefined;
  handleSession(session: WebTransportSession, pathName: string | undefined, protocol?: string): void;
}

export interface Transport {
  readonly name: string;
  readonly upgrades: readonly UpgradeRoute[];
  readonly httpRoutes?: readonly HttpRoute[];
  readonly webTransportRoutes?: readonly WebTransportRoute[];
  /** Current sessions, for `/v3/<name>sessions/list` (the name without dashes: `ws-nal` → `wsnalsessions`). */
  apiSessions?(): SessionInfo[];
  /** Ends one session (`/v3/<name>sessions/kick/<id>`); false when there is no such id. */
  kickSession?(id: string, reason: string): boolean;
  /** Shutdown: resolves once its clients' sockets have sent what they were given (or after `timeoutMs`). */
  flushed?(timeoutMs: number): Promise<void>;
  /** WebTransport groups reset because a viewer could not keep up, over the transport's life (metrics). */
  readonly groupsDropped?: number;
  close(reason: string): Promise<void> | void;
}

export function remoteAddressOf(req: IncomingMessage): string {
  const s = req.socket;
  return `${s.remoteAddress ?? '?'}:${s.remotePort ?? 0}`;
}

/** What `authorizeRead` is asked about a plain HTTP request for a path. */
export function httpAuthorizationRequest(req: FastifyRequest, path: string, transport: string, query: URLSearchParams): AuthorizationRequest {
  return { path, transport, query, headers: req.headers, remoteAddress: remoteAddressOf(req.raw), ip: req.socket.remoteAddress };
}

/**
 * Asks `authorizeRead` about a plain HTTP request and answers a refusal: 401 with a challenge when the client
 * presented no credentials (a browser then asks for them), 403 when it presented wrong ones. Returns the reply sent,
 * or undefined when the client may read. Comes before anything that tells whether the path exists.
 */
export async function refuseHttpRead(ctx: TransportContext, req: FastifyRequest, reply: FastifyReply, path: string, transport: string): Promise<FastifyReply | undefined> {
  if (ctx.authorizeRead === undefined) return undefined;
  const query = new URL(req.url, 'http://x').searchParams;
  let denied: string | undefined;
  try {
    denied = await ctx.authorizeRead(httpAuthorizationRequest(req, path, transport, query));
  } catch (err) {
    denied = `authorization failed: ${(err as Error).message}`;
  }
  if (denied === undefined) return undefined;
  reply.header('Cache-Control', 'no-store').type('text/plain');
  if (hasCredentials(credentialsOf(req.headers, query))) return reply.code(403).send(`${denied}\n`);
  return reply.code(401).header('WWW-Authenticate', 'Basic realm="polycast"').send(`${denied}\n`);
}
