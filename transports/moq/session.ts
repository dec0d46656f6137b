import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { redactQuery } from '../../src/auth/credentials.js';
import { apiTypeOf } from '../../src/hooks.js';
import type { ConnectionLease } from '../../src/limits.js';
import { PathError } from '../../src/stream/path.js';
import type { KickCode } from '../../src/stream/reader.js';
import type { TransportContext } from '../../src/transport.js';
import { QmuxStreamError } from '../../src/protocols/qmux/errors.js';
import type { BidiStream, ReceiveStream, StreamSession } from '../../src/protocols/stream-session.js';
import { WebTransportSessionClosedError, WebTransportStreamError } from '../../src/protocols/webtransport/session.js';
import { BroadcastViewer } from './broadcast.js';
import type { BroadcastDirectory } from './directory.js';
import {
  COMPAT_VERSIONS,
  decodeAnnounceRequest,
  decodeClientSetup,
  decodeSubscribe,
  decodeSetup,
  decodeSubscribeUpdate,
  decodeTrackRequest,
  DataType,
  encodeAnnounce,
  encodeAnnounceInit,
  encodeAnnounceOk,
  encodeServerSetup,
  encodeSetupStream,
  encodeSubscribeOk,
  encodeSubscribeStart,
  encodeTrackInfo,
  FRAME_TIMESCALE,
  hasAnnounceInit,
  isLite05,
  MoqErrorCode,
  SetupParameter,
  StreamType,
  versionName,
  type LiteVersion,
} from './messages.js';
import { isTrackName, TRACK_PRIORITY, TrackSubscription } from './tracks.js';
import { MoqProtocolError, MoqStreamClosedError, pathSuffix, StreamReader } from './wire.js';
import { liveGroupFigures, type SubscriptionCounters } from '../../src/metrics/subscription-stats.js';

/** Counters the transport aggregates over its sessions. */

export interface MoqSessionOptions {
  /** WebTransport or QMux: the session logic is the same. */
  readonly session: StreamSession;
  /** How the client reached us, for logs and stats. */
  readonly binding: 'webtransport' | 'websocket';
  /** Our origin id for lite-05's ANNOUNCE_OK: one per server, never 0. */
  readonly origin: bigint;
  readonly ctx: TransportContext;
  readonly directory: BroadcastDirectory;
  readonly counters: SubscriptionCounters;
  readonly log: Logger;
  /** Set when the WebTransport subprotocol fixed the version; otherwise the client's compat setup chooses it. */
  readonly version?: LiteVersion;
  /** Group streams a subscription may have on the wire at once. */
  readonly maxGroupsInFlight?: number;
  /** Bytes a group may have waiting for flow control before it is dropped. */
  readonly maxQueuedBytes?: number;
  readonly setupTimeoutMs?: number;
  /** This client's `maxConnections` slot; identified once the session is set up, released when it ends. */
  readonly lease?: ConnectionLease;
  onClose(session: MoqSession): void;
}

/** A subscription refused without fault on the client's side: its stream is reset with `code`, the session goes on. */
class Refusal extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const SERVED_STREAM_TYPES = new Set<number>([StreamType.Announce, StreamType.Subscribe, StreamType.Track]);
/** Defined by moq-lite but not served (an origin has nothing to fetch; we do not probe): refused, not fatal. */
const REFUSED_STREAM_TYPES = new Set<number>([StreamType.Session, StreamType.Fetch, StreamType.Probe, StreamType.Goaway]);
/** A lite-05 SETUP is a few bytes of parameters. */
const MAX_SETUP_BYTES = 4096;

/** The core's reasons to end a reader, as moq session close codes. */
const KICK_CODES: Record<KickCode, number> = {
  1001: MoqErrorCode.GoingAway,
  1008: MoqErrorCode.Unauthorized,
  1011: MoqErrorCode.Internal,
  1013: MoqErrorCode.NotFound,
  4404: MoqErrorCode.NotFound,
};

const MAX_SUBSCRIPTIONS = 64;
const MAX_ANNOUNCE_STREAMS = 16;
const MAX_BROADCASTS = 16;

interface ActiveSubscription {
  readonly sub: TrackSubscription;
  readonly viewer: BroadcastViewer;
}

