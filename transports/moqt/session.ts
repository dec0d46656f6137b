/**
 * The publisher side of one moq-transport session. Draft 16: the client's
 * first bidirectional stream is the control stream (CLIENT_SETUP, then
 * SUBSCRIBE / UNSUBSCRIBE and our answers, keyed by Request ID). Draft 17
 * on: each side sends SETUP on a unidirectional stream it keeps open, and
 * every request is a bidirectional stream of its own, ended by the client to
 * unsubscribe. Either way a malformed or unknown message closes this session
 * with PROTOCOL_VIOLATION and nothing else.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { apiTypeOf } from '../../src/hooks.js';
import type { ConnectionLease } from '../../src/limits.js';
import { MoqtProtocolError, MoqtRequestError, MoqtSessionCode, MoqtStreamEndedError } from '../../src/protocols/moqt/errors.js';
import {
  decodeRequestId,
  decodeSetup,
  decodeSubscribe,
  encodeMaxRequestId,
  encodeRequestError,
  encodeSetup,
  encodeSubscribeOk,
  MessageType,
  REFUSED_REQUESTS,
  type SubscribeRequest,
} from '../../src/protocols/moqt/messages.js';
import { LOC_TIMESCALE } from '../../src/protocols/moqt/objects.js';
import { MoqtStreamReader } from '../../src/protocols/moqt/stream-reader.js';
import { hasStreamPerRequest, type MoqtDraft } from '../../src/protocols/moqt/version.js';
import type { BidiStream, ReceiveStream, SendStream } from '../../src/protocols/stream-session.js';
import { WebTransportSessionClosedError, WebTransportStreamError, type WebTransportSession } from '../../src/protocols/webtransport/session.js';
import type { KickCode } from '../../src/stream/reader.js';
import { authorizeSessionRead, SessionPaths } from '../../src/session-reader.js';
import type { TransportContext } from '../../src/transport.js';
import { isMoqtTrackName } from './msf.js';
import { FrameSubscription, MediaMtxView } from './mediamtx-view.js';
import { PathView } from './path-view.js';
import { MoqtSubscription } from './subscription.js';
import { liveGroupFigures, type SubscriptionCounters } from '../../src/metrics/subscription-stats.js';


export interface MoqtSessionOptions {
  readonly session: WebTransportSession;
  readonly draft: MoqtDraft;
  readonly ctx: TransportContext;
  readonly log: Logger;
  readonly counters: SubscriptionCounters;
  readonly lease?: ConnectionLease;
  readonly maxGroupsInFlight?: number;
  readonly maxQueuedBytes?: number;
  readonly setupTimeoutMs?: number;
  /**
   * The path the CONNECT named (`/<path>`): the session is MediaMTX-shaped
   * (mediamtx-view.ts): every SUBSCRIBE is for this path whatever its
   * namespace, to `.catalog` or a catalog index.
   */
  readonly boundPath?: string;
  onClose(session: MoqtSession): void;
}

/** A setup is a few dozen bytes; a SUBSCRIBE a namespace, a name and a few parameters. */
const MAX_SETUP_BYTES = 4096;
const MAX_CONTROL_BYTES = 16384;
const MAX_SUBSCRIPTIONS = 64;
const MAX_PATHS = 16;
/** Draft 17: request streams that may wait for the client's SETUP, each holding one bounded message. */
const MAX_EARLY_REQUESTS = 8;

const KICK_CODES: Record<KickCode, number> = {
  1001: MoqtSessionCode.NoError,
  1008: MoqtSessionCode.Unauthorized,
  1011: MoqtSessionCode.InternalError,
  1013: MoqtSessionCode.NoError,
  4404: MoqtSessionCode.NoError,
};

/** A request refused with REQUEST_ERROR; the session goes on. */
class Refusal extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

type ActiveSubscription =
  | { readonly kind: 'msf'; readonly sub: MoqtSubscription; readonly view: PathView }
  | { readonly kind: 'mediamtx'; readonly sub: FrameSubscription; readonly view: MediaMtxView };

export class MoqtSession {
  readonly id = randomBytes(4).toString('hex');
  readonly remoteAddress: string;
  private readonly draft: MoqtDraft;
  private readonly views: SessionPaths<PathView | MediaMtxView>;
  private readonly subscriptions = new Map<number, ActiveSubscription>();
  private setupTimer: NodeJS.Timeout | undefined;
  private setupReceived = false;
  /** Draft 17: the client's first unidirectional stream is its SETUP stream; it opens no other. */
  private clientSetupStream = false;
  private resolveSetup!: () => void;
  private readonly clientSetUp = new Promise<void>((resolve) => (this.resolveSetup = resolve));
  private earlyRequests = 0;
  /** Draft 16: the control stream, and the Request ID flow control we grant on it. */
  private control: SendStream | undefined;
  private nextRequestId = 0;
  private maxRequestId = 2 * MAX_SUBSCRIPTIONS;
  /** Draft 17: our SETUP stream, kept open for the session's life (its end would tell the client we are gone). */
  private setupStream: SendStream | undefined;
  private nextAlias = 1;
  private closed = false;

