import { join } from 'node:path';
import type { Logger } from 'pino';
import { matchPath, validatePathName } from './config/paths.js';
import type { PathConf, ResolvedConfig } from './config/schema.js';
import { locateFfmpeg, type FfmpegLocation } from './ffmpeg.js';
import { Hook } from './hooks.js';
import { RtmpIngest } from './ingest/rtmp/rtmp-server.js';
import { packageRoot, packageVersion } from './package-root.js';
import { PathManager, type PathLookup } from './stream/path-manager.js';
import type { Transport, TransportContext } from './transport.js';
import { WebServer } from './web/server.js';
import { WebTransportListener } from './web/webtransport-listener.js';
import { JpegTransport } from '../transports/jpeg/server.js';
import { MoqTransport } from '../transports/moq/server.js';
import { WtFmp4Transport } from '../transports/wt-fmp4/server.js';
import { WsFmp4Transport } from '../transports/ws-fmp4/server.js';
import { WsNalTransport } from '../transports/ws-nal/server.js';

export interface ListeningAddresses {
  rtmp?: number;
  web: number;
  /** UDP port of WebTransport (HTTP/3), when enabled. */
  webTransport?: number;
}

/**
 * The whole server: configuration in, listeners up. Ingest feeds the path
 * manager; transports read from it; neither knows the other.
 */
export class Polycast {
  readonly paths: PathManager<PathConf>;
  readonly version = packageVersion();
  readonly ffmpeg: FfmpegLocation | undefined;
  private readonly rtmp: RtmpIngest | undefined;
  private readonly web: WebServer;
  readonly transports: Transport[] = [];
  private readonly hooks: Hook[] = [];
  private addresses: ListeningAddresses | undefined;
  readonly webTransport: WebTransportListener | undefined;

  constructor(
    readonly config: ResolvedConfig,
    private readonly log: Logger,
  ) {
    this.paths = new PathManager<PathConf>((name) => lookupPath(config, name));
    this.ffmpeg = locateFfmpeg(config.ffmpegPath);
    if (config.rtmp) {
      this.rtmp = new RtmpIngest({
        host: config.rtmpAddress.host,
        port: config.rtmpAddress.port,
        readTimeoutMs: config.readTimeout,
        paths: this.paths as PathManager,
        log,
      });
    }
    this.web = new WebServer({
      host: config.webAddress.host,
      port: config.webAddress.port,
      allowOrigins: config.webAllowOrigins,
      publicDir: join(packageRoot(), 'public'),
      paths: this.paths as PathManager,
      log,
    });
    const ctx: TransportContext = {
      paths: this.paths as PathManager,
      log,
      writeQueueSize: config.writeQueueSize,
      readTimeoutMs: config.readTimeout,
      serverName: `polycast/${this.version}`,
    };
    this.transports.push(new WsNalTransport(ctx));
    this.transports.push(new WsFmp4Transport(ctx, { defaultProtocol: config.webSocketProtocol, segmentSize: config.webSocketSegmentSize }));
    this.transports.push(new JpegTransport(ctx, { ffmpeg: this.ffmpeg?.path }));
    if (config.webTransport) this.transports.push(new WtFmp4Transport(ctx));
    if (config.webTransport) this.transports.push(new MoqTransport(ctx));
    if (config.webTransport) {
      this.webTransport = new WebTransportListener({
        host: config.webTransportAddress?.host ?? config.webAddress.host,
        // Filled in at start when it follows webAddress (whose port may be ephemeral).
        port: config.webTransportAddress?.port ?? -1,
        allowOrigins: config.webAllowOrigins,
        certFile: config.webServerCert,
        keyFile: config.webServerKey,
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

  async start(): Promise<ListeningAddresses> {
    const started: Array<() => Promise<void>> = [];
    try {
      const rtmp = this.rtmp ? (await this.rtmp.start()).port : undefined;
      if (this.rtmp) started.push(() => this.rtmp!.stop());
      const web = (await this.web.start()).port;
      started.push(() => this.web.stop());
      let webTransport: number | undefined;
      if (this.webTransport) {
        webTransport = (await this.webTransport.start(this.config.webTransportAddress === undefined ? web : undefined)).port;
      }
      this.addresses = { rtmp, web, webTransport };
    } catch (err) {
      for (const stop of started) await stop();
      throw err;
    }
    this.log.info(
      { version: this.version, rtmp: this.addresses.rtmp, web: this.addresses.web, ffmpeg: this.ffmpeg?.path ?? 'none' },
      `Polycast ${this.version} listening: RTMP :${this.addresses.rtmp ?? 'off'}, web :${this.addresses.web}, WebTransport :${this.addresses.webTransport ?? 'off'}/udp`,
    );
    this.startStaticPaths();
    return this.addresses;
  }

  async stop(reason = 'server shutting down'): Promise<void> {
    await Promise.all(this.hooks.map((hook) => hook.stop()));
    for (const transport of this.transports) await transport.close(reason);
    this.paths.closeAll(reason);
    await this.rtmp?.stop();
    await this.webTransport?.stop();
    await this.web.stop();
    this.log.info({ reason }, 'Polycast stopped');
  }

  private startStaticPaths(): void {
    const names = this.config.paths.filter((entry) => entry.regex === undefined).map((entry) => entry.name);
    this.paths.createStatic(names);
    for (const entry of this.config.paths) {
      if (entry.regex !== undefined || entry.conf.runOnInit === '') continue;
      const hook = new Hook({
        name: `runOnInit ${entry.name}`,
        command: entry.conf.runOnInit,
        restart: entry.conf.runOnInitRestart,
        env: this.hookEnv(entry.name),
        log: this.log.child({ path: entry.name }),
      });
      this.hooks.push(hook);
      hook.start();
    }
  }

  /** MediaMTX's hook variables, plus Polycast's own. */
  private hookEnv(path: string): Record<string, string> {
    const env: Record<string, string> = {
      MTX_PATH: path,
      POLYCAST_PATH: path,
      WEB_PORT: String(this.addresses?.web ?? ''),
    };
    if (this.addresses?.rtmp !== undefined) env.RTMP_PORT = String(this.addresses.rtmp);
    if (this.ffmpeg !== undefined) env.POLYCAST_FFMPEG = this.ffmpeg.path;
    return env;
  }
}

function lookupPath(config: ResolvedConfig, name: string): PathLookup<PathConf> {
  const invalid = validatePathName(name);
  if (invalid !== undefined) return { ok: false, reason: `invalid path name '${name.slice(0, 100)}': ${invalid}` };
  const found = matchPath(config, name);
  if (found === undefined) return { ok: false, reason: `path '${name}' is not configured (add it, a matching ~regex or all_others under paths:)` };
  return { ok: true, conf: found.pathConf, dynamic: found.match !== undefined };
}
