/**
 * Pulling a path from an IETF moq-transport publisher (`source: moqt://…`,
 * docs/edges.md): a WebTransport session offering `moqt-19` down to
 * `moqt-16`, SETUP, a SUBSCRIBE to the MSF catalog, then to the catalog's
 * video and audio tracks, whose LOC objects become the path's frames.
 *
 * Anything malformed from the origin (a message, a stream, the catalog, a
 * frame) ends this connection with the reason; the pull source reconnects
 * with its back-off. Nothing is thrown into the path. Memory: the client
 * bounds what each stream holds, an object is at most `maxMessageSize`,
 * and at most two groups per track are read at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MoqtTarget } from '../../config/source.js';
import { MoqtProtocolError, MoqtSessionCode, MoqtStreamEndedError } from '../../protocols/moqt/errors.js';
import {
  decodeRequestError,
  decodeSetup,
  decodeSubscribeOk,
  encodeClientSetup,
  encodeSubscribe,
  MessageType,
} from '../../protocols/moqt/messages.js';
import { CatalogError, MAX_CATALOG_BYTES, parseMsfCatalog, type CatalogMediaTrack } from '../../protocols/moqt/msf.js';
import { LOC_TIMESCALE, readObject, readSubgroupHeader, type SubgroupHeader } from '../../protocols/moqt/objects.js';
import { MoqtStreamReader } from '../../protocols/moqt/stream-reader.js';
import type { WireReader } from '../../protocols/moqt/wire.js';
import { draftOfSubprotocol, hasStreamPerRequest, MOQT_DRAFTS, subprotocolOf, type MoqtDraft } from '../../protocols/moqt/version.js';
import {
  systemCertificateAuthorities,
  WebTransportClient,
  WebTransportClientError,
  WebTransportClientStreamError,
  type ClientBidiStream,
  type ClientReceiveStream,
} from '../../protocols/webtransport/client.js';
import type { Frame } from '../../stream/types.js';
import type { PathFeed } from '../pull/path-feed.js';
import type { PullConnection, PullEvents, PullOptions, Puller } from '../pull/puller.js';
import { LocTrack, LocTrackError } from './loc-track.js';

const IMPLEMENTATION = 'Polycast';
const MAX_SETUP_BYTES = 4096;
const MAX_CONTROL_BYTES = 16 * 1024;
/** Data streams waiting for a SUBSCRIBE_OK that names their alias, or reading at once. */
const MAX_DATA_STREAMS = 64;
/** A data stream whose alias no SUBSCRIBE_OK names by then is stopped. */
const UNKNOWN_ALIAS_WAIT_MS = 2000;
/** A newer group waits this long for the one before it to finish, then that one is dropped. */
const GROUP_HANDOVER_MS = 1000;
/** WebTransport code for a stream we no longer want. */
const STOP_UNWANTED = 0;

const wallClockMs = (): number => performance.timeOrigin + performance.now();

export function moqtPuller(target: MoqtTarget): Puller {
  return (feed, events, options) => new MoqtPull(target, feed, events, options);
}

/** The origin broke the protocol or sent what cannot be used: the connection ends with this reason. */
class PullFailure extends Error {}

interface Subscription {
  readonly track: string;
  readonly alias: number;
  readonly timescale: number | undefined;
}

/** Groups of one track, read in order: a newer group waits for the one before it (briefly), an older one is dropped. */
interface GroupChain {
  newest: number;
  tail: Promise<void>;
  /** Stops the group being read, when a newer one takes over. */
  abandonCurrent: (() => void) | undefined;
}