  constructor(private readonly o: MoqtSessionOptions) {
    this.draft = o.draft;
    const req = o.session.request;
    this.remoteAddress = `${req.remoteAddress}:${req.remotePort}`;
    this.views = new SessionPaths({
      ctx: o.ctx,
      request: req,
      log: o.log,
      session: this.id,
      remoteAddress: this.remoteAddress,
      max: MAX_PATHS,
      make: (path) =>
        o.boundPath === undefined
          ? new PathView(path, this.draft, this.remoteAddress, o.ctx.writeQueueSize)
          : new MediaMtxView(path, this.draft, this.remoteAddress, o.ctx.writeQueueSize, (reason) => this.close(MoqtSessionCode.NoError, reason)),
      kick: (reason, code) => this.close(KICK_CODES[code], reason),
    });
    this.setupTimer = setTimeout(
      () => this.protocolError(new MoqtProtocolError('no SETUP within the time limit', MoqtSessionCode.ControlMessageTimeout)),
      o.setupTimeoutMs ?? 10_000,
    );
    this.setupTimer.unref();
    o.session.onBidiStream = (stream) => this.acceptBidi(stream);
    o.session.onUniStream = (stream) => this.acceptUni(stream);
    if (hasStreamPerRequest(this.draft)) this.sendSetupStream();
    void o.session.closed.then((info) => this.finish(`session closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`));
  }

