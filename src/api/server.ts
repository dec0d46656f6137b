import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { matchPath } from '../config/paths.js';
import { DEPRECATED_PATH_SETTINGS, type PathConf, type ResolvedConfig } from '../config/schema.js';
import { apiTypeOf, sourceOf } from '../hooks.js';
import type { RtmpConnInfo } from '../ingest/rtmp/rtmp-server.js';
import type { Path } from '../stream/path.js';
import type { PathManager } from '../stream/path-manager.js';
import type { TrackInfo } from '../stream/types.js';
import type { SessionInfo, Transport } from '../transport.js';
import { httpAuthorize, type HttpAuthorizer } from './http-auth.js';
import { paginate, PAGE_QUERY, type PageQuery } from './paginate.js';
import * as S from './schemas.js';
import { listenOrExplain } from '../web/listen.js';
import { errorStatus, loggedPath, logServerError, requireResourceTarget, ServerErrorLog } from '../web/http-errors.js';
import { applyReadTimeout, httpServerOptions, limitPendingPerIp } from '../web/http-limits.js';

/** MediaMTX's names for track codecs in `/v3/paths` (its `tracks` field). */
const MEDIAMTX_TRACK_NAMES: Readonly<Record<TrackInfo['codec'], string>> = { h264: 'H264', h265: 'H265', av1: 'AV1', vp9: 'VP9', aac: 'MPEG-4 Audio', opus: 'Opus' };

/** What the API reads and changes. */
export interface ApiSource {
  readonly version: string;
  readonly started: Date;
  readonly paths: PathManager<PathConf>;
  readonly transports: readonly Transport[];
  config(): ResolvedConfig;
  /** The settings the current configuration was resolved from (file form). */
  settings(): Readonly<Record<string, unknown>>;
  /** Validates and applies new settings like a reload; throws ConfigError. */
  applySettings(settings: Record<string, unknown>): Promise<void>;
  /** Undefined when RTMP is off. */
  rtmpConns(): RtmpConnInfo[] | undefined;
  kickRtmp(id: string, reason: string): boolean;
  refreshJwks(): void;
}

const REDACTED = '<redacted>';
const DEPRECATED_KEYS = new Set(DEPRECATED_PATH_SETTINGS.map(([key]) => key));

/** `ws-nal` → `wsnal`, the stem of its `/v3/wsnalsessions/...` routes and `wsnal_sessions` metrics. */
export const routeStem = (transport: string): string => transport.replace(/[^A-Za-z0-9]/g, '').toLowerCase();

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `api: yes`: MediaMTX's control API (v3) on its own listener: server info,
 * paths, connections and sessions (with kick), and the configuration, whose
 * changes are validated like the file and applied like a hot reload.
 */
export class ApiServer {
  private app: FastifyInstance | undefined;

  constructor(
    private readonly source: ApiSource,
    private readonly authorize: HttpAuthorizer,
    private readonly log: Logger,
  ) {}

  /** `readTimeoutMs`: how long a connection may take to deliver a request, or sit idle between requests. */
  async start(host: string, port: number, readTimeoutMs = 10_000): Promise<AddressInfo> {
    const app = this.build();
    applyReadTimeout(app.server, readTimeoutMs);
    limitPendingPerIp(app.server, this.log.child({ module: 'api' }), 'API');
    const address = await listenOrExplain(app, 'API', host, port, 'set apiAddress');
    this.app = app;
    return address;
  }

  /** A reload changed `readTimeout`: applies at once, to connections already waiting too. */
  setReadTimeout(ms: number): void {
    if (this.app !== undefined) applyReadTimeout(this.app.server, ms);
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    await app?.close();
  }