class MoqtPull implements PullConnection {
  private client: WebTransportClient | undefined;
  private draft: MoqtDraft = 16;
  /**
   * Settles once `draft` is the one the origin chose. The origin's streams can
   * arrive in the very packet that carries its CONNECT answer, before `run`
   * has read the answer: their varints are draft-specific, so they wait.
   */
  private readonly draftChosen: Promise<void>;
  private chooseDraft!: () => void;
  private over = false;
  private nextRequestId = 0;
  private heardAt = performance.now();
  private readonly watchdog: NodeJS.Timeout;
  /** Track alias → what it carries. */
  private readonly byAlias = new Map<number, (stream: MoqtStreamReader, header: SubgroupHeader) => Promise<void>>();
  private readonly aliasWaiters = new Set<() => void>();
  private dataStreams = 0;
  /** Draft 16: answers to requests on the control stream, by Request ID. */
  private readonly pending = new Map<number, { resolve: (body: { type: number; body: WireReader }) => void; reject: (err: Error) => void }>();
  private control: ClientBidiStream | undefined;
  private video: LocTrack | undefined;
  private audio: LocTrack | undefined;
  private catalogJson: string | undefined;
  private catalogGroup = -1;
  /** The subscriptions to the first catalog's tracks, once asked for. */
  private tracksStarted: Promise<void> | undefined;
  private readonly chains = new Map<LocTrack, GroupChain>();
  /** Media stopped: the feed's stream was ended; the next frame begins a new one. */
  private idle = false;

  constructor(
    private readonly target: MoqtTarget,
    private readonly feed: PathFeed,
    private readonly events: PullEvents,
    private readonly o: PullOptions,
  ) {
    this.draftChosen = new Promise((resolve) => (this.chooseDraft = resolve));
    // No object for readTimeout: the origin's publisher is gone (it keeps the subscription), so the path's stream ends; the session stays.
    this.watchdog = setInterval(() => this.checkIdle(), Math.max(250, Math.min(1000, o.readTimeoutMs / 4)));
    this.watchdog.unref();
    this.run().catch((err: unknown) => this.fail(reasonOf(err)));
  }

  close(): void {
    if (this.over) return;
    this.finish();
    this.client?.close(MoqtSessionCode.NoError, 'the edge stopped pulling');
  }

  // ---- session ----

  private async run(): Promise<void> {
    const t = this.target;
    const client = await WebTransportClient.connect({
      host: t.host,
      port: t.port,
      path: t.requestPath,
      certificate: t.fingerprint !== undefined ? { kind: 'sha256', fingerprint: t.fingerprint } : { kind: 'ca', ca: systemCertificateAuthorities() },
      protocols: (t.draft === undefined ? [...MOQT_DRAFTS].reverse() : [t.draft]).map(subprotocolOf),
      headers: t.authorization === undefined ? [] : [{ name: 'authorization', value: t.authorization }],
      connectTimeoutMs: this.o.readTimeoutMs,
      idleTimeoutMs: Math.max(this.o.readTimeoutMs, 5000),
      maxStreamBuffer: 1024 * 1024,
      onUniStream: (s) => this.onUniStream(s),
    });
    if (this.over) {
      client.close(MoqtSessionCode.NoError, 'the edge stopped pulling');
      return;
    }
    this.client = client;
    void client.closed.then((end) => {
      if (!end.local) this.fail(`the origin closed the session${end.code !== 0 ? ` (code 0x${end.code.toString(16)})` : ''}: ${end.reason || 'no reason given'}`);
    });
    const draft = draftOfSubprotocol(client.protocol);
    if (draft === undefined || (t.draft !== undefined && draft !== t.draft)) {
      throw new PullFailure(`the origin chose no moq-transport draft Polycast offered (wt-protocol ${JSON.stringify(client.protocol ?? '')}; offered ${t.draft === undefined ? 'moqt-19..16' : `moqt-${t.draft}`})`);
    }
    this.draft = draft;
    this.chooseDraft();
    await this.setUp();
    const catalog = await this.subscribe(t.catalogTrack);
    this.byAlias.set(catalog.alias, (s, h) => this.readCatalogGroup(s, h));
    this.aliasKnown();
  }

