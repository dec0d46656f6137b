import type { Logger } from 'pino';
import { matchPath } from '../../config/paths.js';
import type { PathConf, ResolvedConfig } from '../../config/schema.js';
import { expandSource, isPullSource, parseSource, type SourceTarget } from '../../config/source.js';
import type { Path } from '../../stream/path.js';
import type { PathManager } from '../../stream/path-manager.js';
import { moqtPuller } from '../moqt/moqt-pull.js';
import { rtmpPuller } from '../rtmp/rtmp-pull.js';
import { wsNalPuller } from '../ws-nal/ws-nal-pull.js';
import { PullSource } from './pull-source.js';
import type { Puller } from './puller.js';

export interface PullSourcesOptions {
  readonly paths: PathManager<PathConf>;
  /** The configuration in force: reloads change sources, timeouts and limits. */
  config(): ResolvedConfig;
  readonly log: Logger;
}

/**
 * Every path whose `source` is a URL gets a `PullSource`, created with the
 * path and replaced when a reload changes its source settings. The server's
 * one hook into pulling: it watches the path manager and needs nothing else.
 */
export class PullSources {
  private readonly sources = new Map<Path, { source: PullSource; settings: string }>();
  private readonly log: Logger;

  constructor(private readonly o: PullSourcesOptions) {
    this.log = o.log.child({ module: 'pull' });
    o.paths.on('pathCreated', (path, conf) => this.sync(path, conf));
    o.paths.on('pathReconfigured', (path, _previous, conf) => this.sync(path, conf));
    o.paths.on('pathRemoved', (path) => this.drop(path, 'the path was removed'));
  }

  /** Shutdown: every connection to an origin is closed. */
  close(reason: string): void {
    for (const path of [...this.sources.keys()]) this.drop(path, reason);
  }

  private sync(path: Path, conf: PathConf): void {
    const settings = JSON.stringify([conf.source, conf.sourceOnDemand, conf.sourceOnDemandStartTimeout, conf.sourceOnDemandCloseAfter]);
    if (this.sources.get(path)?.settings === settings) return;
    this.drop(path, 'its source settings changed');
    if (!isPullSource(conf.source)) return;
    const groups = matchPath(this.o.config(), path.name)?.match?.slice(1) ?? [];
    const parsed = parseSource(expandSource(conf.source, path.name, groups));
    const source = new PullSource({
      path,
      protocol: 'error' in parsed ? 'unusable' : parsed.protocol,
      display: 'error' in parsed ? conf.source.replace(/[?#].*$/, '') : parsed.display,
      remoteAddress: 'error' in parsed ? '' : remoteAddressOf(parsed),
      puller: 'error' in parsed ? unusable(parsed.error) : pullerFor(parsed),
      onDemand: conf.sourceOnDemand ? { startTimeoutMs: conf.sourceOnDemandStartTimeout, closeAfterMs: conf.sourceOnDemandCloseAfter } : undefined,
      options: () => {
        const c = this.o.config();
        return { readTimeoutMs: c.readTimeout, maxMessageSize: c.rtmpMaxMessageSize, log: this.log };
      },
      log: this.log,
      idle: (idlePath) => this.o.paths.release(idlePath),
    });
    this.sources.set(path, { source, settings });
  }

  private drop(path: Path, reason: string): void {
    const entry = this.sources.get(path);
    if (entry === undefined) return;
    this.sources.delete(path);
    entry.source.close(reason);
  }
}

function pullerFor(target: SourceTarget): Puller {
  switch (target.protocol) {
    case 'rtmp':
      return rtmpPuller(target);
    case 'ws-nal':
      return wsNalPuller(target);
    case 'moqt':
      return moqtPuller(target);
  }
}

function remoteAddressOf(target: SourceTarget): string {
  if (target.protocol === 'rtmp' || target.protocol === 'moqt') return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  return new URL(target.url).host;
}

/**
 * A ~regex path's groups made its source URL unusable (the configuration
 * check saw the URL with `$G1` in it): every attempt fails with the reason,
 * so it is logged, and on-demand readers are told after the start timeout.
 */
function unusable(reason: string): Puller {
  return (_feed, events) => {
    const timer = setTimeout(() => events.closed(reason), 0);
    return { close: () => clearTimeout(timer) };
  };
}
