import fastifyStatic from '@fastify/static';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { PathManager } from '../stream/path-manager.js';
import type { HttpRoute, UpgradeRoute } from '../transport.js';
import { originAllowed } from './origin.js';
import { pathsListing } from './paths-listing.js';
import { listenOrExplain } from './listen.js';

export interface WebServerOptions {
  host: string;
  port: number;
  allowOrigins: readonly string[];
  /** Folder with index.html, player.html and dist/ (the bundled player). */
  publicDir: string;
  paths: PathManager;
  log: Logger;
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
  private readonly sockets = new Set<Duplex>();
  /** Listeners opened by `relisten`, serving the same routes as `app.server`. */
  private readonly extraServers: Server[] = [];
  private current: Server | undefined;
  private refusing: string | undefined;

  constructor(private readonly opts: WebServerOptions) {
    this.app = Fastify({
      loggerInstance: opts.log.child({ module: 'web' }) as unknown as FastifyBaseLogger,
      // Per-request lines would drown the connect/disconnect lines that matter.
      logController: new LogController({ disableRequestLogging: true }),
      // Stream paths may be long and deep; URLs beyond this are refused by fastify itself.
      routerOptions: { maxParamLength: 1024 },
    });
    this.app.register(fastifyStatic, { root: opts.publicDir, prefix: '/', index: false, wildcard: false, serve: false });
    this.routes();
    this.app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  /** Registers a transport's WebSocket endpoint (`/<path>/<suffix>`). */
  addUpgrade(route: UpgradeRoute): void {
    this.upgrades.set(route.suffix, route);
  }

  /** Registers a transport's HTTP endpoint (`GET /<path>/<suffix>`). */
  addHttpRoute(route: HttpRoute): void {
    this.httpRoutes.set(route.suffix, route);
  }

  /** A reload changed `webAllowOrigins`: applies to the next upgrade. */
  setAllowOrigins(origins: readonly string[]): void {
    this.opts.allowOrigins = origins;
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
    const server = createServer((req, res) => this.app.routing(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
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

  private routes(): void {
    const app = this.app;
    app.get('/', (_req, reply) => reply.header('Cache-Control', 'no-cache').sendFile('index.html'));
    app.get('/_api/paths', (_req, reply) => {
      reply.header('Cache-Control', 'no-store').send(pathsListing(this.opts.paths));
    });
    app.get('/dist/*', (req, reply) => {
      const file = (req.params as { '*': string })['*'];
      return reply.header('Cache-Control', 'no-cache').sendFile(`dist/${file}`);
    });
    app.get('/favicon.ico', (_req, reply) => reply.code(204).send());
    // Everything else is a stream path: `/<path>/` is the player, `/<path>` redirects there.
    app.get('/*', (req, reply) => {
      const raw = (req.params as { '*': string })['*'];
      for (const [suffix, route] of this.httpRoutes) {
        if (raw.endsWith(`/${suffix}`) && raw.length > suffix.length + 1) {
          let pathName: string;
          try {
            pathName = decodeURIComponent(raw.slice(0, -suffix.length - 1));
          } catch {
            return reply.code(400).send('bad path encoding\n');
          }
          return route.handle(req, reply, pathName);
        }
      }
      if (raw.endsWith('/')) {
        return reply.header('Cache-Control', 'no-cache').type('text/html').sendFile('player.html');
      }
      const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
      return reply.redirect(`/${raw}/${query}`, 301);
    });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    // A client may vanish mid-handshake; its error must not reach the process.
    socket.on('error', () => socket.destroy());
    const reject = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
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
      if (!pathname.endsWith(tail)) continue;
      const pathName = pathname.slice(1, -tail.length);
      if (pathName === '') break;
      route.handleUpgrade(req, socket, head, pathName);
      return;
    }
    reject(404, 'Not Found');
  }
}