  private async setUp(): Promise<void> {
    const client = this.client!;
    const setup = encodeClientSetup(this.draft, IMPLEMENTATION);
    if (hasStreamPerRequest(this.draft)) {
      // Our SETUP on a stream we keep open; the origin's comes on its own (read in onUniStream).
      client.openUni().write(setup);
      return;
    }
    const control = client.openBidi();
    this.control = control;
    control.write(setup);
    const reader = new MoqtStreamReader(control.readable, 'control stream');
    const first = await reader.message(this.draft, MAX_SETUP_BYTES);
    if (first.type !== MessageType.ServerSetup) throw new MoqtProtocolError(`the control stream answered CLIENT_SETUP with message 0x${first.type.toString(16)}`);
    decodeSetup(first.body);
    void this.readControl(reader).catch((err: unknown) => this.fail(reasonOf(err)));
  }

  /** Draft 16: answers and notices on the control stream. */
  private async readControl(reader: MoqtStreamReader): Promise<void> {
    for (;;) {
      const message = await reader.message(this.draft, MAX_CONTROL_BYTES);
      if (this.over) return;
      switch (message.type) {
        case MessageType.SubscribeOk:
        case MessageType.RequestError: {
          const id = message.body.index();
          const waiter = this.pending.get(id);
          if (waiter === undefined) throw new MoqtProtocolError(`an answer to request ${id}, which was not made`);
          this.pending.delete(id);
          // The decoders read the Request ID again.
          waiter.resolve({ type: message.type, body: rewound(message) });
          break;
        }
        case MessageType.PublishDone:
          throw new PullFailure('the origin ended a subscription (PUBLISH_DONE)');
        case MessageType.GoAway:
          throw new PullFailure('the origin is going away (GOAWAY)');
        case MessageType.MaxRequestId:
        case MessageType.RequestsBlocked:
        case MessageType.PublishNamespace:
        case MessageType.PublishNamespaceDone:
          break;
        default:
          throw new MoqtProtocolError(`control message 0x${message.type.toString(16)} a subscriber does not expect`);
      }
    }
  }

  /** SUBSCRIBE to a track of the namespace; resolves with its alias, or fails the pull with the origin's refusal. */
  private async subscribe(track: string): Promise<Subscription> {
    const requestId = this.nextRequestId;
    this.nextRequestId += 2;
    // MediaMTX reads credentials from SUBSCRIBE; a Polycast origin from the CONNECT request's authorization header.
    const authorization = this.target.layout === 'mediamtx' ? this.target.authorization : undefined;
    const message = encodeSubscribe(this.draft, { requestId, namespace: this.target.namespace, track, ...(authorization === undefined ? {} : { authorization }) });
    let answer: { type: number; body: WireReader };
    let stream: ClientBidiStream | undefined;
    let reader: MoqtStreamReader | undefined;
    if (hasStreamPerRequest(this.draft)) {
      stream = this.client!.openBidi();
      stream.write(message);
      reader = new MoqtStreamReader(stream.readable, `subscription to '${track}'`);
      answer = await reader.message(this.draft, MAX_CONTROL_BYTES);
    } else {
      const answered = new Promise<{ type: number; body: WireReader }>((resolve, reject) => this.pending.set(requestId, { resolve, reject }));
      this.control!.write(message);
      answer = await answered;
    }
    if (answer.type === MessageType.RequestError) {
      const refusal = decodeRequestError(answer.body);
      throw new PullFailure(`the origin refused the subscription to '${[...this.target.namespace, track].join('/')}' (code 0x${refusal.code.toString(16)}): ${refusal.reason || 'no reason given'}`);
    }
    if (answer.type !== MessageType.SubscribeOk) throw new MoqtProtocolError(`SUBSCRIBE to '${track}' answered with message 0x${answer.type.toString(16)}`);
    const ok = decodeSubscribeOk(answer.body);
    if (this.byAlias.has(ok.alias)) throw new MoqtProtocolError(`track alias ${ok.alias} given twice`);
    if (reader !== undefined) {
      // The stream stays open for the subscription's life; its end (or PUBLISH_DONE) ends it.
      const r = reader;
      void (async () => {
        while (!(await r.done())) {
          const next = await r.message(this.draft, MAX_CONTROL_BYTES);
          if (next.type === MessageType.PublishDone) throw new PullFailure(`the origin ended the subscription to '${track}' (PUBLISH_DONE)`);
          if (next.type !== MessageType.RequestUpdate) throw new MoqtProtocolError(`message 0x${next.type.toString(16)} on the subscription stream of '${track}'`);
        }
        throw new PullFailure(`the origin ended the subscription stream of '${track}'`);
      })().catch((err: unknown) => this.fail(reasonOf(err)));
    }
    return { track, alias: ok.alias, timescale: ok.timescale };
  }