/**
 * The publisher side of one moq-lite session: the setup handshake, ANNOUNCE
 * streams fed from the live paths, SUBSCRIBE streams answered with group
 * streams. A malformed message closes this session and nothing else.
 */
export class MoqSession {
  readonly id = randomBytes(4).toString('hex');
  private version: LiteVersion | undefined;
  private resolveVersion!: (v: LiteVersion) => void;
  private readonly versionKnown: Promise<LiteVersion>;
  private setupSeen = false;
  private setupTimer: NodeJS.Timeout | undefined;
  private readonly viewers = new Map<string, BroadcastViewer>();
  private readonly subscriptions = new Map<bigint, ActiveSubscription>();
  private readonly announceCleanups = new Set<() => void>();
  private closed = false;
  readonly remoteAddress: string;

  constructor(private readonly o: MoqSessionOptions) {
    const req = o.session.request;
    this.remoteAddress = `${req.remoteAddress}:${req.remotePort}`;
    this.versionKnown = new Promise((resolve) => {
      this.resolveVersion = resolve;
    });
    if (o.version !== undefined) this.chooseVersion(o.version);
    else {
      this.setupTimer = setTimeout(() => this.protocolError(new MoqProtocolError('no setup within the time limit')), o.setupTimeoutMs ?? 10_000);
      this.setupTimer.unref();
    }
    o.session.acceptStreams({ bidi: (stream) => this.accept(stream), uni: (stream) => this.acceptUni(stream) });
    void o.session.closed.then((info) => this.finish(`session closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`));
  }

  get binding(): 'webtransport' | 'websocket' {
    return this.o.binding;
  }

