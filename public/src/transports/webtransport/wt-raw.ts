/**
 * The `wt-raw` transport: moq-lite at `/moq` (docs/protocols/moq.md), over
 * WebTransport or (variant `websocket`) over QMux on a WebSocket, through
 * `@moq/net`, the reference client, which runs the same on both. The
 * path is the broadcast; its hang catalog names the video and audio tracks
 * and carries their decoder configurations, and their frames (legacy
 * container: a varint µs timestamp, then AVCC or raw AAC) go straight into
 * WebCodecs and are painted or scheduled the moment they are decoded.
 *
 * Each group (a GOP, on a QUIC stream of its own) plays only until a newer
 * one is ready (`GroupSwitch`): a viewer that falls behind skips ahead
 * instead of lagging. Input goes over the player's ws-nal input channel.
 */
import * as Moq from '@moq/net';
import { readPageHint } from '../../page-hint.js';
import type { AudioInit, VideoInit } from '../../protocol/ws-nal-wire.js';
import { createSoundRenderer, type SoundRenderer } from '../../render/sound.js';
import { VideoRenderer } from '../../render/video.js';
import { streamPathFromPathname, type StreamLocation } from '../../stream-path.js';
import { wallClockUs } from '../../wall-clock.js';
import type { SessionCapabilities, TransportContext, TransportSession } from '../types.js';
import { GroupSwitch, type SwitchGroup } from './group-switch.js';
import { CATALOG_TRACK, decodeLegacyFrame, parseCatalog, type HangCatalog } from './hang.js';
import { describeClose, HandshakeError, openQmux, openWebTransport, WEBTRANSPORT_STALL_MS, type WebTransportWithProtocol } from './open.js';
import { MOQ_PROTOCOLS, probeRtt } from './rtt-probe.js';
import { TransitClock } from './transit.js';
import { reportEnd, type EndReport } from '../session-end.js';
import type { EarlyVideo } from '../../early-socket.js';
import { takePagePicture } from '../../page-picture.js';

/** Subscriber priorities (higher first): the catalog unblocks everything, sound is small and the ear least forgiving. */
const PRIORITY = { catalog: 100, audio: 90, video: 80 } as const;
/** How long a newer GOP waits for the one playing to finish (see `GroupSwitch`): two frames at 30 fps. */
const GROUP_GRACE_MS = 66;
const PROBE_EVERY_MS = 2000;
const PROBE_TIMEOUT_MS = 1500;
/**
 * moq-lite 03/04 announce only live broadcasts, so silence is all that says
 * nobody publishes: a live one is announced within a round trip.
 */
const WAITING_AFTER_MS = 1500;
/** A live broadcast sends 30 frames a second: this much silence is a dead session. */
const SILENCE_TIMEOUT_MS = 5000;

/**
 * Sound that arrives in a burst (a new subscription starts at the newest
 * GOP's first frame, a stalled network catches up) is played only from this
 * far before the newest frame of the burst: older sound would only delay
 * everything after it.
 */
const AUDIO_BURST_KEEP_US = 100_000;

interface Arrived {
  readonly payload: Uint8Array;
  /** Local wall clock, µs. */
  readonly atUs: number;
}

/** A group of one track, as `GroupSwitch` sees it. */
class TrackGroup implements SwitchGroup {
  constructor(readonly consumer: Moq.Group.Consumer) {}

  get sequence(): number {
    return this.consumer.sequence;
  }

  cancel(): void {
    this.consumer.close();
  }
}

interface TrackPlayback {
  readonly name: string;
  readonly subscriber: Moq.Track.Subscriber;
  readonly groups: GroupSwitch<TrackGroup, Arrived>;
}

