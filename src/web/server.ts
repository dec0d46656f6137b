import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import type { Logger } from 'pino';
import { ipOf } from '../auth/address.js';
import { validatePathName } from '../config/paths.js';
import type { PathManager } from '../stream/path-manager.js';
import type { HttpRoute, UpgradeRoute } from '../transport.js';
import { originAllowed } from './origin.js';
import { pathsListing } from './paths-listing.js';
import { fillPlayerPage, pageTag, type PageHint } from './player-page.js';
import { answerErrors, loggedPath, requireResourceTarget, ServerErrorLog } from './http-errors.js';
import { applyReadTimeout, httpServerOptions, limitPendingPerIp } from './http-limits.js';
import { listenOrExplain } from './listen.js';
import { refuseUpgrade } from './upgrade-refusal.js';
import { tlsAlpnChallengeOptions, type AlpnChallenges } from './tls-alpn-challenge.js';

export interface WebServerOptions {
  host: string;
  port: number;
  allowOrigins: readonly string[];
  /** Folder with index.html, player.html and dist/ (the bundled player). */
  publicDir: string;
  paths: PathManager;
  log: Logger;
  /** `readTimeout`: how long a connection may take to deliver a request, or sit idle between requests. */
  readTimeoutMs: number;
  /** Serve HTTPS (and wss://) with this certificate chain and key (PEM); absent: plain HTTP. */
  tls?: { cert: string; key: string };
  /** ACME TLS-ALPN-01 challenges answered on this port (`webTLS: auto`). */
  alpnChallenges?: AlpnChallenges;
  /** What the player page for a path may tell a client at `ip` before it connects (player-page.ts); undefined: nothing. */
  pageHint?: (path: string, ip: string) => PageHint | undefined;
}

/**
 * The TCP side of `webAddress`: the player page, static files, and the
 * WebSocket upgrades of every transport, all on one fastify server (ws
 * handles upgrades; there is no second HTTP stack).
 */
export class WebServer {
  readonly app: FastifyInstance;
  private readonly upgrades = new Map<string, UpgradeRoute>();
  private readonly httpRoutes = new Map<string, HttpRoute>();
  /** Routes whose last URL segment is a pattern; tried after the fixed suffixes. */
  private readonly patternRoutes: Array<HttpRoute & { suffix: RegExp }> = [];
  private readonly sockets = new Set<Duplex>();
  /** Listeners opened by `relisten`, serving the same routes as `app.server`. */
  private readonly extraServers: Server[] = [];
  private current: Server | undefined;
  private refusing: string | undefined;
  private readonly log: Logger;
  /** The built page (player.html with the player's chunks preloaded) when there is one, else the source page. */
  private readonly playerPage: string;

  constructor(private readonly opts: WebServerOptions) {
    this.playerPage = existsSync(join(opts.publicDir, 'dist/player.html')) ? 'dist/player.html' : 'player.html';
    this.log = opts.log.child({ module: 'web' });
    this.app = Fastify({
      loggerInstance: this.log as unknown as FastifyBaseLogger,
      logController: new ServerErrorLog(),
      // Stream paths may be long and deep; URLs beyond this are refused by fastify itself.
      routerOptions: { maxParamLength: 1024 },
      // HTTPS when TLS is on (fastify makes the server, and any for a second address of a host name, as for HTTP).
      ...(opts.tls === undefined ? { http: httpServerOptions() } : ({ https: this.httpsOptions() } as object)),
    }) as unknown as FastifyInstance;
    requireResourceTarget(this.app);
    answerErrors(this.app);
    this.app.register(fastifyStatic, { root: opts.publicDir, prefix: '/', index: false, wildcard: false, serve: false });
    this.routes();
    this.prepare(this.app.server);
  }

  /** Registers a transport's WebSocket endpoint (`/<path>/<suffix>`). */
  addUpgrade(route: UpgradeRoute): void {
    this.upgrades.set(route.suffix, route);
  }

  /** Registers a transport's HTTP endpoint (`GET /<path>/<suffix>`, or `GET /<path>/<file matching the pattern>`). */
  addHttpRoute(route: HttpRoute): void {
    if (typeof route.suffix === 'string') this.httpRoutes.set(route.suffix, route);
    else this.patternRoutes.push(route as HttpRoute & { suffix: RegExp });
  }

