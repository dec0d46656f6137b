import type { Logger } from 'pino';
import { newSubscriptionCounters, subscriptionStats, type SubscriptionStats } from '../../src/metrics/subscription-stats.js';
import { MoqtSessionCode } from '../../src/protocols/moqt/errors.js';
import { draftOfSubprotocol, selectDraft, subprotocolOf } from '../../src/protocols/moqt/version.js';
import type { WebTransportSession } from '../../src/protocols/webtransport/session.js';
import { reserveSession } from '../../src/session-reader.js';
import type { Transport, TransportContext, UpgradeRoute, WebTransportRoute } from '../../src/transport.js';
import { MoqtSession } from './session.js';

export interface MoqtTransportOptions {
  /** Group streams one subscription may have on the wire at once (default 2). */
  maxGroupsInFlight?: number;
  /** Bytes one group may have waiting for flow control before it is dropped (default 4 MiB). */
  maxQueuedBytes?: number;
  /** A session that has not completed SETUP by then is closed (default 10 s). */
  setupTimeoutMs?: number;
}

/**
 * `moqt`: the publisher side of IETF moq-transport (drafts 16–19) over
 * WebTransport at `/moqt`, every Polycast path a track namespace with an MSF
 * catalog and LOC media tracks; and at `/<path>` (a CONNECT offering
 * `moqt-NN`) one path in the shape MediaMTX's clients read
 * (docs/protocols/moqt.md).
 */
export class MoqtTransport implements Transport {
  readonly name = 'moqt';
  readonly upgrades: readonly UpgradeRoute[] = [];
  readonly webTransportRoutes: readonly WebTransportRoute[];
  private readonly log: Logger;
  private readonly open = new Set<MoqtSession>();
  private readonly counters = newSubscriptionCounters();

  constructor(
    private readonly ctx: TransportContext,
    private readonly opts: MoqtTransportOptions = {},
  ) {
    this.log = ctx.log.child({ transport: this.name });
    this.webTransportRoutes = [
      {
        kind: 'exact',
        path: 'moqt',
        selectProtocol: (offered) => {
          const draft = selectDraft(offered);
          return draft === undefined ? undefined : subprotocolOf(draft);
        },
        handleSession: (session, _pathName, protocol) => this.handleSession(session, protocol, undefined),
      },
      {
        // MediaMTX's clients connect to `/<path>` with the moqt subprotocols: a session bound to that path, in MediaMTX's shape.
        kind: 'path',
        path: '',
        selectProtocol: (offered) => {
          const draft = selectDraft(offered);
          return draft === undefined ? undefined : subprotocolOf(draft);
        },
        handleSession: (session, pathName, protocol) => this.handleSession(session, protocol, pathName),
      },
    ];
  }

  get sessions(): ReadonlySet<MoqtSession> {
    return this.open;
  }

  get groupsDropped(): number {
    return this.stats.groupsDropped;
  }

  get stats(): SubscriptionStats {
    return subscriptionStats(this.counters, this.open);
  }

  private handleSession(session: WebTransportSession, protocol: string | undefined, boundPath: string | undefined): void {
    const req = session.request;
    const draft = draftOfSubprotocol(protocol);
    if (draft === undefined) {
      // Drafts before 15 put the version list in CLIENT_SETUP; none of ours is negotiated that way.
      this.log.info({ remoteAddress: req.remoteAddress }, 'moqt session refused: no moqt-16..19 subprotocol offered');
      session.close(MoqtSessionCode.ProtocolViolation, 'offer a moqt-16, moqt-17, moqt-18 or moqt-19 WebTransport subprotocol');
      return;
    }
    const slot = reserveSession(this.ctx, req, this.log, (code, reason) => session.close(code, reason), MoqtSessionCode.TooManyRequests);
    if (slot === undefined) return;
    const s = new MoqtSession({
      session,
      draft,
      lease: slot.lease,
      ctx: this.ctx,
      log: this.log,
      counters: this.counters,
      maxGroupsInFlight: this.opts.maxGroupsInFlight,
      maxQueuedBytes: this.opts.maxQueuedBytes,
      setupTimeoutMs: this.opts.setupTimeoutMs,
      ...(boundPath === undefined ? {} : { boundPath }),
      onClose: (closed) => {
        this.open.delete(closed);
        this.log.debug({ session: closed.id, remoteAddress: closed.remoteAddress }, 'moqt session ended');
      },
    });
    this.open.add(s);
    this.counters.sessionsTotal++;
    this.log.debug({ session: s.id, remoteAddress: s.remoteAddress, version: s.version, ...(boundPath === undefined ? {} : { path: boundPath }) }, 'moqt session started');
  }

  close(reason: string): void {
    for (const s of [...this.open]) s.close(MoqtSessionCode.NoError, reason);
  }
}
