import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ApiServer } from './api/server.js';
import type { HttpAuthorizer } from './api/http-auth.js';
import { AuthManager } from './auth/manager.js';
import { redactQuery } from './auth/credentials.js';
import { ConfigError } from './config/errors.js';
import { configSource, loadConfig, resolveSettings } from './config/load.js';
import type { Env } from './config/env.js';
import { matchPath, validatePathName } from './config/paths.js';
import type { PathConf, ResolvedConfig } from './config/schema.js';
import { locateFfmpeg, type FfmpegLocation } from './ffmpeg.js';
import { Hook, HookPool, PathHooks, withPolycastNames } from './hooks.js';
import { PullSources } from './ingest/pull/pull-sources.js';
import { LogLimiter } from './ingest/rtmp/log-limiter.js';
import { RtmpIngest } from './ingest/rtmp/rtmp-server.js';
import { SrtIngest } from './ingest/srt/srt-server.js';
import { Connections, type ConnectionInfo } from './limits.js';
import { MetricsServer } from './metrics/metrics.js';
import { ReaderTotals } from './metrics/totals.js';
import { packageRoot, packageVersion } from './package-root.js';
import type { Path } from './stream/path.js';
import { PathManager, type PathLookup } from './stream/path-manager.js';
import type { Transport, TransportContext } from './transport.js';
import { AcmeCertificates, defaultCacheDirectory } from './web/acme.js';
import { FileCertificates, type CertificateSource } from './web/certificates.js';
import { HttpRedirect } from './web/http-redirect.js';
import { LOCAL_CA_ROOT_PATH, LocalCaCertificates } from './web/local-ca.js';
import { videoHint } from './web/player-page.js';
import { WebServer } from './web/server.js';
import { tcpDirect } from './web/socket-output.js';
import { WebTransportListener } from './web/webtransport-listener.js';
import { HlsTransport, hlsSettingsOf } from '../transports/hls/server.js';
import { JpegTransport } from '../transports/jpeg/server.js';
import { buildCatalog } from '../transports/moq/hang.js';
import { MoqTransport } from '../transports/moq/server.js';
import { MoqtTransport } from '../transports/moqt/server.js';
import { WtFmp4Transport } from '../transports/wt-fmp4/server.js';
import { WsFmp4Transport, type WsFmp4Options } from '../transports/ws-fmp4/server.js';
import { WsNalTransport } from '../transports/ws-nal/server.js';

export interface ListeningAddresses {
  rtmp?: number;
  /** UDP port of the SRT listener, when enabled. */
  srt?: number;
  web: number;
  /** UDP port of WebTransport (HTTP/3), when enabled. */
  webTransport?: number;
  /** Plain-HTTP port for ACME challenges and redirects, when TLS is on and it could listen. */
  webTLSHTTP?: number;
  api?: number;
  metrics?: number;
}

/** How long a publisher may go on sending after the server said goodbye (shutdown). */
const PUBLISHER_DRAIN_MS = 1000;
/** Longest wait for viewers' sockets to send their last frames (shutdown). */
const READER_FLUSH_MS = 2000;
/** Editors write a file in several steps; act once it settles. */
const RELOAD_DEBOUNCE_MS = 300;

/**
 * Settings only a restart applies: the WebTransport listener and TLS are set
 * up once, and pino's child loggers keep the level they were created with.
 */
const RESTART_KEYS = [
  'logLevel',
  'hls',
  'webTransport',
  'webTransportAddress',
  'webServerCert',
  'webServerKey',
  'webTLS',
  'webTLSDomains',
  'webTLSEmail',
  'webTLSACMEDirectory',
  'webTLSACMERootCA',
  'webTLSCacheDirectory',
  'webTLSHTTPAddress',
  'ffmpegPath',
] as const;

/**
 * The whole server: configuration in, listeners up. Ingest feeds the path
 * manager; transports read from it; neither knows the other. A new
 * configuration (file change or API) is applied in place.
 */