  /** The fastify instance with every route (exposed for `inject` in tests). */
  build(): FastifyInstance {
    const app = Fastify({
      loggerInstance: this.log.child({ module: 'api' }) as unknown as FastifyBaseLogger,
      logController: new ServerErrorLog(),
      routerOptions: { maxParamLength: 1024 },
      bodyLimit: 1024 * 1024,
      http: httpServerOptions(),
    });
    const s = this.source;
    requireResourceTarget(app);
    app.addHook('onRequest', httpAuthorize(this.authorize, 'api'));
    app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
      const status = err instanceof ApiError ? err.status : err instanceof ConfigError ? 400 : errorStatus(err);
      if (status >= 500) logServerError(req, status, err);
      return sendError(reply, status, err.message);
    });
    app.setNotFoundHandler((req, reply) => sendError(reply, 404, `no such route: ${req.method} ${loggedPath(req.url)}`));

    app.get('/v3/info', { schema: { response: S.replies(S.INFO) } }, () => ({ version: s.version, started: s.started.toISOString() }));

    app.post('/v3/auth/jwks/refresh', { schema: { response: S.replies(S.OK) } }, () => {
      s.refreshJwks();
      return { status: 'ok' };
    });

    // Paths.
    app.get<{ Querystring: PageQuery }>('/v3/paths/list', { schema: { querystring: PAGE_QUERY, response: S.replies(S.list(S.PATH)) } }, (req) =>
      paginate(s.paths.list().map((p) => this.describePath(p)), req.query),
    );
    app.get<{ Params: { '*': string } }>('/v3/paths/get/*', { schema: { response: S.replies(S.PATH) } }, (req) => {
      const path = s.paths.get(req.params['*']);
      if (path === undefined) throw new ApiError(404, 'path not found');
      return this.describePath(path);
    });

    // RTMP connections.
    const rtmp = () => {
      const conns = s.rtmpConns();
      if (conns === undefined) throw new ApiError(404, 'RTMP is disabled (rtmp: no)');
      return conns.map((c) => ({ ...c, created: c.created.toISOString() }));
    };
    app.get<{ Querystring: PageQuery }>('/v3/rtmpconns/list', { schema: { querystring: PAGE_QUERY, response: S.replies(S.list(S.RTMP_CONN)) } }, (req) =>
      paginate(rtmp(), req.query),
    );
    app.get<{ Params: { id: string } }>('/v3/rtmpconns/get/:id', { schema: { params: S.ID_PARAMS, response: S.replies(S.RTMP_CONN) } }, (req) => {
      const conn = rtmp().find((c) => c.id === req.params.id);
      if (conn === undefined) throw new ApiError(404, 'connection not found');
      return conn;
    });
    app.post<{ Params: { id: string } }>('/v3/rtmpconns/kick/:id', { schema: { params: S.ID_PARAMS, response: S.replies(S.OK) } }, (req) => {
      rtmp();
      if (!s.kickRtmp(req.params.id, 'kicked through the API')) throw new ApiError(404, 'connection not found');
      return { status: 'ok' };
    });

    // Sessions of every transport that lists them.
    for (const t of s.transports) {
      if (t.apiSessions === undefined) continue;
      const base = `/v3/${routeStem(t.name)}sessions`;
      const list = () => t.apiSessions!().map(sessionJson);
      app.get<{ Querystring: PageQuery }>(`${base}/list`, { schema: { querystring: PAGE_QUERY, response: S.replies(S.list(S.SESSION)) } }, (req) =>
        paginate(list(), req.query),
      );
      app.get<{ Params: { id: string } }>(`${base}/get/:id`, { schema: { params: S.ID_PARAMS, response: S.replies(S.SESSION) } }, (req) => {
        const found = list().find((x) => x.id === req.params.id);
        if (found === undefined) throw new ApiError(404, 'session not found');
        return found;
      });
      app.post<{ Params: { id: string } }>(`${base}/kick/:id`, { schema: { params: S.ID_PARAMS, response: S.replies(S.OK) } }, (req) => {
        if (!(t.kickSession?.(req.params.id, 'kicked through the API') ?? false)) throw new ApiError(404, 'session not found');
        return { status: 'ok' };
      });
    }

    // Configuration.
    app.get('/v3/config/global/get', { schema: { response: S.replies(S.SETTINGS) } }, () => redact(globalPart(s.settings())));
    app.patch<{ Body: Record<string, unknown> }>('/v3/config/global/patch', { schema: { body: S.SETTINGS, response: S.replies(S.OK) } }, async (req) => {
      for (const key of ['pathDefaults', 'paths']) {
        if (key in req.body) throw new ApiError(400, `${key} cannot be patched here; use /v3/config/${key === 'paths' ? 'paths/patch/<name>' : 'pathdefaults/patch'}`);
      }
      await s.applySettings({ ...structuredClone(s.settings()), ...req.body });
      return { status: 'ok' };
    });
    app.get('/v3/config/pathdefaults/get', { schema: { response: S.replies(S.SETTINGS) } }, () => withoutDeprecated(mapping(s.settings()['pathDefaults'])));
    app.patch<{ Body: Record<string, unknown> }>('/v3/config/pathdefaults/patch', { schema: { body: S.SETTINGS, response: S.replies(S.OK) } }, async (req) => {
      const next = structuredClone(s.settings()) as Record<string, unknown>;
      next['pathDefaults'] = { ...mapping(next['pathDefaults']), ...req.body };
      await s.applySettings(next);
      return { status: 'ok' };
    });
    app.get<{ Querystring: PageQuery }>('/v3/config/paths/list', { schema: { querystring: PAGE_QUERY, response: S.replies(S.list(S.SETTINGS)) } }, (req) => {
      const names = Object.keys(mapping(s.settings()['paths'])).sort();
      return paginate(
        names.map((name) => this.pathSettings(name)),
        req.query,
      );
    });
    app.get<{ Params: { '*': string } }>('/v3/config/paths/get/*', { schema: { response: S.replies(S.SETTINGS) } }, (req) => {
      const name = req.params['*'];
      if (!(name in mapping(s.settings()['paths']))) throw new ApiError(404, 'path configuration not found');
      return this.pathSettings(name);
    });
    const changePath = (mode: 'add' | 'patch' | 'replace' | 'delete') => async (name: string, body: Record<string, unknown> | undefined) => {
      if (name === '') throw new ApiError(400, 'invalid name');
      const next = structuredClone(s.settings()) as Record<string, unknown>;
      const paths = { ...mapping(next['paths']) };
      const exists = Object.prototype.hasOwnProperty.call(paths, name);
      if (mode === 'add' && exists) throw new ApiError(400, 'path already exists');
      if ((mode === 'patch' || mode === 'delete') && !exists) throw new ApiError(404, 'path not found');
      if (mode === 'delete') delete paths[name];
      else {
        const value = mode === 'patch' ? { ...mapping(paths[name]), ...body } : { ...body };
        // defineProperty: a path may be named __proto__.
        Object.defineProperty(paths, name, { value, enumerable: true, writable: true, configurable: true });
      }
      next['paths'] = paths;
      await s.applySettings(next);
      return { status: 'ok' };
    };
    const routeOf = (verb: string) => `/v3/config/paths/${verb}/*`;
    type PathReq = { Params: { '*': string }; Body: Record<string, unknown> };
    app.post<PathReq>(routeOf('add'), { schema: { body: S.SETTINGS, response: S.replies(S.OK) } }, (req) => changePath('add')(req.params['*'], req.body));
    app.patch<PathReq>(routeOf('patch'), { schema: { body: S.SETTINGS, response: S.replies(S.OK) } }, (req) => changePath('patch')(req.params['*'], req.body));
    app.post<PathReq>(routeOf('replace'), { schema: { body: S.SETTINGS, response: S.replies(S.OK) } }, (req) =>
      changePath('replace')(req.params['*'], req.body),
    );
    app.delete<{ Params: { '*': string } }>(routeOf('delete'), { schema: { response: S.replies(S.OK) } }, (req) => changePath('delete')(req.params['*'], undefined));
    return app;
  }

  /** A configured path in file form: pathDefaults overlaid with its own settings, as MediaMTX shows it. */
  private pathSettings(name: string): Record<string, unknown> {
    const settings = this.source.settings();
    const own = mapping(mapping(settings['paths'])[name]);
    return { name, ...withoutDeprecated({ ...mapping(settings['pathDefaults']), ...own }) };
  }

  private describePath(path: Path): Record<string, unknown> {
    const stream = path.stream;
    const available = stream?.ready === true;
    const since = available && stream.readyAt !== undefined ? new Date(stream.readyAt).toISOString() : null;
    const desc = available ? stream.description : undefined;
    const tracks = [desc?.video, desc?.audio].flatMap((t) => (t === undefined ? [] : [MEDIAMTX_TRACK_NAMES[t.codec]]));
    let outboundBytes = 0;
    for (const reader of path.readers) outboundBytes += reader.stats.bytesSent;
    return {
      name: path.name,
      confName: matchPath(this.source.config(), path.name)?.entryName ?? '',
      source: sourceOf(path),
      ready: available,
      readyTime: since,
      available,
      availableTime: since,
      online: available,
      onlineTime: since,
      tracks,
      readers: [...path.readers].map((r) => ({ type: apiTypeOf(r.info.protocol), id: r.info.id })),
      inboundBytes: stream?.stats.bytesIn ?? 0,
      outboundBytes,
    };
  }
}

function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ status: 'error', error: message });
}

function sessionJson(x: SessionInfo): Record<string, unknown> {
  return {
    id: x.id,
    created: x.created.toISOString(),
    remoteAddr: x.remoteAddr,
    state: x.state,
    path: x.path,
    query: x.query,
    inboundBytes: x.inboundBytes,
    outboundBytes: x.outboundBytes,
    outboundFramesDiscarded: x.outboundFramesDiscarded,
    ...x.extra,
  };
}

const mapping = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

function globalPart(settings: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { pathDefaults: _d, paths: _p, ...global } = settings;
  return global;
}

function withoutDeprecated(settings: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings).filter(([key]) => !DEPRECATED_KEYS.has(key)));
}

/** Passwords never leave the server, as in MediaMTX. */
function redact(global: Record<string, unknown>): Record<string, unknown> {
  const users = global['authInternalUsers'];
  if (!Array.isArray(users)) return global;
  return {
    ...global,
    authInternalUsers: users.map((u) => {
      const user = mapping(u);
      return typeof user['pass'] === 'string' && user['pass'] !== '' ? { ...user, pass: REDACTED } : user;
    }),
  };
}