  /** Whether the listener speaks TLS. */
  get secure(): boolean {
    return this.opts.tls !== undefined;
  }

  /**
   * Swaps the certificate (a renewal): new TLS handshakes get it, connections
   * already open (WebSockets included) carry on with theirs.
   */
  setCertificate(cert: string, key: string): void {
    if (this.opts.tls === undefined) return;
    this.opts.tls = { cert, key };
    for (const server of [this.app.server, ...this.extraServers]) (server as HttpsServer).setSecureContext({ cert, key });
  }

  /** A reload changed `webAllowOrigins`: applies to the next upgrade. */
  setAllowOrigins(origins: readonly string[]): void {
    this.opts.allowOrigins = origins;
  }

  /** A reload changed `readTimeout`: applies at once, to connections already waiting too. */
  setReadTimeout(ms: number): void {
    this.opts.readTimeoutMs = ms;
    applyReadTimeout(this.app.server, ms);
    for (const server of this.extraServers) applyReadTimeout(server, ms);
  }

  /** Shutdown: new WebSocket upgrades get 503 with `reason`; current connections carry on. */
  refuseUpgrades(reason: string): void {
    this.refusing = reason;
  }

  /**
   * Moves the listener to a new address (a reload changed webAddress): a new
   * HTTP server with the same routes listens there; the old one stops
   * accepting, and its clients (viewers included) carry on.
   */
  async relisten(host: string, port: number): Promise<AddressInfo> {
    const server = this.createServer((req, res) => this.app.routing(req, res));
    this.prepare(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const where = `${host || '*'}:${port}`;
        reject(new Error(err.code === 'EADDRINUSE' ? `web listener: address ${where} is already in use` : `web listener on ${where}: ${err.message}`));
      });
      server.listen({ host: host || '::', port }, () => resolve());
    });
    const old = this.current ?? this.app.server;
    // Stops accepting; fastify ignores the second close of its own server at shutdown.
    old.close();
    this.opts.host = host;
    this.opts.port = port;
    this.current = server;
    this.extraServers.push(server);
    return server.address() as AddressInfo;
  }

  async start(): Promise<AddressInfo> {
    return listenOrExplain(this.app, 'web', this.opts.host, this.opts.port, 'set webAddress in the config, or stop the other process');
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    for (const server of this.extraServers) {
      server.closeAllConnections();
      server.close();
    }
    await this.app.close();
  }

  /** A listener for `relisten`, like the one fastify made. */
  private createServer(handler: RequestListener): Server {
    const tls = this.opts.tls;
    // An https.Server is an http.Server underneath (same events, timeouts and upgrades).
    return tls === undefined ? createServer(httpServerOptions(), handler) : (createHttpsServer(this.httpsOptions(), handler) as unknown as Server);
  }

  private httpsOptions(): ServerOptions {
    const challenges = this.opts.alpnChallenges;
    return { ...httpServerOptions(), ...this.opts.tls, ...(challenges === undefined ? {} : tlsAlpnChallengeOptions(challenges)) };
  }

  /** What every listener of this server gets: the read timeout, the pending-connection cap, and the upgrades. */
  private prepare(server: Server): void {
    applyReadTimeout(server, this.opts.readTimeoutMs);
    const upgraded = limitPendingPerIp(server, this.log, 'web');
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      upgraded(socket);
      this.onUpgrade(req, socket, head);
    });
  }

  private routes(): void {
    const app = this.app;
    app.get('/', (_req, reply) => reply.header('Cache-Control', 'no-cache').sendFile('index.html', { cacheControl: false }));
    app.get('/_api/paths', (_req, reply) => {
      reply.header('Cache-Control', 'no-store').send(pathsListing(this.opts.paths));
    });
    app.get('/dist/*', (req, reply) => {
      const file = (req.params as { '*': string })['*'];
      // Chunk names carry a hash of their content: a browser may keep them for good. player.js keeps its name: it revalidates.
      const caching = file.startsWith('chunks/') ? 'public, max-age=31536000, immutable' : 'no-cache';
      // cacheControl: false, or @fastify/static replaces the header with its own max-age=0.
      return reply.header('Cache-Control', caching).sendFile(`dist/${file}`, { cacheControl: false });
    });
    app.get('/favicon.ico', (_req, reply) => reply.code(204).send());
    // Everything else is a stream path: `/<path>/` is the player, `/<path>` redirects there.
    app.get('/*', (req, reply) => {
      // Already percent-decoded by the router (which answers 400 to bad encoding); decoding again would let `%2525` become `%`.
      const raw = (req.params as { '*': string })['*'];
      for (const [suffix, route] of this.httpRoutes) {
        if (raw.endsWith(`/${suffix}`) && raw.length > suffix.length + 1) return route.handle(req, reply, raw.slice(0, -suffix.length - 1), suffix);
      }
      const slash = raw.lastIndexOf('/');
      if (slash > 0) {
        const file = raw.slice(slash + 1);
        for (const route of this.patternRoutes) if (route.suffix.test(file)) return route.handle(req, reply, raw.slice(0, slash), file);
      }
      const name = raw.endsWith('/') ? raw.slice(0, -1) : raw;
      // Only a name a publisher could use gets the player or a redirect: that keeps NUL, CR/LF and non-ASCII out of
      // the Location header, and `//host` or `/\host` (which browsers read as another site) out of it too.
      const invalid = validatePathName(name);
      if (invalid !== undefined) {
        return reply.code(404).type('text/plain').send(`not a stream path: ${invalid.slice(0, 200)}\n`);
      }
      if (raw.endsWith('/')) return this.sendPlayerPage(name, req.socket.remoteAddress ?? '', req.headers['if-none-match'], reply);
      return reply.redirect(`/${name}/${safeQuery(req.url)}`, 301);
    });
  }

  /** Read per request: a rebuilt player is served without a restart, and the page is a few KB. */
  private async sendPlayerPage(path: string, remoteAddress: string, ifNoneMatch: string | undefined, reply: FastifyReply): Promise<FastifyReply> {
    const template = await readFile(join(this.opts.publicDir, this.playerPage), 'utf8');
    const html = fillPlayerPage(template, this.opts.pageHint?.(path, ipOf(remoteAddress)));
    const tag = pageTag(html);
    reply.header('Cache-Control', 'no-cache').header('ETag', tag);
    if (ifNoneMatch?.split(',').some((t) => t.trim() === tag)) return reply.code(304).send();
    return reply.type('text/html; charset=utf-8').send(html);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    // A client may vanish mid-handshake; its error must not reach the process.
    socket.on('error', () => socket.destroy());
    const reject = (status: number, text: string) => {
      this.log.debug({ path: loggedPath(req.url), status }, `upgrade refused: ${text}`);
      refuseUpgrade(socket, status, text);
    };
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      reject(400, 'Bad Request');
      return;
    }
    if (this.refusing !== undefined) {
      reject(503, this.refusing);
      return;
    }
    if (!originAllowed(req.headers.origin, this.opts.allowOrigins)) {
      reject(403, 'Forbidden');
      return;
    }
    for (const [suffix, route] of this.upgrades) {
      const tail = `/${suffix}`;
      if (route.exact === true) {
        if (pathname !== tail) continue;
        route.handleUpgrade(req, socket, head, '');
        return;
      }
      if (!pathname.endsWith(tail)) continue;
      const pathName = pathname.slice(1, -tail.length);
      if (pathName === '') break;
      route.handleUpgrade(req, socket, head, pathName);
      return;
    }
    reject(404, 'Not Found');
  }
}

/**
 * The query of a request target, for a redirect: Node's parser admits only
 * visible ASCII there, but anything else (a lenient parser, a future change)
 * is percent-encoded byte by byte so it cannot end a header.
 */
function safeQuery(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return '';
  return url.slice(at).replace(/[^\x21-\x7e]/g, (c) => {
    // Node hands the target over as latin1, one character per byte; anything wider is taken as UTF-8.
    const bytes = Buffer.from(c, c.charCodeAt(0) <= 0xff ? 'latin1' : 'utf8');
    return [...bytes].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  });
}