export class Polycast {
  readonly paths: PathManager<PathConf>;
  readonly version = packageVersion();
  readonly ffmpeg: FfmpegLocation | undefined;
  readonly started = new Date();
  readonly auth: AuthManager;
  readonly connections: Connections;
  readonly transports: Transport[] = [];
  readonly webTransport: WebTransportListener | undefined;
  /** The web port's certificate when TLS is on (`webTLS: files` or `auto`). */
  readonly certificates: CertificateSource | undefined;
  private readonly httpRedirect: HttpRedirect | undefined;
  private current: ResolvedConfig;
  private rtmp: RtmpIngest | undefined;
  private srt: SrtIngest | undefined;
  private readonly web: WebServer;
  private api: ApiServer | undefined;
  private metrics: MetricsServer | undefined;
  private readonly pool: HookPool;
  private readonly initHooks = new Map<string, { hook: Hook; conf: PathConf }>();
  private readonly pathHooks = new Map<Path, PathHooks>();
  private readonly totals: ReaderTotals;
  /** Paths whose source is a URL: their connections to the origin. */
  private readonly pulls: PullSources;
  private readonly fmp4Options: WsFmp4Options;
  private addresses: ListeningAddresses | undefined;
  private applying: Promise<void> = Promise.resolve();
  private watcher: { fs: FSWatcher; timer: NodeJS.Timeout | undefined } | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    config: ResolvedConfig,
    private readonly log: Logger,
  ) {
    this.current = config;
    this.paths = new PathManager<PathConf>((name) => lookupPath(this.current, name));
    this.ffmpeg = locateFfmpeg(config.ffmpegPath);
    this.pool = new HookPool(log);
    this.auth = new AuthManager(config, log.child({ module: 'auth' }));
    this.connections = new Connections({ max: () => this.current.maxConnections, onConnect: (info) => this.onConnect(info) });
    this.totals = new ReaderTotals(this.paths as PathManager);
    this.pulls = new PullSources({ paths: this.paths, config: () => this.current, log });
    this.paths.on('pathCreated', (path, conf) => this.pathHooks.set(path, this.newPathHooks(path, conf)));
    // A reader whose transport threw is ended by the path; the stack is worth keeping for the bug report.
    this.paths.on('pathCreated', (path) => {
      path.on('readerFailed', (reader, method, err) =>
        this.log.error({ path: path.name, transport: reader.info.protocol, id: reader.info.id, remoteAddress: reader.info.remoteAddress, method, err }, 'closing reader: its transport failed'),
      );
      // A publisher decides how often this happens: one line a second per path, the rest counted.
      const refusals = new LogLimiter(1, (count) => this.log.warn({ path: path.name, count }, `${count} more malformed frame(s) dropped on ${path.name}`));
      path.on('frameRefused', (publisher, reason) =>
        refusals.log(() => this.log.warn({ path: path.name, publisher: publisher.id, protocol: publisher.protocol, remoteAddress: publisher.remoteAddress, reason }, `malformed frame from the publisher of ${path.name}: ${reason}`)),
      );
    });
    this.paths.on('pathRemoved', (path) => {
      this.pathHooks.get(path)?.close();
      this.pathHooks.delete(path);
    });
    this.paths.on('pathReconfigured', (path, _previous, conf) => this.pathHooks.get(path)?.reconfigure(conf));
    if (config.rtmp) this.rtmp = this.newRtmp();
    if (config.srt) this.srt = this.newSrt();
    this.certificates = newCertificateSource(config, log, () => this.addresses?.webTLSHTTP !== undefined);
    const tls = this.certificates?.current;
    this.web = new WebServer({
      host: config.webAddress.host,
      port: config.webAddress.port,
      allowOrigins: config.webAllowOrigins,
      publicDir: join(packageRoot(), 'public'),
      paths: this.paths as PathManager,
      log,
      readTimeoutMs: config.readTimeout,
      tls: tls === undefined ? undefined : { cert: tls.cert, key: tls.key },
      alpnChallenges: this.certificates instanceof AcmeCertificates ? this.certificates.alpnChallenges : undefined,
      pageHint: (path, ip) => {
        const stream = this.paths.get(path)?.stream;
        // Codec and size, which the ws-nal init would tell this client anyway: only where reading needs no credentials.
        const readable = stream?.ready === true && this.auth.anyoneMay('read', path, ip);
        const video = readable ? videoHint(stream.description) : undefined;
        // What /moq's catalog track would tell this client first, on the same terms.
        const moqCatalog = readable ? buildCatalog(stream.description) : undefined;
        // Public at /certificate.sha256 already.
        const certificateSha256 = this.webTransport?.certificateSha256;
        return { ...(video ? { video } : {}), ...(moqCatalog ? { moqCatalog } : {}), ...(certificateSha256 ? { certificateSha256 } : {}) };
      },
    });
    this.certificates?.onChange((c) => {
      this.web.setCertificate(c.cert, c.key);
      this.log.info({ sha256: c.sha256, selfSigned: c.selfSigned, notAfter: c.notAfter.toISOString() }, 'TLS: web certificate replaced; open connections keep theirs');
    });
    if (this.certificates !== undefined && config.webTLSHTTPAddress !== undefined) {
      this.httpRedirect = new HttpRedirect({
        host: config.webTLSHTTPAddress.host,
        port: config.webTLSHTTPAddress.port,
        httpsPort: () => this.addresses?.web ?? config.webAddress.port,
        challenges: this.certificates instanceof AcmeCertificates ? this.certificates.challenges : undefined,
        files: this.certificates instanceof LocalCaCertificates ? new Map([[LOCAL_CA_ROOT_PATH, { type: 'application/x-x509-ca-cert', body: this.certificates.rootPem }]]) : undefined,
        readTimeoutMs: config.readTimeout,
        log: log.child({ module: 'http-redirect' }),
      });
    }
    if (this.certificates instanceof LocalCaCertificates) {
      const root = this.certificates.rootPem;
      this.web.app.get(LOCAL_CA_ROOT_PATH, (_req, reply) => {
        reply.header('Cache-Control', 'no-cache').type('application/x-x509-ca-cert').send(root);
      });
    }
    const self = this;
    // Getters: a reload's timeouts and queue size apply to the next client.
    const ctx: TransportContext = {
      paths: this.paths as PathManager,
      log,
      get writeQueueSize() {
        return self.current.writeQueueSize;
      },
      get readTimeoutMs() {
        return self.current.readTimeout;
      },
      get writeTimeoutMs() {
        return self.current.writeTimeout;
      },
      serverName: `polycast/${this.version}`,
      authorizeRead: async (r) => {
        const result = await this.auth.authorize({ action: 'read', path: r.path, protocol: r.transport, query: r.query, headers: r.headers, remoteAddress: r.remoteAddress, ip: r.ip });
        return result.ok ? undefined : result.reason;
      },
      authorizePublish: async (r) => {
        const result = await this.auth.authorize({ action: 'publish', path: r.path, protocol: r.transport, query: r.query, headers: r.headers, remoteAddress: r.remoteAddress, ip: r.ip });
        return result.ok ? undefined : result.reason;
      },
      connections: this.connections,
    };
    this.fmp4Options = { defaultProtocol: config.webSocketProtocol, segmentSize: config.webSocketSegmentSize };
    this.transports.push(new WsNalTransport(ctx));
    this.transports.push(new WsFmp4Transport(ctx, this.fmp4Options));
    this.transports.push(new JpegTransport(ctx, { ffmpeg: this.ffmpeg?.path }));
    // A reload's HLS settings apply to the next muxer; `hls` itself only at a restart (its routes are set up once).
    if (config.hls) this.transports.push(new HlsTransport(ctx, () => hlsSettingsOf(this.current)));
    if (config.webTransport) this.transports.push(new WtFmp4Transport(ctx));
    // moq also has a WebSocket binding (QMux, for browsers without WebTransport): it serves without the UDP listener.
    this.transports.push(new MoqTransport(ctx));
    if (config.webTransport) this.transports.push(new MoqtTransport(ctx));
    if (config.webTransport) {
      this.webTransport = new WebTransportListener({
        host: config.webTransportAddress?.host ?? config.webAddress.host,
        // Filled in at start when it follows webAddress (whose port may be ephemeral).
        port: config.webTransportAddress?.port ?? -1,
        allowOrigins: config.webAllowOrigins,
        certFile: config.webServerCert,
        keyFile: config.webServerKey,
        certificates: this.certificates,
        log: log.child({ module: 'webtransport' }),
        pathExists: (name) => 'name' in this.paths.acquire(name),
      });
      const wt = this.webTransport;
      this.web.app.get('/certificate.sha256', (_req, reply) => {
        reply.header('Cache-Control', 'no-store').header('Access-Control-Allow-Origin', '*').type('text/plain').send(wt.certificateSha256);
      });
    }
    for (const transport of this.transports) {
      for (const route of transport.upgrades) this.web.addUpgrade(route);
      for (const route of transport.httpRoutes ?? []) this.web.addHttpRoute(route);
      for (const route of transport.webTransportRoutes ?? []) this.webTransport?.addRoute(route);
    }
  }

  /** The configuration in force (changed by reloads and the API). */
  get config(): ResolvedConfig {
    return this.current;
  }

  /** The SRT listener, while `srt: yes` (its connections and dropped-datagram counts). */
  get srtIngest(): SrtIngest | undefined {
    return this.srt;
  }

  /** Where each listener is, once started. */
  get listening(): ListeningAddresses | undefined {
    return this.addresses;
  }

  async start(): Promise<ListeningAddresses> {
    const config = this.current;
    const started: Array<() => Promise<void>> = [];
    try {
      const rtmp = this.rtmp ? (await this.rtmp.start()).port : undefined;
      if (this.rtmp) started.push(() => this.rtmp!.stop());
      const srt = this.srt ? (await this.srt.start()).port : undefined;
      if (this.srt) started.push(() => this.srt!.stop());
      const web = (await this.web.start()).port;
      started.push(() => this.web.stop());
      let webTransport: number | undefined;
      if (this.webTransport) {
        webTransport = (await this.webTransport.start(config.webTransportAddress === undefined ? web : undefined)).port;
        started.push(() => this.webTransport!.stop());
      }
      this.addresses = { rtmp, srt, web, webTransport };
      if (this.httpRedirect !== undefined) {
        this.addresses.webTLSHTTP = await this.startHttpRedirect(config);
        if (this.addresses.webTLSHTTP !== undefined) started.push(() => this.httpRedirect!.stop());
      }
      if (config.api) {
        this.addresses.api = await this.startApi(config);
        started.push(() => this.api!.stop());
      }
      if (config.metrics) this.addresses.metrics = await this.startMetrics(config);
    } catch (err) {
      for (const stop of started.reverse()) await stop();
      throw err;
    }
    const a = this.addresses;
    this.log.info(
      { version: this.version, rtmp: a.rtmp, srt: a.srt, web: a.web, api: a.api, metrics: a.metrics, ffmpeg: this.ffmpeg?.path ?? 'none' },
      `Polycast ${this.version} listening: RTMP :${a.rtmp ?? 'off'}, SRT :${a.srt ?? 'off'}/udp, web :${a.web}${this.web.secure ? ' (https)' : ''}${a.webTLSHTTP !== undefined ? ` + :${a.webTLSHTTP} (http, redirects)` : ''}, WebTransport :${a.webTransport ?? 'off'}/udp, API :${a.api ?? 'off'}, metrics :${a.metrics ?? 'off'}`,
    );
    for (const warning of configSource(config).warnings) this.log.warn(warning);
    const direct = tcpDirect();
    if ('error' in direct && !this.web.secure) {
      if (direct.error === 'POLYCAST_TCP_DIRECT=0') this.log.info('WebSocket viewers: written through Node\'s streams, as POLYCAST_TCP_DIRECT asks');
      else this.log.warn({ why: direct.error }, 'WebSocket viewers: written through Node\'s streams, which costs more CPU per viewer');
    }
    // Orders (auto) begin once the challenge port is up.
    this.certificates?.start();
    this.syncStaticPaths();
    return this.addresses;
  }

  /**
   * Graceful shutdown: stop accepting; stop hooks (their publishers send
   * their last frames and leave); tell the other publishers goodbye and read
   * what they already sent; let viewers' sockets send it; then close the
   * readers (1001) and everything else.
   */
  stop(reason = 'server shutting down'): Promise<void> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  private async shutdown(reason: string): Promise<void> {
    this.unwatchConfig();
    this.web.refuseUpgrades(reason);
    this.rtmp?.stopAccepting();
    await Promise.all([this.api?.stop(), this.metrics?.stop()]);
    for (const hooks of this.pathHooks.values()) hooks.close();
    this.pathHooks.clear();
    await Promise.all([...this.initHooks.values()].map(({ hook }) => hook.stop()));
    this.initHooks.clear();
    await this.pool.stopAll();
    this.pulls.close(reason);
    await this.rtmp?.drainPublishers(PUBLISHER_DRAIN_MS);
    // SRT publishers hear SHUTDOWN; what they sent is already past the latency buffer or lost with them.
    await this.srt?.stop(reason);
    await Promise.all(this.transports.map((t) => t.flushed?.(Math.min(READER_FLUSH_MS, this.current.writeTimeout))));
    for (const transport of this.transports) await transport.close(reason);
    this.paths.closeAll(reason);
    await this.rtmp?.stop();
    await this.webTransport?.stop();
    this.certificates?.stop();
    if (this.addresses?.webTLSHTTP !== undefined) await this.httpRedirect?.stop();
    await this.web.stop();
    this.log.info({ reason }, 'Polycast stopped');
  }

  /**
   * Applies a new configuration without a restart: paths added and removed
   * (a removed path's publisher and readers are closed), changed path
   * settings applied in place (runOnInit restarted when it changed),
   * listeners whose address changed moved, everything else taken by the next
   * client. Unaffected streams go on untouched.
   */
  applyConfig(next: ResolvedConfig): Promise<void> {
    const run = this.applying.then(() => this.apply(next));
    this.applying = run.catch(() => undefined);
    return run;
  }

  /** The control API's changes: validated like the file (throws ConfigError), then applied like a reload. */
  async applySettings(settings: Record<string, unknown>): Promise<void> {
    const next = resolveSettings(settings, this.current.file);
    await this.applyConfig(next);
    this.log.info('configuration changed through the API');
  }

  /**
   * Watches the configuration file (its folder, since editors replace files)
   * and reloads on change; a file with errors is logged and ignored.
   */
  watchConfigFile(file: string, env: Env = process.env): void {
    this.unwatchConfig();
    let last: string | undefined;
    void readFile(file, 'utf8').then(
      (text) => (last ??= text),
      () => undefined,
    );
    const reload = async () => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        return; // Mid-replace, or removed: the next event tells.
      }
      if (text === last) return;
      last = text;
      let next: ResolvedConfig;
      try {
        next = loadConfig(file, env);
      } catch (err) {
        const lines = err instanceof ConfigError ? err.message.split('\n') : [(err as Error).message];
        this.log.error({ file, problems: lines }, `configuration not reloaded, the running one stays:\n${lines.join('\n')}`);
        return;
      }
      try {
        await this.applyConfig(next);
        this.log.info({ file }, 'configuration reloaded');
      } catch (err) {
        this.log.error({ file, err: (err as Error).message }, 'configuration reload failed');
      }
    };
    const fsWatcher = watch(dirname(file), { persistent: false }, (_event, name) => {
      if (name !== null && name !== basename(file)) return;
      const w = this.watcher;
      if (w === undefined) return;
      clearTimeout(w.timer);
      w.timer = setTimeout(() => void reload(), RELOAD_DEBOUNCE_MS);
    });
    fsWatcher.on('error', (err) => this.log.warn({ file, err: err.message }, 'cannot watch the configuration file'));
    this.watcher = { fs: fsWatcher, timer: undefined };
  }

  private unwatchConfig(): void {
    if (this.watcher === undefined) return;
    clearTimeout(this.watcher.timer);
    this.watcher.fs.close();
    this.watcher = undefined;
  }

  private async apply(next: ResolvedConfig): Promise<void> {
    if (this.stopping !== undefined) return;
    const prev = this.current;
    this.current = next;
    for (const warning of configSource(next).warnings) this.log.warn(warning);
    this.auth.update(next);
    this.web.setAllowOrigins(next.webAllowOrigins);
    this.web.setReadTimeout(next.readTimeout);
    this.api?.setReadTimeout(next.readTimeout);
    this.metrics?.setReadTimeout(next.readTimeout);
    this.fmp4Options.defaultProtocol = next.webSocketProtocol;
    this.fmp4Options.segmentSize = next.webSocketSegmentSize;
    for (const key of RESTART_KEYS) {
      if (JSON.stringify(prev[key]) !== JSON.stringify(next[key])) this.log.warn({ key }, `${key} changed: it takes effect when Polycast restarts`);
    }
    const a = this.addresses;
    if (a !== undefined) {
      if (!next.rtmp && this.rtmp !== undefined) {
        await this.rtmp.stop();
        this.rtmp = undefined;
        a.rtmp = undefined;
        this.log.info('RTMP listener stopped (rtmp: no)');
      } else if (next.rtmp && this.rtmp === undefined) {
        this.rtmp = this.newRtmp();
        a.rtmp = (await this.rtmp.start()).port;
        this.log.info({ port: a.rtmp }, 'RTMP listener started');
      } else if (this.rtmp !== undefined && !sameAddress(prev.rtmpAddress, next.rtmpAddress)) {
        a.rtmp = (await this.rtmp.relisten(next.rtmpAddress.host, next.rtmpAddress.port)).port;
        this.log.info({ port: a.rtmp }, 'RTMP listener moved');
      }
      if (!next.srt && this.srt !== undefined) {
        await this.srt.stop('srt: no');
        this.srt = undefined;
        a.srt = undefined;
        this.log.info('SRT listener stopped (srt: no)');
      } else if (next.srt && this.srt === undefined) {
        this.srt = this.newSrt();
        a.srt = (await this.srt.start()).port;
        this.log.info({ port: a.srt }, 'SRT listener started');
      } else if (this.srt !== undefined && !sameAddress(prev.srtAddress, next.srtAddress)) {
        a.srt = (await this.srt.relisten(next.srtAddress.host, next.srtAddress.port)).port;
        this.log.info({ port: a.srt }, 'SRT listener moved');
      }
      if (!sameAddress(prev.webAddress, next.webAddress)) {
        a.web = (await this.web.relisten(next.webAddress.host, next.webAddress.port)).port;
        this.log.info({ port: a.web }, 'web listener moved');
      }
      if (prev.api !== next.api || !sameAddress(prev.apiAddress, next.apiAddress)) {
        await this.api?.stop();
        this.api = undefined;
        a.api = next.api ? await this.startApi(next) : undefined;
      }
      if (prev.metrics !== next.metrics || !sameAddress(prev.metricsAddress, next.metricsAddress)) {
        await this.stopMetrics();
        a.metrics = next.metrics ? await this.startMetrics(next) : undefined;
      }
    }
    this.paths.reconfigure(
      (name) => lookupPath(next, name),
      (name) => `path '${name}' was removed from the configuration`,
    );
    this.syncStaticPaths();
  }

  /** Creates the configured plain-named paths and runs (or restarts, or stops) their runOnInit. */
  private syncStaticPaths(): void {
    const entries = this.current.paths.filter((entry) => entry.regex === undefined);
    this.paths.createStatic(entries.map((entry) => entry.name));
    const wanted = new Map(entries.filter((e) => e.conf.runOnInit !== '').map((e) => [e.name, e.conf]));
    for (const [name, running] of this.initHooks) {
      const conf = wanted.get(name);
      if (conf !== undefined && conf.runOnInit === running.conf.runOnInit && conf.runOnInitRestart === running.conf.runOnInitRestart) continue;
      this.log.info({ path: name }, conf === undefined ? 'runOnInit: path or command removed, stopping it' : 'runOnInit changed, restarting it');
      void running.hook.stop();
      this.initHooks.delete(name);
    }
    for (const [name, conf] of wanted) {
      if (this.initHooks.has(name)) continue;
      const hook = new Hook({
        name: `runOnInit ${name}`,
        command: conf.runOnInit,
        restart: conf.runOnInitRestart,
        env: withPolycastNames(this.hookEnv(name)),
        log: this.log.child({ path: name }),
      });
      this.initHooks.set(name, { hook, conf });
      hook.start();
    }
  }

  private newPathHooks(path: Path, conf: PathConf): PathHooks {
    return new PathHooks({ path, conf, pool: this.pool, env: () => this.hookEnv(path.name), log: this.log.child({ path: path.name }) });
  }

  private newRtmp(): RtmpIngest {
    const config = this.current;
    const self = this;
    return new RtmpIngest({
      host: config.rtmpAddress.host,
      port: config.rtmpAddress.port,
      get readTimeoutMs() {
        return self.current.readTimeout;
      },
      get maxMessageSize() {
        return self.current.rtmpMaxMessageSize;
      },
      get maxUnauthenticatedPerIP() {
        return self.current.rtmpMaxUnauthenticatedPerIP;
      },
      paths: this.paths as PathManager,
      log: this.log,
      connections: this.connections,
      redactQuery,
      authorizePublish: async (r) => {
        const result = await this.auth.authorize({ action: 'publish', path: r.path, protocol: 'rtmp', query: r.rawQuery, remoteAddress: r.remoteAddress, ip: r.ip, id: r.id });
        return result.ok ? undefined : result.reason;
      },
    });
  }

  private newSrt(): SrtIngest {
    const config = this.current;
    const self = this;
    return new SrtIngest({
      host: config.srtAddress.host,
      port: config.srtAddress.port,
      get readTimeoutMs() {
        return self.current.readTimeout;
      },
      paths: this.paths as PathManager,
      log: this.log,
      connections: this.connections,
      redactQuery,
      passphrase: (name) => matchPath(this.current, name)?.pathConf.srtPublishPassphrase ?? '',
      authorizePublish: async (r) => {
        const result = await this.auth.authorize({ action: 'publish', path: r.path, protocol: 'srt', query: r.rawQuery, remoteAddress: r.remoteAddress, ip: r.ip, id: r.id });
        return result.ok ? undefined : result.reason;
      },
    });
  }

  /**
   * The plain-HTTP listener for challenges and redirects. Not being able to
   * listen there (port 80 needs privileges) does not stop the server: HTTPS
   * goes on, and the log says what it costs.
   */
  private async startHttpRedirect(config: ResolvedConfig): Promise<number | undefined> {
    const at = config.webTLSHTTPAddress!;
    try {
      const port = (await this.httpRedirect!.start()).port;
      this.log.info({ port }, `HTTP listener on :${port}: ${config.webTLS === 'auto' ? 'ACME HTTP-01 challenges, and ' : ''}redirects to HTTPS`);
      return port;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const where = `${at.host || '*'}:${at.port}`;
      const why = e.code === 'EACCES' ? 'permission denied (ports below 1024 need root, CAP_NET_BIND_SERVICE, or net.ipv4.ip_unprivileged_port_start)' : e.code === 'EADDRINUSE' ? 'address already in use' : e.message;
      const cost =
        config.webTLS === 'auto'
          ? 'ACME challenges go to the web port (TLS-ALPN-01), which the CA must reach on 443, and plain-HTTP visitors are not redirected'
          : 'plain-HTTP visitors are not redirected to HTTPS';
      this.log.warn({ address: where, err: e.message }, `webTLSHTTPAddress ${where}: cannot listen: ${why}; ${cost} (set webTLSHTTPAddress)`);
      return undefined;
    }
  }

  private readonly authorizeHttp: HttpAuthorizer = (r) =>
    this.auth.authorize({ action: r.action, path: '', protocol: '', query: r.query, headers: r.headers, remoteAddress: r.remoteAddress, ip: r.ip });

  private async startApi(config: ResolvedConfig): Promise<number> {
    const api = new ApiServer(
      {
        version: this.version,
        started: this.started,
        paths: this.paths,
        transports: this.transports,
        config: () => this.current,
        settings: () => configSource(this.current).settings,
        applySettings: (settings) => this.applySettings(settings),
        rtmpConns: () => this.rtmp?.connections(),
        kickRtmp: (id, reason) => this.rtmp?.kick(id, reason) ?? false,
        refreshJwks: () => this.auth.refreshJwks(),
      },
      this.authorizeHttp,
      this.log,
    );
    const port = (await api.start(config.apiAddress.host, config.apiAddress.port, config.readTimeout)).port;
    this.api = api;
    this.log.info({ port }, 'control API listening');
    return port;
  }

  private async startMetrics(config: ResolvedConfig): Promise<number> {
    const metrics = new MetricsServer(
      {
        paths: this.paths as PathManager,
        transports: this.transports,
        totals: this.totals,
        rtmpConns: () => this.rtmp?.connections() ?? [],
        connections: this.connections,
        authFailures: () => this.auth.failures,
        blockedIps: () => this.auth.limiter.blockedCount,
        webTransportHandshakes: () => this.webTransport?.handshakes,
      },
      this.authorizeHttp,
      this.log,
    );
    const port = (await metrics.start(config.metricsAddress.host, config.metricsAddress.port, config.readTimeout)).port;
    this.metrics = metrics;
    for (const path of this.paths.list()) path.setSendObserver(metrics.observe);
    this.paths.on('pathCreated', this.observeNewPath);
    this.log.info({ port }, 'metrics listening');
    return port;
  }

  private readonly observeNewPath = (path: Path): void => {
    if (this.metrics !== undefined) path.setSendObserver(this.metrics.observe);
  };

  private async stopMetrics(): Promise<void> {
    const metrics = this.metrics;
    this.metrics = undefined;
    this.paths.off('pathCreated', this.observeNewPath);
    for (const path of this.paths.list()) path.setSendObserver(undefined);
    await metrics?.stop();
  }

  /** runOnConnect / runOnDisconnect for a client connection. */
  private onConnect(info: ConnectionInfo): () => void {
    const c = this.current;
    if (c.runOnConnect === '' && c.runOnDisconnect === '') return () => undefined;
    const env: Record<string, string> = { MTX_CONN_TYPE: info.type, MTX_CONN_ID: info.id, ...this.portsEnv() };
    const hook = this.pool.run('runOnConnect', c.runOnConnect, env, c.runOnConnectRestart);
    return () => {
      void hook?.stop();
      this.pool.run('runOnDisconnect', this.current.runOnDisconnect, env, false);
    };
  }

  private portsEnv(): Record<string, string> {
    const env: Record<string, string> = { WEB_PORT: String(this.addresses?.web ?? '') };
    if (this.addresses?.rtmp !== undefined) env.RTMP_PORT = String(this.addresses.rtmp);
    if (this.addresses?.srt !== undefined) env.SRT_PORT = String(this.addresses.srt);
    if (this.ffmpeg !== undefined) env.POLYCAST_FFMPEG = this.ffmpeg.path;
    return env;
  }

  /** MediaMTX's hook variables for a path (MTX_PATH, G1...), plus Polycast's own. */
  private hookEnv(path: string): Record<string, string> {
    const env: Record<string, string> = { MTX_PATH: path, ...this.portsEnv() };
    const groups = matchPath(this.current, path)?.match?.slice(1) ?? [];
    groups.forEach((group, i) => (env[`G${i + 1}`] = group ?? ''));
    return env;
  }
}