  // ---- incoming streams ----

  private onUniStream(stream: ClientReceiveStream): void {
    if (this.over) {
      stream.stopSending(STOP_UNWANTED);
      return;
    }
    if (this.dataStreams >= MAX_DATA_STREAMS) {
      this.fail(`the origin has more than ${MAX_DATA_STREAMS} data streams open at once`);
      return;
    }
    this.dataStreams++;
    const reader = new MoqtStreamReader(stream.readable, 'data stream');
    this.readUni(reader, stream)
      .catch((err: unknown) => {
        // A stream the origin reset (a group it gave up) costs that group only.
        if (err instanceof WebTransportClientStreamError || err instanceof MoqtStreamEndedError) return;
        this.fail(reasonOf(err));
      })
      .finally(() => this.dataStreams--);
  }

  private async readUni(reader: MoqtStreamReader, stream: ClientReceiveStream): Promise<void> {
    await this.draftChosen;
    const type = await reader.varint(this.draft);
    if (type === MessageType.Setup && hasStreamPerRequest(this.draft)) {
      decodeSetup((await reader.body(this.draft, type, MAX_SETUP_BYTES)).body);
      // It stays open for a GOAWAY; nothing else may come on it.
      if (await reader.done()) return;
      const next = await reader.message(this.draft, MAX_CONTROL_BYTES);
      if (next.type !== MessageType.GoAway) throw new MoqtProtocolError(`message 0x${next.type.toString(16)} on the origin's setup stream`);
      throw new PullFailure('the origin is going away (GOAWAY)');
    }
    const header = await readSubgroupHeader(type, reader, this.draft);
    let handler = this.byAlias.get(header.alias);
    if (handler === undefined) {
      // Objects may overtake the SUBSCRIBE_OK that names their alias.
      const deadline = performance.now() + UNKNOWN_ALIAS_WAIT_MS;
      while (handler === undefined && !this.over && performance.now() < deadline) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.aliasWaiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, Math.max(1, deadline - performance.now()));
          this.aliasWaiters.add(wake);
        });
        handler = this.byAlias.get(header.alias);
      }
      if (handler === undefined) {
        if (!this.over) stream.stopSending(STOP_UNWANTED);
        return;
      }
    }
    if (this.over) return;
    await handler(reader, header).finally(() => reader.cancel());
  }

  private aliasKnown(): void {
    for (const wake of [...this.aliasWaiters]) wake();
  }

  // ---- catalog ----

  private async readCatalogGroup(reader: MoqtStreamReader, header: SubgroupHeader): Promise<void> {
    // A catalog version older than one already read is stale.
    if (header.group < this.catalogGroup) return;
    this.catalogGroup = header.group;
    const object = await readObject(reader, this.draft, header, MAX_CATALOG_BYTES);
    if (object === undefined || object.payload.byteLength === 0) return;
    if (this.over || header.group < this.catalogGroup) return;
    const json = new TextDecoder().decode(object.payload);
    if (json === this.catalogJson) return;
    const parsed = parseMsfCatalog(object.payload);
    if (this.tracksStarted === undefined) {
      this.catalogJson = json;
      if (parsed.skipped.length > 0) this.o.log.info({ source: this.target.display, skipped: parsed.skipped }, 'moqt source: catalog tracks left out');
      this.tracksStarted = this.startTracks(parsed.video, parsed.audio);
      await this.tracksStarted;
      // Established once the origin serves what it listed: a catalog that cannot be used is retried with back-off, not at once.
      if (!this.over) this.events.established();
      return;
    }
    // A version that came while the first one's subscriptions were being made is compared with what they made.
    await this.tracksStarted;
    if (this.over) return;
    this.catalogJson = json;
    // A new catalog version: the same tracks with new configurations are followed; other tracks need a new session.
    const same = (a: LocTrack | undefined, b: CatalogMediaTrack | undefined) => (a === undefined ? b === undefined : b !== undefined && a.entry.name === b.name && a.entry.codec.slice(0, 4) === b.codec.slice(0, 4));
    if (!same(this.video, parsed.video) || !same(this.audio, parsed.audio)) throw new PullFailure("the origin's catalog changed its tracks");
    for (const [old, entry] of [[this.video, parsed.video], [this.audio, parsed.audio]] as const) {
      if (old === undefined || entry === undefined || sameInit(old.entry, entry)) continue;
      const next = new LocTrack(entry, old.timescale, old === this.video ? this.groupIsGop : false);
      if (old === this.video) this.video = next;
      else this.audio = next;
      this.chains.set(next, this.chains.get(old)!);
      this.chains.delete(old);
      if (next.info !== undefined) this.feed.setTrack(next.info);
    }
  }

  private get groupIsGop(): boolean {
    return this.target.layout === 'polycast';
  }

  private async startTracks(video: CatalogMediaTrack | undefined, audio: CatalogMediaTrack | undefined): Promise<void> {
    const subscriptions = await Promise.all([video, audio].map((t) => (t === undefined ? undefined : this.subscribe(t.name))));
    if (this.over) return;
    const [vs, as] = subscriptions;
    if (video !== undefined && vs !== undefined) {
      this.video = new LocTrack(video, this.timescaleOf(video, vs), this.groupIsGop);
      this.chains.set(this.video, { newest: -1, tail: Promise.resolve(), abandonCurrent: undefined });
      const track = this.video;
      this.byAlias.set(vs.alias, (s, h) => this.readMediaGroup(() => this.video ?? track, s, h));
    }
    if (audio !== undefined && as !== undefined) {
      this.audio = new LocTrack(audio, this.timescaleOf(audio, as), false);
      this.chains.set(this.audio, { newest: -1, tail: Promise.resolve(), abandonCurrent: undefined });
      this.byAlias.set(as.alias, (s, h) => this.readMediaGroup(() => this.audio!, s, h));
    }
    this.aliasKnown();
  }

  /** TIMESCALE from SUBSCRIBE_OK, else the catalog's, else the layout's: Polycast writes µs, MediaMTX the track's clock rate. */
  private timescaleOf(entry: CatalogMediaTrack, sub: Subscription): number {
    if (sub.timescale !== undefined) return sub.timescale;
    if (entry.timescale !== undefined) return entry.timescale;
    if (this.target.layout === 'polycast') return LOC_TIMESCALE;
    if (entry.role === 'video') return 90_000;
    return entry.codec === 'opus' ? 48_000 : (entry.samplerate ?? 48_000);
  }

  // ---- media ----

  private async readMediaGroup(trackOf: () => LocTrack, reader: MoqtStreamReader, header: SubgroupHeader): Promise<void> {
    const chain = this.chains.get(trackOf());
    if (chain === undefined) return;
    if (header.group <= chain.newest) return; // Older than one already read: too late to play.
    chain.newest = header.group;
    const previous = chain.tail;
    let release!: () => void;
    chain.tail = new Promise<void>((resolve) => (release = resolve));
    try {
      // The group before this one finishes first (it holds the frames before ours), unless it takes too long.
      await Promise.race([previous, sleep(GROUP_HANDOVER_MS, undefined, { ref: false })]);
      if (chain.newest !== header.group && chain.newest > header.group + 1) return; // Two newer groups came meanwhile.
      chain.abandonCurrent?.();
      let abandoned = false;
      chain.abandonCurrent = () => {
        abandoned = true;
        reader.cancel();
      };
      for (let index = 0; !abandoned && !this.over; index++) {
        const object = await readObject(reader, this.draft, header, this.o.maxMessageSize);
        if (object === undefined || abandoned || this.over) return;
        if (object.payload.byteLength === 0) continue;
        if (object.timestamp === undefined) throw new PullFailure(`an object of track '${trackOf().entry.name}' has no LOC timestamp`);
        this.media(trackOf(), object.payload, object.timestamp, index === 0);
      }
    } finally {
      release();
    }
  }

  private media(track: LocTrack, payload: Uint8Array, timestamp: number, firstOfGroup: boolean): void {
    this.heardAt = performance.now();
    const hadInfo = track.info !== undefined;
    const f = track.frame(payload, timestamp, firstOfGroup);
    if (f === undefined) return;
    if (this.feed.stream === null || this.idle) {
      // A stream starts once every track is described, at a video keyframe when there is video.
      if (this.video !== undefined && (this.video.info === undefined || track !== this.video || !f.key)) return;
      if (this.audio !== undefined && this.audio.info === undefined) return;
      this.idle = false;
      this.feed.begin();
      if (this.video?.info !== undefined) this.feed.setTrack(this.video.info);
      if (this.audio?.info !== undefined) this.feed.setTrack(this.audio.info);
    } else if (f.configChanged && hadInfo && track.info !== undefined) {
      this.feed.setTrack(track.info);
    }
    // LOC carries presentation times only: the decode time is taken to be the same (exact without B-frames).
    const frame: Frame = { kind: track.role, dts: f.pts, pts: f.pts, key: f.key, data: f.data, receivedAt: wallClockMs() };
    this.feed.write(frame);
  }

  private checkIdle(): void {
    if (this.over || this.idle || this.feed.stream === null) return;
    if (performance.now() - this.heardAt <= this.o.readTimeoutMs) return;
    this.idle = true;
    this.feed.end(`no media from the origin for ${this.o.readTimeoutMs} ms (readTimeout)`);
  }

  // ---- ending ----

  private fail(reason: string): void {
    if (this.over) return;
    this.finish();
    this.client?.close(MoqtSessionCode.ProtocolViolation, reason.slice(0, 200));
    this.events.closed(reason);
  }

  private finish(): void {
    this.over = true;
    clearInterval(this.watchdog);
    for (const waiter of this.pending.values()) waiter.reject(new PullFailure('closed'));
    this.pending.clear();
    this.aliasKnown();
    for (const chain of this.chains.values()) chain.abandonCurrent?.();
  }
}

function sameInit(a: CatalogMediaTrack, b: CatalogMediaTrack): boolean {
  const x = a.initData;
  const y = b.initData;
  if (x === undefined || y === undefined) return x === y;
  return Buffer.from(x).equals(Buffer.from(y));
}

/** A draft-16 answer whose Request ID was read off already, readable again from the start. */
function rewound(message: { type: number; body: WireReader }): WireReader {
  return message.body.rewind();
}

function reasonOf(err: unknown): string {
  if (err instanceof MoqtProtocolError) return `the origin broke moq-transport: ${err.message}`;
  if (err instanceof CatalogError) return `the origin's catalog cannot be used: ${err.message}`;
  if (err instanceof LocTrackError) return `the origin sent media Polycast cannot use: ${err.message}`;
  if (err instanceof MoqtStreamEndedError) return `the origin ended a stream early (${err.message})`;
  if (err instanceof WebTransportClientError || err instanceof WebTransportClientStreamError || err instanceof PullFailure) return err.message;
  return `moqt pull failed: ${(err as Error)?.message ?? String(err)}`;
}