class WtRawSession implements TransportSession {
  readonly capabilities: SessionCapabilities;
  private transport: WebTransportWithProtocol | null = null;
  private connection: Moq.Connection.Established | null = null;
  private broadcast: Moq.Broadcast.Consumer | null = null;
  private catalog: Moq.Track.Subscriber | null = null;
  private announced: Moq.Announce.Consumer | null = null;
  private video: TrackPlayback | null = null;
  private audio: TrackPlayback | null = null;
  private readonly videoRenderer: VideoRenderer;
  private readonly audioRenderer: SoundRenderer;
  private readonly transit = new TransitClock();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private waitingTimer: ReturnType<typeof setTimeout> | undefined;
  private rttMs: number | null = null;
  private described: HangCatalog | null = null;
  private live = false;
  /** The broadcast's announcement ended: a frame still in the decoder must not call it playing again. */
  private left = false;
  private lastFrameAt = performance.now();
  private playing = false;
  private finished = false;
  private videoEnabled: boolean;

  constructor(private readonly context: TransportContext) {
    const { recorder, preferences } = context;
    this.capabilities = { input: false, audio: preferences.audio, videoToggle: true, keyframesOnly: false };
    this.videoEnabled = preferences.videoEnabled;
    this.videoRenderer = new VideoRenderer({
      surface: context.surface,
      recorder,
      input: 'avcc',
      latencyMs: (receivedAtUs) => (wallClockUs() - receivedAtUs) / 1000,
      onPaint: () => this.markPlaying(),
    });
    this.audioRenderer = createSoundRenderer(context.soundPath, context.audio, recorder);
    recorder.stats.transportDetail = context.variant === 'websocket' ? 'moq-lite · QMux over WebSocket' : 'moq-lite · WebTransport';
    context.events.state('connecting');
    void this.connect();
  }

  sendInput(): void {
    // The player sends input over its ws-nal input channel: moq-lite has no way to the publisher.
  }

  /** Video off is no video subscription: the server stops sending it, the sound goes on. */
  setVideoEnabled(enabled: boolean): void {
    if (enabled === this.videoEnabled) return;
    this.videoEnabled = enabled;
    if (!enabled) {
      this.stopTrack(this.video);
      this.video = null;
    } else if (this.described) {
      this.apply(this.described);
    }
  }

  setKeyframesOnly(): void {
    // Not offered (capabilities.keyframesOnly is false): moq-lite cannot ask the server to drop frames.
  }

  close(): void {
    this.finish(1000, 'closed by the player', null);
  }

  private async connect(): Promise<void> {
    const { recorder, stream } = this.context;
    if (typeof VideoDecoder === 'undefined') {
      this.finish(4001, 'no VideoDecoder', 'failed');
      return;
    }
    let transport: WebTransportWithProtocol;
    try {
      const open = this.context.variant === 'websocket' ? openQmux : openWebTransport;
      transport = await open(stream, '/moq', { protocols: MOQ_PROTOCOLS, log: (m) => recorder.log(m) });
    } catch (err) {
      if (err instanceof HandshakeError && !err.reachable) this.finish(4001, 'not available on this server', 'failed');
      else this.finish(4000, (err as Error).message, 'closed');
      return;
    }
    if (this.finished) {
      transport.close();
      return;
    }
    this.transport = transport;
    transport.closed.then(
      (info) => {
        const { code, reason } = describeClose(info);
        this.finish(code, reason, 'closed');
      },
      (err: Error) => this.finish(4000, `connection lost: ${err.message}`, 'closed'),
    );
    let connection: Moq.Connection.Established;
    try {
      connection = await Moq.Connection.connect(new URL('/moq', stream.origin), { transport });
    } catch (err) {
      this.finish(4000, `moq-lite session failed: ${err instanceof Error ? err.message : String(err)}`, 'closed');
      return;
    }
    if (this.finished) {
      connection.close();
      return;
    }
    this.connection = connection;
    recorder.log(`moq ${connection.version} session open, broadcast ${stream.path}`);
    const path = Moq.Path.from(stream.path);
    this.broadcast = connection.consume(path);
    const hinted = pageCatalog(stream);
    if (hinted) {
      // The catalog track still decides: what it says replaces this, and the same again changes nothing.
      recorder.log('moq catalog from the page: subscribing to its tracks at once');
      this.apply(hinted);
    }
    this.catalog = this.broadcast.track(CATALOG_TRACK).subscribe({ priority: PRIORITY.catalog });
    void this.readCatalog(this.catalog);
    this.announced = connection.announced(path);
    void this.watchAnnouncements(this.announced);
    this.waitingTimer = setTimeout(() => {
      if (!this.live && !this.playing) this.waiting('no publisher');
    }, WAITING_AFTER_MS);
    this.timers.push(
      setInterval(() => this.tick(), 1000),
      setInterval(() => void this.probe(), PROBE_EVERY_MS),
    );
    void this.probe();
  }