/** The web port's certificate as `webTLS` says: none, the operator's files, or ACME's. */
function newCertificateSource(config: ResolvedConfig, log: Logger, httpChallengeReady: () => boolean): CertificateSource | undefined {
  if (config.webTLS === 'files') return new FileCertificates(config.webServerCert, config.webServerKey, log.child({ module: 'tls' }));
  const cacheDirectory = config.webTLSCacheDirectory === '' ? defaultCacheDirectory() : config.webTLSCacheDirectory;
  if (config.webTLS === 'local') return new LocalCaCertificates({ names: config.webTLSDomains, cacheDirectory, log });
  if (config.webTLS !== 'auto') return undefined;
  return new AcmeCertificates({
    domains: config.webTLSDomains,
    email: config.webTLSEmail,
    directoryUrl: config.webTLSACMEDirectory,
    rootCaFile: config.webTLSACMERootCA,
    cacheDirectory,
    log,
    httpChallengeReady,
  });
}

function sameAddress(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.host === b.host && a.port === b.port;
}

function lookupPath(config: ResolvedConfig, name: string): PathLookup<PathConf> {
  const invalid = validatePathName(name);
  if (invalid !== undefined) return { ok: false, reason: `invalid path name '${name.slice(0, 100)}': ${invalid}` };
  const found = matchPath(config, name);
  if (found === undefined) return { ok: false, reason: `path '${name}' is not configured (add it, a matching ~regex or all_others under paths:)` };
  return { ok: true, conf: found.pathConf, dynamic: found.match !== undefined };
}
