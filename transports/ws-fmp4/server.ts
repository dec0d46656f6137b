import type { SessionInfo, Transport, TransportContext, UpgradeRoute } from '../../src/transport.js';
import { WsReaderEndpoint } from '../../src/web/ws-endpoint.js';
import { RtwsFmpViewer } from './rtws-session.js';
import { StandardFmpViewer } from './standard-session.js';
import type { FmpViewerBase } from './viewer-base.js';

export interface WsFmp4Options {
  /** `webSocketProtocol`: the variant when the URL does not say. */
  defaultProtocol: 'rtwebsocket' | 'standard';
  /** `webSocketSegmentSize`: frames per fMP4 fragment. */
  segmentSize: number;
}

/** `ws-fmp4`: fragmented MP4 over WebSocket, plain or on RTWebSocket flows (docs/protocols/ws-fmp4.md). */
export class WsFmp4Transport implements Transport {
  readonly name = 'ws-fmp4';
  readonly upgrades: readonly UpgradeRoute[];
  private readonly endpoint: WsReaderEndpoint<FmpViewerBase>;

  constructor(ctx: TransportContext, opts: WsFmp4Options) {
    const log = ctx.log.child({ transport: this.name });
    this.endpoint = new WsReaderEndpoint<FmpViewerBase>({
      transport: this.name,
      ctx,
      log,
      create: ({ ws, output, pacer, req, path, remoteAddress, onClose }) => {
        const asked = new URL(req.url ?? '/', 'http://x').searchParams.get('protocol');
        const variant = asked === 'standard' || asked === 'rtwebsocket' ? asked : opts.defaultProtocol;
        const o = { path, ws, remoteAddress, queueSize: ctx.writeQueueSize, segmentSize: opts.segmentSize, serverName: ctx.serverName, log, onClose };
        // RTWebSocket paces itself by its own acknowledgements; the plain variant has only pongs.
        return variant === 'standard' ? new StandardFmpViewer(o, output, pacer) : new RtwsFmpViewer(o);
      },
      onDetached: (viewer) => {
        if (viewer instanceof RtwsFmpViewer) this.abandonedByGone += viewer.abandoned;
      },
      describe: (viewer) => ({ variant: viewer.variant, ...(viewer instanceof RtwsFmpViewer ? { abandoned: viewer.abandoned } : {}) }),
    });
    this.upgrades = [{ suffix: 'ws/fmp4', handleUpgrade: (req, socket, head, path) => this.endpoint.handleUpgrade(req, socket, head, path) }];
  }

  /** Current viewers (for the API, metrics and tests). */
  get viewers(): ReadonlySet<FmpViewerBase> {
    return this.endpoint.viewers;
  }

  /** RTWebSocket messages abandoned past their deadline, over all viewers so far (metrics). */
  get abandonedMessages(): number {
    let n = this.abandonedByGone;
    for (const viewer of this.endpoint.viewers) if (viewer instanceof RtwsFmpViewer) n += viewer.abandoned;
    return n;
  }

  private abandonedByGone = 0;

  apiSessions(): SessionInfo[] {
    return this.endpoint.sessions();
  }

  kickSession(id: string, reason: string): boolean {
    return this.endpoint.kick(id, reason);
  }

  flushed(timeoutMs: number): Promise<void> {
    return this.endpoint.flushed(timeoutMs);
  }

  close(reason: string): void {
    this.endpoint.close(reason);
  }
}