  private async readCatalog(subscriber: Moq.Track.Subscriber): Promise<void> {
    try {
      for (;;) {
        const group = await subscriber.nextGroup();
        if (!group || this.finished) break;
        const value = await group.readJson();
        group.close();
        if (value === undefined || this.finished) continue;
        const catalog = parseCatalog(value);
        for (const why of catalog.skipped) this.context.recorder.log(`moq catalog: skipped ${why}`);
        this.apply(catalog);
      }
    } catch (err) {
      this.trackFailed(CATALOG_TRACK, err);
    }
  }

  /** A new catalog: (re)configure the decoders and subscribe to what it names. */
  private apply(catalog: HangCatalog): void {
    const { recorder } = this.context;
    const before = this.described;
    this.described = catalog;
    if (!catalog.video && !catalog.audio) {
      recorder.log('moq catalog has nothing this player can play');
      return;
    }
    const unplayableVideo = catalog.video ? undefined : catalog.skipped.find((why) => why.startsWith('video '));
    if (unplayableVideo !== undefined && this.videoEnabled) {
      // Sound alone would look like a stalled picture: a transport that can show this video (MSE, JPEG) is the answer.
      this.finish(4001, `the stream's video cannot be played over moq here (${unplayableVideo})`, 'failed');
      return;
    }
    if (catalog.video && this.videoEnabled) {
      // Configuring again would make the renderer wait for the next keyframe: only a new subscription or a new configuration does.
      if (!this.video || !before?.video || !sameVideo(before.video.init, catalog.video.init)) {
        // The page's decoder, configured as this one would be, saves starting another (page-picture.ts).
        const page = this.video === null ? pageDecoder(this.context.stream) : null;
        if (page) this.videoRenderer.offer(page, false);
        this.videoRenderer.configure(catalog.video.init);
      }
      this.video = this.follow(this.video, catalog.video.track, PRIORITY.video, (frame, first) => this.playVideo(frame, first));
    } else {
      this.stopTrack(this.video);
      this.video = null;
    }
    if (catalog.audio && this.capabilities.audio) {
      if (!before?.audio || !sameAudio(before.audio.init, catalog.audio.init)) this.audioRenderer.configure(catalog.audio.init);
      this.audio = this.follow(this.audio, catalog.audio.track, PRIORITY.audio, (frame) => this.playAudio(frame));
    } else {
      this.stopTrack(this.audio);
      this.audio = null;
    }
  }

  /** The subscription to `name`, kept when it is already that track. */
  private follow(current: TrackPlayback | null, name: string, priority: number, deliver: (frame: Arrived, first: boolean) => void): TrackPlayback {
    if (current?.name === name) return current;
    this.stopTrack(current);
    const subscriber = this.broadcast!.track(name).subscribe({ priority });
    // Silence is counted from the subscription, not from whatever came before it.
    this.lastFrameAt = performance.now();
    const groups = new GroupSwitch<TrackGroup, Arrived>({
      deliver,
      dropped: (count, why) => {
        if (count > 0) this.context.recorder.framesDroppedByPlayer(count);
        this.context.recorder.log(`moq ${name}: ${why}`);
      },
      graceMs: GROUP_GRACE_MS,
      schedule: (run, ms) => {
        const timer = setTimeout(run, ms);
        return () => clearTimeout(timer);
      },
    });
    const playback = { name, subscriber, groups };
    void this.readTrack(playback);
    return playback;
  }

  private async readTrack(playback: TrackPlayback): Promise<void> {
    try {
      for (;;) {
        const consumer = await playback.subscriber.nextGroup();
        if (!consumer || this.finished) break;
        void this.readGroup(playback, new TrackGroup(consumer));
      }
    } catch (err) {
      if (playback === this.video || playback === this.audio) this.trackFailed(playback.name, err);
    }
  }