  get version(): string {
    return `moqt-${this.draft}`;
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  get groupsDropped(): number {
    return liveGroupFigures(this.subscriptions.values()).groupsDropped;
  }

  get groupsSent(): number {
    return liveGroupFigures(this.subscriptions.values()).groupsSent;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.o.session.close(code, reason);
    this.finish(reason);
  }

  private setUp(): void {
    this.setupReceived = true;
    if (this.setupTimer) clearTimeout(this.setupTimer);
    this.resolveSetup();
    this.o.lease?.identify(apiTypeOf('moqt'), this.id);
    this.o.log.debug({ session: this.id, version: this.version }, 'moqt session set up');
  }

  private sendSetupStream(): void {
    const setup = encodeSetup(this.draft, { implementation: this.o.ctx.serverName, maxRequestId: this.maxRequestId });
    this.o.session.createUniStream({ urgency: 0 }).then(
      (out) => {
        this.setupStream = out;
        out.write(setup).catch(() => {});
      },
      () => {},
    );
  }

  // ---- streams ----

  private acceptBidi(stream: BidiStream): void {
    if (this.closed) return refuse(stream);
    if (hasStreamPerRequest(this.draft)) {
      this.run(stream, () => this.serveRequestStream(stream));
    } else if (this.control === undefined) {
      this.control = stream;
      this.run(stream, () => this.serveControlStream(stream));
    } else {
      // Draft 16 moved SUBSCRIBE_NAMESPACE to bidirectional streams; we have no namespaces to offer that way.
      refuse(stream);
    }
  }

  private acceptUni(stream: ReceiveStream): void {
    if (this.closed || !hasStreamPerRequest(this.draft) || this.clientSetupStream) {
      // Data streams would be the client publishing, which this endpoint does not take.
      stream.stopSending(0);
      return;
    }
    this.clientSetupStream = true;
    const reader = new MoqtStreamReader(stream.readable, 'setup stream');
    void (async () => {
      const type = await reader.varint(this.draft);
      if (type !== MessageType.Setup) throw new MoqtProtocolError(`stream type 0x${type.toString(16)} before SETUP`);
      decodeSetup((await reader.body(this.draft, type, MAX_SETUP_BYTES)).body);
      this.setUp();
      // The stream stays open for a GOAWAY; nothing else may come on it.
      if (await reader.done()) return;
      const next = await reader.message(this.draft, MAX_CONTROL_BYTES);
      if (next.type !== MessageType.GoAway) throw new MoqtProtocolError(`message 0x${next.type.toString(16)} on the setup stream`);
      this.close(MoqtSessionCode.NoError, 'client going away');
    })().catch((err: unknown) => this.streamFailed(undefined, err));
  }

  /** Runs a stream's handler; its failure is judged by what it was. */
  private run(stream: BidiStream, serve: () => Promise<void>): void {
    serve().catch((err: unknown) => this.streamFailed(stream, err));
  }

  private streamFailed(stream: BidiStream | undefined, err: unknown): void {
    if (err instanceof MoqtProtocolError) {
      this.protocolError(err);
      return;
    }
    const gone = err instanceof MoqtStreamEndedError || err instanceof WebTransportStreamError || err instanceof WebTransportSessionClosedError;
    if (gone || this.closed) {
      if (stream !== undefined && stream === this.control) this.close(MoqtSessionCode.ProtocolViolation, 'control stream ended');
      else if (stream !== undefined) refuse(stream);
      return;
    }
    this.o.log.error({ session: this.id, err }, 'moqt session failed');
    this.close(MoqtSessionCode.InternalError, 'internal error');
  }

  // ---- draft 16: one control stream ----

  private async serveControlStream(stream: BidiStream): Promise<void> {
    const reader = new MoqtStreamReader(stream.readable, 'control stream');
    const first = await reader.varint(this.draft);
    if (first !== MessageType.ClientSetup) throw new MoqtProtocolError(`control stream opened with message 0x${first.toString(16)}`);
    decodeSetup((await reader.body(this.draft, first, MAX_SETUP_BYTES)).body);
    await stream.write(encodeSetup(this.draft, { implementation: this.o.ctx.serverName, maxRequestId: this.maxRequestId }));
    this.setUp();
    const send = (bytes: Uint8Array): void => void stream.write(bytes).catch(() => {});
    for (;;) {
      const { type, body } = await reader.message(this.draft, MAX_CONTROL_BYTES);
      if (this.closed) return;
      switch (type) {
        case MessageType.Subscribe: {
          const req = decodeSubscribe(body);
          this.takeRequestId(req.requestId);
          void this.subscribe(req, send).then(
            (ok) => ok || this.grantRequest(send),
            (err: unknown) => this.streamFailed(stream, err),
          );
          break;
        }
        case MessageType.Unsubscribe: {
          const id = decodeRequestId(body);
          body.end();
          if (this.endSubscription(id, 'unsubscribed')) this.grantRequest(send);
          break;
        }
        case MessageType.GoAway:
          this.close(MoqtSessionCode.NoError, 'client going away');
          return;
        // Updates to what we serve, flow control for requests we never make, ends of requests we refused: nothing to do.
        case MessageType.RequestUpdate:
        case MessageType.MaxRequestId:
        case MessageType.RequestsBlocked:
        case MessageType.PublishNamespaceDone:
        case MessageType.PublishNamespaceCancel:
        case MessageType.UnsubscribeNamespace:
        case MessageType.FetchCancel:
          break;
        default: {
          if (!REFUSED_REQUESTS.has(type)) throw new MoqtProtocolError(`unknown control message type 0x${type.toString(16)}`);
          const requestId = decodeRequestId(body);
          this.takeRequestId(requestId);
          send(encodeRequestError(this.draft, { requestId, code: MoqtRequestError.NotSupported, reason: 'this endpoint only serves SUBSCRIBE' }));
          this.grantRequest(send);
        }
      }
    }
  }

  /** Draft 16 Request IDs: the client's are even and consecutive, below the maximum we granted. */
  private takeRequestId(id: number): void {
    if (id !== this.nextRequestId) throw new MoqtProtocolError(`request id ${id}, expected ${this.nextRequestId}`, MoqtSessionCode.InvalidRequestId);
    if (id >= this.maxRequestId) throw new MoqtProtocolError(`request id ${id} beyond the maximum ${this.maxRequestId}`, MoqtSessionCode.TooManyRequests);
    this.nextRequestId += 2;
  }

  /** A finished request frees its place: the client may make one more. */
  private grantRequest(send: (bytes: Uint8Array) => void): void {
    if (this.closed) return;
    this.maxRequestId += 2;
    send(encodeMaxRequestId(this.draft, this.maxRequestId));
  }

  // ---- draft 17 on: a stream per request ----

  private async serveRequestStream(stream: BidiStream): Promise<void> {
    const reader = new MoqtStreamReader(stream.readable, 'request stream');
    const type = await reader.varint(this.draft);
    if (type !== MessageType.Subscribe && !REFUSED_REQUESTS.has(type)) throw new MoqtProtocolError(`unknown request type 0x${type.toString(16)}`);
    const { body } = await reader.body(this.draft, type, MAX_CONTROL_BYTES);
    if (!this.setupReceived) {
      if (++this.earlyRequests > MAX_EARLY_REQUESTS) throw new MoqtProtocolError('too many requests before SETUP');
      await this.clientSetUp;
      this.earlyRequests--;
      if (this.closed) return;
    }
    const send = (bytes: Uint8Array): void => void stream.write(bytes).catch(() => {});
    if (type !== MessageType.Subscribe) {
      send(encodeRequestError(this.draft, { requestId: 0, code: MoqtRequestError.NotSupported, reason: 'this endpoint only serves SUBSCRIBE' }));
      stream.end().catch(() => {});
      return;
    }
    const req = decodeSubscribe(body);
    if (this.subscriptions.has(req.requestId)) throw new MoqtProtocolError(`request id ${req.requestId} reused`, MoqtSessionCode.InvalidRequestId);
    if (!(await this.subscribe(req, send))) {
      stream.end().catch(() => {});
      return;
    }
    try {
      // The client ends the subscription by finishing its side; until then only updates may come, which change nothing we do.
      while (!(await reader.done())) {
        const update = await reader.message(this.draft, MAX_CONTROL_BYTES);
        if (update.type !== MessageType.RequestUpdate) throw new MoqtProtocolError(`message 0x${update.type.toString(16)} on a subscription stream`);
      }
      stream.end().catch(() => {});
    } finally {
      this.endSubscription(req.requestId, 'unsubscribed');
    }
  }

  // ---- SUBSCRIBE ----

  /** Answers a SUBSCRIBE with SUBSCRIBE_OK and starts the track, or with REQUEST_ERROR; true when subscribed. */
  private async subscribe(req: SubscribeRequest, send: (bytes: Uint8Array) => void): Promise<boolean> {
    if (this.o.boundPath !== undefined) return this.subscribeBound(this.o.boundPath, req, send);
    const path = req.namespace.join('/');
    let active: ActiveSubscription & { kind: 'msf' };
    try {
      if (!req.forward) throw new Refusal(MoqtRequestError.NotSupported, 'Forward=0 is not supported');
      if (req.namespace.length === 0 || req.namespace.some((f) => f === '' || f.includes('/'))) throw new Refusal(MoqtRequestError.DoesNotExist, 'no such namespace');
      if (!isMoqtTrackName(req.track)) throw new Refusal(MoqtRequestError.DoesNotExist, `no track '${req.track}'`);
      if (this.subscriptions.size >= MAX_SUBSCRIPTIONS) throw new Refusal(MoqtRequestError.InternalError, 'too many subscriptions');
      const view = await this.authorizedView(path, req);
      if (view === undefined) return false;
      if (!(view instanceof PathView)) throw new Error('a /moqt session reads paths through PathViews');
      const sub = new MoqtSubscription({
        session: this.o.session,
        draft: this.draft,
        requestId: req.requestId,
        alias: this.nextAlias++,
        track: req.track,
        maxGroupsInFlight: this.o.maxGroupsInFlight,
        maxQueuedBytes: this.o.maxQueuedBytes,
      });
      active = { kind: 'msf', sub, view };
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.refuseSubscription(req, path, err, send);
      return false;
    }
    const { sub, view } = active;
    this.subscriptions.set(req.requestId, active);
    this.o.counters.subscriptionsTotal++;
    send(encodeSubscribeOk(this.draft, { requestId: req.requestId, alias: sub.alias, largest: view.largest(req.track), timescale: LOC_TIMESCALE }));
    view.add(sub, !req.nextGroupStart);
    this.o.log.debug({ session: this.id, requestId: req.requestId, path, track: req.track }, 'moqt subscribed');
    return true;
  }

  /**
   * SUBSCRIBE in a session opened at `/<path>`, as MediaMTX's clients make
   * it: the namespace is not looked at (MediaMTX's source sends an empty
   * one, its reader page `("stream")`), the track is `.catalog` or a catalog
   * index, the alias is the Request ID, and SUBSCRIBE_OK has no parameters.
   */
  private async subscribeBound(path: string, req: SubscribeRequest, send: (bytes: Uint8Array) => void): Promise<boolean> {
    let active: ActiveSubscription & { kind: 'mediamtx' };
    try {
      if (!req.forward) throw new Refusal(MoqtRequestError.NotSupported, 'Forward=0 is not supported');
      if (this.subscriptions.size >= MAX_SUBSCRIPTIONS) throw new Refusal(MoqtRequestError.InternalError, 'too many subscriptions');
      const view = await this.authorizedView(path, req);
      if (view === undefined) return false;
      if (!(view instanceof MediaMtxView)) throw new Error('a /<path> session reads its path through a MediaMtxView');
      const role = view.roleOf(req.track);
      if (role === undefined) {
        if (view.subscriptions.size === 0) this.views.leave(view, 'no such track');
        throw new Refusal(MoqtRequestError.DoesNotExist, `no track '${req.track.slice(0, 40)}' (subscribe to '.catalog' first, then to its track names)`);
      }
      const sub = new FrameSubscription({
        session: this.o.session,
        draft: this.draft,
        requestId: req.requestId,
        alias: req.requestId,
        role,
        maxQueuedBytes: this.o.maxQueuedBytes,
      });
      active = { kind: 'mediamtx', sub, view };
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.refuseSubscription(req, path, err, send);
      return false;
    }
    const { sub, view } = active;
    this.subscriptions.set(req.requestId, active);
    this.o.counters.subscriptionsTotal++;
    send(encodeSubscribeOk(this.draft, { requestId: req.requestId, alias: sub.alias, timescale: view.timescaleOf(sub.role) }));
    view.add(sub);
    this.o.log.debug({ session: this.id, requestId: req.requestId, path, track: req.track }, 'moqt subscribed (MediaMTX shape)');
    return true;
  }

  /**
   * What every SUBSCRIBE goes through once its own checks passed: read
   * authorization for the path, then (the session may have ended meanwhile:
   * undefined) a fresh request id, room for one more subscription, and the
   * path's view. Refusals are thrown for the caller to answer.
   */
  private async authorizedView(path: string, req: SubscribeRequest): Promise<PathView | MediaMtxView | undefined> {
    await this.authorize(path, req.authorization);
    if (this.closed) return undefined;
    if (this.subscriptions.has(req.requestId)) throw new MoqtProtocolError(`request id ${req.requestId} reused`, MoqtSessionCode.InvalidRequestId);
    if (this.subscriptions.size >= MAX_SUBSCRIPTIONS) throw new Refusal(MoqtRequestError.InternalError, 'too many subscriptions');
    const view = this.views.join(path);
    if ('refused' in view) throw new Refusal(view.refused === 'not-found' ? MoqtRequestError.DoesNotExist : MoqtRequestError.InternalError, view.message);
    return view;
  }

  private refuseSubscription(req: SubscribeRequest, path: string, err: Refusal, send: (bytes: Uint8Array) => void): void {
    this.o.log.info({ session: this.id, path, track: req.track.slice(0, 100), reason: err.message }, 'moqt subscription refused');
    send(encodeRequestError(this.draft, { requestId: req.requestId, code: err.code, reason: err.message }));
  }

  /** `token`: a SUBSCRIBE's AUTHORIZATION_TOKEN (`Basic …`, `Bearer …`), read as an HTTP `authorization` header when the CONNECT had none. */
  private async authorize(path: string, token: string | undefined): Promise<void> {
    let denied: string | undefined;
    const request = this.o.session.request;
    const withToken = token !== undefined && request.headers['authorization'] === undefined ? { ...request, headers: { ...request.headers, authorization: token } } : request;
    try {
      denied = await authorizeSessionRead(this.o.ctx, withToken, path, 'moqt');
    } catch (err) {
      throw new Refusal(MoqtRequestError.InternalError, `authorization failed: ${(err as Error).message}`);
    }
    if (denied !== undefined) throw new Refusal(MoqtRequestError.Unauthorized, denied);
  }

  private endSubscription(requestId: number, reason: string): boolean {
    const active = this.subscriptions.get(requestId);
    if (active === undefined) return false;
    this.subscriptions.delete(requestId);
    this.o.counters.groupsSent += active.sub.groups;
    this.o.counters.groupsDroppedClosed += active.sub.dropped;
    if (active.kind === 'msf') active.view.remove(active.sub);
    else active.view.remove(active.sub);
    if (active.view.subscriptions.size === 0) this.views.leave(active.view, reason);
    return true;
  }

  private protocolError(err: MoqtProtocolError): void {
    if (this.closed) return;
    this.o.counters.protocolErrors++;
    this.o.log.warn({ session: this.id, remoteAddress: this.remoteAddress, reason: err.message }, 'moqt session closed: protocol violation');
    this.close(err.code, err.message.slice(0, 200));
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.setupTimer) clearTimeout(this.setupTimer);
    this.resolveSetup();
    for (const id of [...this.subscriptions.keys()]) this.endSubscription(id, reason);
    this.views.leaveAll(reason);
    this.setupStream = undefined;
    this.o.lease?.release();
    this.o.onClose(this);
  }
}

/** Ends both directions of a stream we will not serve. */
function refuse(stream: BidiStream): void {
  try {
    stream.stopSending(0);
    stream.abort(0);
  } catch {
    // Already gone.
  }
}