  get negotiatedVersion(): string | undefined {
    return this.version === undefined ? undefined : versionName(this.version);
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  /** Groups dropped by this session's live subscriptions. */
  get groupsDropped(): number {
    return liveGroupFigures(this.subscriptions.values()).groupsDropped;
  }

  /** Groups started by this session's live subscriptions. */
  get groupsSent(): number {
    return liveGroupFigures(this.subscriptions.values()).groupsSent;
  }

  /** Live subscriptions, for the transport's stats and tests. */
  get tracks(): TrackSubscription[] {
    return [...this.subscriptions.values()].map((s) => s.sub);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.o.session.close(code, reason);
    this.finish(reason);
  }

  private chooseVersion(v: LiteVersion): void {
    this.version = v;
    if (this.setupTimer) clearTimeout(this.setupTimer);
    this.resolveVersion(v);
    this.o.lease?.identify(apiTypeOf('moq'), this.id);
    this.o.log.debug({ session: this.id, version: versionName(v), binding: this.o.binding }, 'moq session set up');
    if (isLite05(v)) this.sendSetup();
  }

  /** lite-05: each side's SETUP goes on a unidirectional stream of its own. Ours advertises nothing. */
  private sendSetup(): void {
    this.o.session.createUniStream({ urgency: 0 }).then(
      (out) => {
        out.write(encodeSetupStream()).catch(() => {});
        out.end().catch(() => {});
      },
      () => {},
    );
  }

  /** Client unidirectional streams exist from lite-05 on, and only to carry its SETUP. */
  private acceptUni(stream: ReceiveStream): void {
    if (this.closed || this.version === undefined || !isLite05(this.version)) {
      stream.stopSending(MoqErrorCode.Unsupported);
      return;
    }
    const reader = new StreamReader(stream.readable, 'uni stream');
    void (async () => {
      const type = await reader.varint();
      if (type !== DataType.Setup) throw new MoqProtocolError(`client unidirectional stream of type ${type}`);
      if (this.setupSeen) throw new MoqProtocolError('a second setup');
      this.setupSeen = true;
      decodeSetup(await reader.message('setup', MAX_SETUP_BYTES));
      if (!(await reader.done())) throw new MoqProtocolError('data after the setup');
    })().catch((err: unknown) => {
      if (err instanceof MoqProtocolError) this.protocolError(err);
      else stream.stopSending(MoqErrorCode.None);
    });
  }

  private accept(stream: BidiStream): void {
    if (this.closed) {
      refuse(stream, MoqErrorCode.GoingAway);
      return;
    }
    const reader = new StreamReader(stream.readable, 'stream');
    this.serve(stream, reader).catch((err: unknown) => this.streamFailed(stream, err));
  }

  private async serve(stream: BidiStream, reader: StreamReader): Promise<void> {
    const type = await reader.varint();
    if (type === StreamType.ClientCompat) {
      if (this.setupSeen || this.version !== undefined) throw new MoqProtocolError('a second setup');
      this.setupSeen = true;
      await this.runSetup(stream, reader);
      return;
    }
    // Judged before waiting for the setup: garbage must not sit out the setup timeout.
    if (!SERVED_STREAM_TYPES.has(type) && !REFUSED_STREAM_TYPES.has(type)) throw new MoqProtocolError(`unknown stream type ${type}`);
    const version = await this.versionKnown;
    if (this.closed) return;
    switch (type) {
      case StreamType.Announce:
        await this.runAnnounce(stream, reader, version);
        return;
      case StreamType.Subscribe:
        await this.runSubscribe(stream, reader, version);
        return;
      case StreamType.Track:
        if (isLite05(version)) {
          await this.runTrack(stream, reader);
          return;
        }
        refuse(stream, MoqErrorCode.Unsupported);
        return;
      default:
        refuse(stream, MoqErrorCode.Unsupported);
    }
  }

  /**
   * The compat handshake: CLIENT_SETUP in IETF draft-14 framing lists the
   * versions; we answer with the moq-lite one we speak. The stream then stays
   * open as the session stream, and its end is the session's end.
   */
  private async runSetup(stream: BidiStream, reader: StreamReader): Promise<void> {
    // A real setup is a few dozen bytes; a huge length would only hold the session open until the setup timeout.
    const setup = decodeClientSetup(await reader.messageU16('client setup', 4096));
    const chosen = COMPAT_VERSIONS.find((v) => setup.versions.includes(v));
    if (chosen === undefined) {
      const offered = setup.versions.map(versionName).join(', ');
      this.o.log.info({ session: this.id, remoteAddress: this.remoteAddress, offered }, 'moq session refused: no common version');
      this.close(MoqErrorCode.Unsupported, `no common version (offered: ${offered})`.slice(0, 200));
      return;
    }
    const implementation = new TextEncoder().encode(this.o.ctx.serverName);
    await stream.write(encodeServerSetup(chosen, new Map([[SetupParameter.Implementation, implementation]])));
    this.chooseVersion(chosen);
    // lite-01/02 clients send nothing more here but SESSION_INFO (a bitrate), which we have no use for.
    try {
      while (!(await reader.done())) await reader.message('session info');
    } catch (err) {
      if (!(err instanceof MoqStreamClosedError)) throw err;
    }
    this.close(MoqErrorCode.None, 'session stream ended');
  }

  private async runAnnounce(stream: BidiStream, reader: StreamReader, version: LiteVersion): Promise<void> {
    const req = decodeAnnounceRequest(await reader.message('announce request'), version);
    if (this.announceCleanups.size >= MAX_ANNOUNCE_STREAMS) {
      refuse(stream, MoqErrorCode.TooMany);
      return;
    }
    const { directory } = this.o;
    const send = (bytes: Uint8Array): void => {
      stream.write(bytes).catch(() => {});
    };
    const initial: string[] = [];
    for (const name of directory.list()) {
      const suffix = pathSuffix(req.prefix, name);
      if (suffix !== undefined) initial.push(suffix);
    }
    if (hasAnnounceInit(version)) send(encodeAnnounceInit(initial));
    else {
      if (isLite05(version)) send(encodeAnnounceOk(this.o.origin, initial.length));
      for (const suffix of initial) send(encodeAnnounce(version, true, suffix));
    }
    const onChange = (name: string, live: boolean): void => {
      const suffix = pathSuffix(req.prefix, name);
      if (suffix !== undefined) send(encodeAnnounce(version, live, suffix));
    };
    directory.on('change', onChange);
    const cleanup = (): void => {
      directory.off('change', onChange);
      this.announceCleanups.delete(cleanup);
    };
    this.announceCleanups.add(cleanup);
    this.o.log.debug({ session: this.id, prefix: req.prefix, live: initial.length }, 'moq announce stream');
    try {
      if (!(await reader.done())) throw new MoqProtocolError('data after the announce request');
      stream.end().catch(() => {});
    } finally {
      cleanup();
    }
  }

  /**
   * TRACK (lite-05): the track's fixed properties, asked before subscribing.
   * Any of our track names is answered; the subscription is where a
   * broadcast is looked up and authorized.
   */
  private async runTrack(stream: BidiStream, reader: StreamReader): Promise<void> {
    const req = decodeTrackRequest(await reader.message('track'));
    if (!isTrackName(req.track)) {
      refuse(stream, MoqErrorCode.NotFound);
      return;
    }
    await stream.write(encodeTrackInfo(TRACK_PRIORITY[req.track], FRAME_TIMESCALE));
    await stream.end();
    // The client finishes its side once it has read the answer; reading to that FIN is what retires the stream.
    if (!(await reader.done())) throw new MoqProtocolError('data after the track request');
  }

  private async runSubscribe(stream: BidiStream, reader: StreamReader, version: LiteVersion): Promise<void> {
    const msg = decodeSubscribe(await reader.message('subscribe'), version);
    if (this.subscriptions.has(msg.id)) throw new MoqProtocolError(`subscription id ${msg.id} reused`);
    let active: ActiveSubscription;
    try {
      if (this.subscriptions.size >= MAX_SUBSCRIPTIONS) throw new Refusal(MoqErrorCode.TooMany, 'too many subscriptions');
      if (!isTrackName(msg.track)) throw new Refusal(MoqErrorCode.NotFound, `no track '${msg.track}'`);
      await this.authorize(msg.broadcast);
      if (this.closed) return;
      // Checked again: other subscriptions may have arrived while authorization was pending.
      if (this.subscriptions.has(msg.id)) throw new MoqProtocolError(`subscription id ${msg.id} reused`);
      if (this.subscriptions.size >= MAX_SUBSCRIPTIONS) throw new Refusal(MoqErrorCode.TooMany, 'too many subscriptions');
      const viewer = this.viewerFor(msg.broadcast);
      const sub = new TrackSubscription({
        session: this.o.session,
        id: msg.id,
        track: msg.track,
        timestamps: isLite05(version),
        maxInFlight: this.o.maxGroupsInFlight,
        maxQueuedBytes: this.o.maxQueuedBytes,
      });
      active = { sub, viewer };
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.o.log.info({ session: this.id, broadcast: msg.broadcast, track: msg.track, reason: err.message }, 'moq subscription refused');
      refuse(stream, err.code);
      return;
    }
    const { sub, viewer } = active;
    this.subscriptions.set(msg.id, active);
    this.o.counters.subscriptionsTotal++;
    // lite-05 has no SUBSCRIBE_OK: SUBSCRIBE_START names the first group, and ours always starts at 0.
    stream.write(isLite05(version) ? encodeSubscribeStart(0) : encodeSubscribeOk(version, msg.priority)).catch(() => {});
    viewer.add(sub);
    this.o.log.debug({ session: this.id, id: String(msg.id), broadcast: msg.broadcast, track: msg.track }, 'moq subscribed');
    try {
      // The client ends the subscription by finishing (or resetting) this stream; until then it may update its priority.
      while (!(await reader.done())) decodeSubscribeUpdate(await reader.message('subscribe update'), version);
      stream.end().catch(() => {});
    } finally {
      this.endSubscription(msg.id, 'unsubscribed');
    }
  }

  private async authorize(broadcast: string): Promise<void> {
    const { ctx } = this.o;
    if (ctx.authorizeRead === undefined) return;
    const req = this.o.session.request;
    let denied: string | undefined;
    try {
      denied = await ctx.authorizeRead({
        path: broadcast,
        transport: 'moq',
        query: new URL(req.path, 'https://x').searchParams,
        headers: req.headers,
        remoteAddress: req.remoteAddress,
        ip: req.remoteAddress,
      });
    } catch (err) {
      throw new Refusal(MoqErrorCode.Internal, `authorization failed: ${(err as Error).message}`);
    }
    if (denied !== undefined) throw new Refusal(MoqErrorCode.Unauthorized, denied);
  }

  private viewerFor(name: string): BroadcastViewer {
    const existing = this.viewers.get(name);
    if (existing !== undefined) return existing;
    if (this.viewers.size >= MAX_BROADCASTS) throw new Refusal(MoqErrorCode.TooMany, 'too many broadcasts');
    const { ctx, log } = this.o;
    const acquired = ctx.paths.acquire(name);
    if (!('name' in acquired)) throw new Refusal(MoqErrorCode.NotFound, acquired.error);
    const viewer = new BroadcastViewer(acquired, this.remoteAddress, ctx.writeQueueSize);
    viewer.reader.query = redactQuery(new URL(this.o.session.request.path, 'https://x').search.slice(1));
    // The session is the client: kicking its reader (API, path removed) ends it, as closing a socket does elsewhere.
    viewer.reader.kick = (reason, code) => this.close(KICK_CODES[code], reason);
    try {
      acquired.addReader(viewer.reader);
    } catch (err) {
      ctx.paths.release(acquired);
      const tooMany = err instanceof PathError && err.code === 'too-many-readers';
      throw new Refusal(tooMany ? MoqErrorCode.TooMany : MoqErrorCode.NotFound, (err as Error).message);
    }
    this.viewers.set(name, viewer);
    log.info({ path: name, remoteAddress: this.remoteAddress, id: viewer.id, session: this.id }, 'viewer connected');
    return viewer;
  }

  private endSubscription(id: bigint, reason: string): void {
    const active = this.subscriptions.get(id);
    if (active === undefined) return;
    this.subscriptions.delete(id);
    const { sub, viewer } = active;
    // Counted before the sender closes: the group cut short by the unsubscribe itself is no skip.
    this.o.counters.groupsSent += sub.groups;
    this.o.counters.groupsDroppedClosed += sub.dropped;
    viewer.remove(sub);
    if (viewer.subscriptions.size === 0) this.detach(viewer, reason);
  }

  private detach(viewer: BroadcastViewer, reason: string): void {
    if (this.viewers.get(viewer.path.name) !== viewer) return;
    this.viewers.delete(viewer.path.name);
    viewer.close();
    viewer.path.removeReader(viewer.reader, reason);
    this.o.ctx.paths.release(viewer.path);
    this.o.log.info({ path: viewer.path.name, remoteAddress: this.remoteAddress, id: viewer.id, session: this.id, reason }, 'viewer disconnected');
  }

  private streamFailed(stream: BidiStream, err: unknown): void {
    const gone =
      err instanceof MoqStreamClosedError ||
      err instanceof QmuxStreamError ||
      err instanceof WebTransportStreamError ||
      err instanceof WebTransportSessionClosedError;
    if (gone || this.closed) {
      // The peer reset or stopped this stream (or the session is gone): that stream's business only. Our
      // half is ended too, or the stream would stay open and count against the client's stream limit.
      if (!this.closed) refuse(stream, MoqErrorCode.None);
      return;
    }
    if (err instanceof MoqProtocolError) {
      this.protocolError(err);
      return;
    }
    this.o.log.error({ session: this.id, err }, 'moq session failed');
    refuse(stream, MoqErrorCode.Internal);
    this.close(MoqErrorCode.Internal, 'internal error');
  }

  private protocolError(err: MoqProtocolError): void {
    if (this.closed) return;
    this.o.counters.protocolErrors++;
    this.o.log.warn({ session: this.id, remoteAddress: this.remoteAddress, reason: err.message }, 'moq session closed: protocol violation');
    this.close(MoqErrorCode.ProtocolViolation, err.message.slice(0, 200));
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.setupTimer) clearTimeout(this.setupTimer);
    for (const id of [...this.subscriptions.keys()]) this.endSubscription(id, reason);
    for (const viewer of [...this.viewers.values()]) this.detach(viewer, reason);
    for (const cleanup of [...this.announceCleanups]) cleanup();
    this.o.lease?.release();
    this.o.onClose(this);
  }
}

/** Ends both directions of a stream we will not serve. */
function refuse(stream: BidiStream, code: number): void {
  try {
    stream.stopSending(code);
    stream.abort(code);
  } catch {
    // Already gone.
  }
}