  private async readGroup(playback: TrackPlayback, group: TrackGroup): Promise<void> {
    const audio = playback === this.audio;
    try {
      for (;;) {
        const first = await group.consumer.readFrame();
        if (!first || this.finished) break;
        const atUs = wallClockUs();
        this.lastFrameAt = performance.now();
        let batch: Arrived[] = [{ payload: first.payload, atUs }];
        for (let next = group.consumer.tryReadFrame(); next; next = group.consumer.tryReadFrame()) batch.push({ payload: next.payload, atUs });
        if (audio && batch.length > 1) batch = recentSound(batch);
        for (const frame of batch) playback.groups.frame(group, frame);
      }
    } catch {
      // A reset group (superseded on the server, or cancelled here) just ends.
    } finally {
      playback.groups.end(group);
    }
  }

  private playVideo(frame: Arrived, first: boolean): void {
    if (!this.videoEnabled) return;
    const decoded = decodeLegacyFrame(frame.payload);
    if (!decoded) return;
    const oneWayUs = ((this.rttMs ?? 0) * 1000) / 2;
    const receivedAtUs = this.transit.arrived(decoded.timestampUs, frame.atUs, oneWayUs);
    this.videoRenderer.push({
      kind: 'video',
      keyframe: first,
      discontinuity: false,
      ptsUs: decoded.timestampUs,
      dtsUs: decoded.timestampUs,
      receivedAtUs,
      payload: decoded.payload,
    });
  }

  private playAudio(frame: Arrived): void {
    const decoded = decodeLegacyFrame(frame.payload);
    if (!decoded) return;
    this.audioRenderer.push({
      kind: 'audio',
      keyframe: true,
      discontinuity: false,
      ptsUs: decoded.timestampUs,
      dtsUs: decoded.timestampUs,
      receivedAtUs: frame.atUs,
      payload: decoded.payload,
    });
    if (!this.video) this.markPlaying();
  }

  private async watchAnnouncements(announced: Moq.Announce.Consumer): Promise<void> {
    try {
      for (;;) {
        const event = await announced.next();
        if (!event || this.finished) return;
        // The prefix is the broadcast itself: only its own announcement has an empty suffix.
        if (event.path !== '') continue;
        this.live = event.active;
        this.left = !event.active;
        if (event.active) {
          this.lastFrameAt = performance.now();
          this.context.recorder.log('moq broadcast is live');
          if (!this.playing) this.context.events.state('connecting');
        } else {
          this.waiting('the publisher left');
        }
      }
    } catch (err) {
      this.context.recorder.log(`moq announcements ended: ${(err as Error).message}`);
    }
  }

  private waiting(reason: string): void {
    this.context.recorder.log(`offline: ${reason}`);
    this.playing = false;
    this.transit.reset();
    this.videoRenderer.waitForKeyframe();
    this.audioRenderer.reanchor();
    this.context.events.state('waiting', reason);
  }

  private async probe(): Promise<void> {
    const transport = this.transport;
    if (!transport || this.finished) return;
    try {
      const rtt = await probeRtt(transport, this.context.stream.path, transport.protocol ?? '', PROBE_TIMEOUT_MS);
      if (rtt === null || this.finished) return;
      this.rttMs = rtt;
      this.context.recorder.rtt(rtt);
    } catch {
      // The session is going away; its own close reports that.
    }
  }

  private tick(): void {
    const subscribed = this.video !== null || this.audio !== null;
    const silentMs = performance.now() - this.lastFrameAt;
    if (this.live && subscribed && this.playing && silentMs > WEBTRANSPORT_STALL_MS) {
      this.finish(4000, `${this.context.variant === 'websocket' ? 'moq over WebSocket' : 'WebTransport'} stalled: no media for ${(silentMs / 1000).toFixed(1)} s while the broadcast is live`, 'stalled');
    } else if (this.live && subscribed && silentMs > SILENCE_TIMEOUT_MS) {
      this.finish(4000, `no media from the server for ${SILENCE_TIMEOUT_MS / 1000} s`, 'closed');
    }
  }

