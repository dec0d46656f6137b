import { PathError } from '../../src/stream/path.js';
import type { Transport, TransportContext, UpgradeRoute, WebTransportRoute } from '../../src/transport.js';
import type { WebTransportSession } from '../../src/protocols/webtransport/session.js';
import { WtFmpViewer } from './session.js';

const TICK_MS = 2000;

/** `wt-fmp4`: fragmented MP4 over WebTransport, one stream per GOP (docs/protocols/wt-fmp4.md). */
export class WtFmp4Transport implements Transport {
  readonly name = 'wt-fmp4';
  readonly upgrades: readonly UpgradeRoute[] = [];
  readonly webTransportRoutes: readonly WebTransportRoute[];
  readonly viewers = new Set<WtFmpViewer>();
  private readonly timer: NodeJS.Timeout;
  private readonly log;

  constructor(private readonly ctx: TransportContext) {
    this.log = ctx.log.child({ transport: this.name });
    this.webTransportRoutes = [{ kind: 'suffix', path: 'wt/fmp4', handleSession: (session, pathName) => void this.accept(session, pathName ?? '') }];
    this.timer = setInterval(() => {
      for (const v of this.viewers) v.sendStats();
    }, TICK_MS);
    this.timer.unref();
  }

  /** Groups reset because a viewer could not keep up, over all viewers so far. */
  get groupsDropped(): number {
    let n = this.droppedByGone;
    for (const v of this.viewers) n += v.groups.dropped;
    return n;
  }

  private droppedByGone = 0;

  close(reason: string): void {
    clearInterval(this.timer);
    for (const v of [...this.viewers]) v.close(0, reason);
  }

  private async accept(session: WebTransportSession, pathName: string): Promise<void> {
    const remoteAddress = `${session.request.remoteAddress}:${session.request.remotePort}`;
    const acquired = this.ctx.paths.acquire(pathName);
    if (!('name' in acquired)) {
      session.close(404, acquired.error.slice(0, 200));
      return;
    }
    const path = acquired;
    if (this.ctx.authorizeRead !== undefined) {
      const query = new URL(session.request.path, 'https://x').searchParams;
      let denied: string | undefined;
      try {
        denied = await this.ctx.authorizeRead({ path: pathName, transport: this.name, query, headers: session.request.headers, remoteAddress, ip: session.request.remoteAddress });
      } catch (err) {
        denied = `authorization failed: ${(err as Error).message}`;
      }
      if (denied !== undefined) {
        this.log.warn({ path: pathName, remoteAddress, reason: denied }, 'viewer refused');
        session.close(401, denied.slice(0, 200));
        this.ctx.paths.release(path);
        return;
      }
    }
    if (session.isClosed) {
      this.ctx.paths.release(path);
      return;
    }
    let attached = false;
    const viewer = new WtFmpViewer({
      session,
      path,
      queueSize: this.ctx.writeQueueSize,
      serverName: this.ctx.serverName,
      log: this.log,
      onClose: (v, reason) => {
        this.viewers.delete(v);
        this.droppedByGone += v.groups.dropped;
        path.removeReader(v.reader, reason);
        this.ctx.paths.release(path);
        if (attached) this.log.info({ path: path.name, remoteAddress, id: v.id, reason, groupsDropped: v.groups.dropped }, 'viewer disconnected');
      },
    });
    try {
      path.addReader(viewer.reader);
    } catch (err) {
      const reason = (err as Error).message;
      this.log.warn({ path: path.name, remoteAddress, reason }, 'viewer refused');
      viewer.close(err instanceof PathError && err.code === 'too-many-readers' ? 429 : 500, reason);
      return;
    }
    attached = true;
    this.viewers.add(viewer);
    this.log.info({ path: path.name, remoteAddress, id: viewer.id }, 'viewer connected');
  }
}
