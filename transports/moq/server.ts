import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { newSubscriptionCounters, subscriptionStats, type SubscriptionStats } from '../../src/metrics/subscription-stats.js';
import type { StreamSession } from '../../src/protocols/stream-session.js';
import type { WebTransportSession } from '../../src/protocols/webtransport/session.js';
import type { Transport, TransportContext, UpgradeRoute, WebTransportRoute } from '../../src/transport.js';
import { BroadcastDirectory } from './directory.js';
import { MoqErrorCode, PROTOCOL_VERSIONS } from './messages.js';
import { MoqSession } from './session.js';
import { MoqWebSocketRoute } from './websocket.js';

export interface MoqTransportOptions {
  /** Group streams one subscription may have on the wire at once (default 2). */
  maxGroupsInFlight?: number;
  /** Bytes one group may have waiting for flow control before it is dropped (default 4 MiB). */
  maxQueuedBytes?: number;
}

/**
 * `moq`: the publisher side of moq-lite over WebTransport at `/moq`, every
 * Polycast path a broadcast with a hang catalog (docs/protocols/moq.md).
 */
export class MoqTransport implements Transport {
  readonly name = 'moq';
  readonly upgrades: readonly UpgradeRoute[];
  readonly webTransportRoutes: readonly WebTransportRoute[];
  private readonly log: Logger;
  private readonly directory: BroadcastDirectory;
  private readonly open = new Set<MoqSession>();
  private readonly counters = newSubscriptionCounters();
  /** lite-05 ANNOUNCE_OK names the responder: a random non-zero 62-bit id for this server's life. */
  private readonly origin = (randomBytes(8).readBigUInt64BE() & ((1n << 62n) - 1n)) | 1n;
  private readonly websocket: MoqWebSocketRoute;

  constructor(
    private readonly ctx: TransportContext,
    private readonly opts: MoqTransportOptions = {},
  ) {
    this.log = ctx.log.child({ transport: this.name });
    this.directory = new BroadcastDirectory(ctx.paths);
    this.webTransportRoutes = [
      {
        kind: 'exact',
        path: 'moq',
        selectProtocol: (offered) => selectProtocol(offered),
        handleSession: (session, _pathName, protocol) => this.handleSession(fromWebTransport(session), protocol, 'webtransport'),
      },
    ];
    // The same URL as a WebSocket upgrade: QMux carries the same moq-lite session.
    this.websocket = new MoqWebSocketRoute({
      ctx,
      log: this.log,
      applications: [...PROTOCOL_VERSIONS.keys(), COMPAT_APPLICATION],
      onSession: (session, application) =>
        this.handleSession(session, application === COMPAT_APPLICATION ? undefined : application, 'websocket'),
    });
    this.upgrades = [this.websocket];
  }

  get sessions(): ReadonlySet<MoqSession> {
    return this.open;
  }

  /** For metrics, like the other WebTransport transports. */
  get groupsDropped(): number {
    return this.stats.groupsDropped;
  }

  get stats(): SubscriptionStats {
    return subscriptionStats(this.counters, this.open);
  }

  /** `protocol`: the subprotocol selected for it, which pins the moq-lite version; none means the compat setup decides. */
  handleSession(session: StreamSession, protocol: string | undefined, binding: 'webtransport' | 'websocket'): void {
    const req = session.request;
    const lease = this.ctx.connections?.reserve(`${req.remoteAddress}:${req.remotePort}`);
    if (lease !== undefined && 'refused' in lease) {
      this.log.warn({ remoteAddress: req.remoteAddress, reason: lease.refused }, 'moq session refused');
      session.close(MoqErrorCode.TooMany, lease.refused);
      return;
    }
    const s = new MoqSession({
      lease,
      version: protocol === undefined ? undefined : PROTOCOL_VERSIONS.get(protocol),
      session,
      binding,
      origin: this.origin,
      ctx: this.ctx,
      directory: this.directory,
      counters: this.counters,
      log: this.log,
      maxGroupsInFlight: this.opts.maxGroupsInFlight,
      maxQueuedBytes: this.opts.maxQueuedBytes,
      onClose: (closed) => {
        this.open.delete(closed);
        this.log.debug({ session: closed.id, remoteAddress: closed.remoteAddress }, 'moq session ended');
      },
    });
    this.open.add(s);
    this.counters.sessionsTotal++;
    this.log.debug({ session: s.id, remoteAddress: s.remoteAddress }, 'moq session started');
  }

  close(reason: string): void {
    for (const s of [...this.open]) s.close(MoqErrorCode.GoingAway, reason);
    this.websocket.close();
    this.directory.close();
  }
}

/** `moql` over QMux (and no application protocol at all) leaves the version to the compat setup. */
const COMPAT_APPLICATION = 'moql';

/** A WebTransport session in the shape moq-lite is written against. */
function fromWebTransport(s: WebTransportSession): StreamSession {
  return {
    request: s.request,
    closed: s.closed,
    acceptStreams: (h) => {
      s.onBidiStream = h.bidi;
      s.onUniStream = h.uni;
    },
    createUniStream: (priority) => s.createUniStream(priority),
    close: (code, reason) => s.close(code, reason),
  };
}

/**
 * Our preferred moq-lite subprotocol among those offered. Offers of other
 * versions only (IETF drafts, `moql`, lite-06-wip) select none: such a client
 * then runs the compat setup, which settles on lite-02 or lite-01.
 */
export function selectProtocol(offered: readonly string[]): string | undefined {
  for (const name of PROTOCOL_VERSIONS.keys()) if (offered.includes(name)) return name;
  return undefined;
}