  /** A subscription refused or torn down by the server. */
  private trackFailed(name: string, err: unknown): void {
    if (this.finished) return;
    // Typed by hand: under the tests' NodeNext resolution @moq/net's class does not narrow `err`.
    const code = err instanceof Moq.RemoteError ? (err as { readonly code: number }).code : null;
    const reason = `${name}: ${err instanceof Error ? err.message : String(err)}`;
    // docs/protocols/moq.md: 3 unknown broadcast or track, 4 unauthorized, 5 a limit.
    if (code === 3) this.finish(4404, 'no such path', 'closed');
    else if (code === 4) this.finish(4001, `not authorized (${reason})`, 'failed');
    else this.finish(4000, `subscription ended: ${reason}`, 'closed');
  }

  private stopTrack(playback: TrackPlayback | null): void {
    if (!playback) return;
    playback.groups.reset();
    playback.subscriber.close();
  }

  private markPlaying(): void {
    if (this.playing || this.finished || this.left) return;
    this.playing = true;
    this.context.events.state('playing');
  }

  private finish(code: number, reason: string, report: EndReport): void {
    if (this.finished) return;
    this.finished = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.waitingTimer);
    this.stopTrack(this.video);
    this.stopTrack(this.audio);
    this.catalog?.close();
    this.announced?.close();
    this.broadcast?.close();
    this.videoRenderer.close();
    this.audioRenderer.close();
    try {
      if (this.connection) this.connection.close();
      else this.transport?.close({ closeCode: 0, reason: reason.slice(0, 100) });
    } catch {
      // Already closed by the server.
    }
    this.context.recorder.log(`wt-raw closed: ${code} ${reason}`);
    reportEnd(this.context.events, report, code, reason);
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  const da = a ?? new Uint8Array(0);
  const db = b ?? new Uint8Array(0);
  return da.length === db.length && da.every((x, i) => x === db[i]);
}

function sameAudio(a: AudioInit, b: AudioInit): boolean {
  return a.codec === b.codec && a.sampleRate === b.sampleRate && a.numberOfChannels === b.numberOfChannels && sameBytes(a.description, b.description);
}

function sameVideo(a: VideoInit, b: VideoInit): boolean {
  return a.codec === b.codec && a.codedWidth === b.codedWidth && a.codedHeight === b.codedHeight && sameBytes(a.description, b.description);
}

let pageCatalogUsed = false;

/**
 * The catalog the server wrote into the player page (src/web/player-page.ts), for the page's first session to its
 * own stream: its tracks are subscribed to a round trip sooner than after reading the catalog track. Only once, as
 * the certificate's hash: the stream may have changed since the page was served.
 */
function pageCatalog(stream: StreamLocation): HangCatalog | null {
  if (pageCatalogUsed || typeof location === 'undefined' || stream.origin !== location.origin) return null;
  if (stream.path !== streamPathFromPathname(location.pathname)) return null;
  pageCatalogUsed = true;
  const raw = readPageHint().moqCatalog;
  if (raw === undefined) return null;
  const catalog = parseCatalog(raw);
  return catalog.video || catalog.audio ? catalog : null;
}

/** The decoder the page started for its keyframe (page-picture.ts), for a session to the page's own stream. */
function pageDecoder(stream: StreamLocation): EarlyVideo | null {
  if (typeof location === 'undefined' || stream.origin !== location.origin) return null;
  if (stream.path !== streamPathFromPathname(location.pathname)) return null;
  return takePagePicture();
}

/** The frames of a burst within `AUDIO_BURST_KEEP_US` of its newest. */
function recentSound(batch: Arrived[]): Arrived[] {
  const newest = decodeLegacyFrame(batch[batch.length - 1]!.payload)?.timestampUs;
  if (newest === undefined) return batch;
  return batch.filter((frame) => {
    const t = decodeLegacyFrame(frame.payload)?.timestampUs;
    return t !== undefined && newest - t <= AUDIO_BURST_KEEP_US;
  });
}

export function connect(context: TransportContext): TransportSession {
  return new WtRawSession(context);
}
