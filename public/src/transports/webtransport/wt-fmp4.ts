/**
 * The `wt-fmp4` transport (docs/protocols/wt-fmp4.md): the fMP4 of
 * `ws-fmp4` over WebTransport, one QUIC stream per GOP, into Media Source
 * Extensions. A lost packet delays only its own GOP, and a GOP the network
 * could not deliver in time is reset by the server rather than queued in
 * front of the live one; here the newest GOP wins (`GroupSwitch`).
 *
 * Init segments come on the control stream by generation, and QUIC does not
 * order streams, so a GOP may arrive before the init segment it needs: it is
 * held until then. Input goes over the player's ws-nal input channel.
 *
 * The sound is taken out of the fMP4 and played apart (`render/fmp4-sound.ts`:
 * WebCodecs and Web Audio where `AudioDecoder` is safe, else an audio-only
 * SourceBuffer on an element of its own, `render/sound-path.ts`), and the
 * video element's SourceBuffer gets the video alone: Chromium's MSE audio
 * renderer needs 200 ms buffered before it plays and doubles that after every
 * underflow, which holds the picture back with it, while a video-only
 * SourceBuffer plays from about one frame of buffer (docs/browsers.md has the
 * measurements). Only a browser with no way to play sound apart gets one
 * combined SourceBuffer, at that higher latency.
 */
import { mediaSourceApi, type MediaSourceApi } from '../../browser-apis.js';
import { ClockSync } from '../../clock-sync.js';
import { fragmentInfo, initTracks, type InitTrack } from '../../protocol/fmp4-probe.js';
import { encodePing, encodeSetKeyframesOnly, encodeSetVideoEnabled, type AudioInit } from '../../protocol/ws-nal-wire.js';
import { playSegmentSound, soundConfigOf } from '../../render/fmp4-sound.js';
import { createSoundRenderer, type SoundRenderer } from '../../render/sound.js';
import { LiveVideo, liveTuning } from '../../render/live-video.js';
import { MseSink } from '../../render/mse-sink.js';
import { wallClockUs } from '../../wall-clock.js';
import type { SessionCapabilities, TransportContext, TransportSession } from '../types.js';
import { GroupSwitch, type SwitchGroup } from './group-switch.js';
import { initWithOnly, singleTrackMime } from '../../protocol/fmp4-tracks.js';
import { describeClose, HandshakeError, openWebTransport, streamEndpoint, WEBTRANSPORT_STALL_MS } from './open.js';
import {
  encodeJsonRecord,
  parseControl,
  RECORD_INIT,
  RECORD_JSON,
  RECORD_SEGMENT,
  RecordReader,
  STREAM_CONTROL_UP,
  WireError,
  type ControlMessage,
  type WireRecord,
} from './wt-fmp4-wire.js';
import { mediaErrorReport, reportEnd, type EndReport } from '../session-end.js';
import { bindElementMute } from '../../render/element-mute.js';

const TICK_MS = 250;
const PING_EVERY_TICKS = 4;
/** The server answers pings every second and sends `stats` every two: this much silence is a dead session. */
const SILENCE_TIMEOUT_MS = 5000;
/** Media kept behind the playhead; older is removed so a long session never fills the SourceBuffer. */
const KEEP_BEHIND_S = 10;
/**
 * How long a newer GOP waits for the one playing to finish. The server ends
 * a GOP as it starts the next, so this only runs out when the older GOP's
 * tail is stuck; two frames at 30 fps.
 */
const GROUP_GRACE_MS = 66;
/** Segments a GOP may hold while its init segment is on its way: more than one GOP of 30 fps video with sound. */
const MAX_HELD_SEGMENTS = 200;
const SOURCE = 'media';
/** The end of `transportDetail`: how the sound is played. */
const SOUND_DETAIL = { webcodecs: ' · AudioDecoder', mse: ' · sound on its own audio element', none: '' } as const;

interface Segment {
  readonly bytes: Uint8Array;
  /** performance.now() when it arrived. */
  readonly at: number;
}

interface Generation {
  readonly generation: number;
  readonly tracks: ReadonlyMap<number, InitTrack>;
  /** What the SourceBuffer gets: every track, or the video alone when WebCodecs plays the sound; null for sound only. */
  readonly source: { readonly mime: string; readonly init: Uint8Array; readonly hasVideo: boolean } | null;
  /** The sound, when WebCodecs plays it. */
  readonly sound: AudioInit | null;
}

/** One GOP's stream. */
class GroupStream implements SwitchGroup {
  /** Segments received before their generation's init segment. */
  held: Segment[] = [];
  ended = false;
  cancelled = false;

  constructor(
    readonly generation: number,
    readonly sequence: number,
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
  ) {}

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.held = [];
    this.reader.cancel().catch(() => undefined);
  }
}

class WtFmp4Session implements TransportSession {
  private transport: WebTransport | null = null;
  private up: WritableStreamDefaultWriter<Uint8Array> | null = null;
  /** Messages written before the control-up stream opened. */
  private readonly upQueue: string[] = [];
  private readonly clock = new ClockSync();
  private readonly sink: MseSink;
  private readonly live: LiveVideo;
  private readonly sound: SoundRenderer;
  /** Sound goes through WebCodecs, the SourceBuffer carries video alone. */
  /** The sound is played apart from the video element (WebCodecs, or an audio element of its own): see the top of the file. */
  private readonly soundApart: boolean;
  private readonly groups: GroupSwitch<GroupStream, Segment>;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly unsubscribeMute: () => void;
  private readonly onVideoError = () => this.mediaFailed(`video element error: ${this.context.video.error?.message || this.context.video.error?.code}`);
  /** The `init` message whose init segment comes next on the control stream. */
  private announced: Extract<ControlMessage, { type: 'init' }> | null = null;
  private current: Generation | null = null;
  /** GOPs of a generation whose init segment has not arrived yet. */
  private early: GroupStream[] = [];
  private lastDataAt = performance.now();
  /** Last group-stream bytes: pongs and stats on the control stream may still flow when media does not. */
  private lastMediaAt = performance.now();
  private pingId = 0;
  private ticks = 0;
  private greeted = false;
  private playing = false;
  private finished = false;
  private videoEnabled: boolean;
  private keyframesOnly: boolean;

  constructor(
    private readonly context: TransportContext,
    private readonly api: MediaSourceApi,
  ) {
    const { recorder, video, audio } = context;
    this.videoEnabled = context.preferences.videoEnabled;
    this.keyframesOnly = context.preferences.keyframesOnly;
    video.playsInline = true;
    this.unsubscribeMute = bindElementMute(video, audio);
    video.addEventListener('error', this.onVideoError);
    this.sink = new MseSink(video, api, {
      drained: () => undefined,
      dropped: (count, why) => {
        recorder.framesDroppedByPlayer(count);
        if (count > 0) recorder.log(`mse: dropped ${count} video segments (${why})`);
      },
      error: (message) => this.mediaFailed(message),
    });
    this.soundApart = context.soundPath !== null;
    this.sound = createSoundRenderer(context.soundPath, audio, recorder);
    this.live = new LiveVideo({
      video,
      recorder,
      ...liveTuning(context.liveBufferMs, this.soundApart),
      rttMs: () => this.rttMs,
      onFrame: () => this.markPlaying(),
    });
    this.groups = new GroupSwitch<GroupStream, Segment>({
      deliver: (segment) => this.append(segment),
      dropped: (count, why) => {
        if (count > 0) recorder.framesDroppedByPlayer(count);
        recorder.log(`wt-fmp4: ${why}`);
      },
      graceMs: GROUP_GRACE_MS,
      schedule: (run, ms) => {
        const timer = setTimeout(run, ms);
        return () => clearTimeout(timer);
      },
    });
    recorder.stats.transportDetail = `WebTransport · ${api.name}${SOUND_DETAIL[context.soundPath ?? 'none']}`;
    context.events.state('connecting');
    this.timer = setInterval(() => this.tick(), TICK_MS);
    void this.connect();
  }

  /** A combined SourceBuffer stalls without video: with video off, only WebCodecs keeps the sound going. */
  get capabilities(): SessionCapabilities {
    return { input: false, audio: this.context.preferences.audio && (this.soundApart || this.videoEnabled), videoToggle: true, keyframesOnly: true };
  }

  sendInput(): void {
    // The player sends input over its ws-nal input channel: this session does not take it.
  }

  setVideoEnabled(enabled: boolean): void {
    if (enabled === this.videoEnabled) return;
    this.videoEnabled = enabled;
    if (this.greeted) this.sendControl(encodeSetVideoEnabled(enabled));
    if (enabled) {
      // The server starts a new GOP at the next keyframe; a fresh MediaSource takes it.
      if (this.current) this.configureSource();
    } else {
      // GOPs go on carrying the sound when WebCodecs plays it; a combined SourceBuffer has nothing left to play.
      if (!this.current?.sound) this.groups.reset();
      this.live.reset();
      this.sink.close();
    }
  }

  setKeyframesOnly(keyframesOnly: boolean): void {
    if (keyframesOnly === this.keyframesOnly) return;
    this.keyframesOnly = keyframesOnly;
    if (this.greeted) this.sendControl(encodeSetKeyframesOnly(keyframesOnly));
  }

  close(): void {
    this.finish(1000, 'closed by the player', null);
  }

  private get rttMs(): number | null {
    const rtt = this.clock.lastRttUs;
    return rtt === null ? null : rtt / 1000;
  }

  private async connect(): Promise<void> {
    const { recorder } = this.context;
    let transport: WebTransport;
    try {
      transport = await openWebTransport(this.context.stream, streamEndpoint(this.context.stream, 'wt/fmp4'), { log: (m) => recorder.log(m) });
    } catch (err) {
      if (err instanceof HandshakeError && !err.reachable) this.fail('not available on this server');
      else this.finish(4000, (err as Error).message, 'closed');
      return;
    }
    if (this.finished) {
      transport.close({ closeCode: 0, reason: 'closed by the player' });
      return;
    }
    this.transport = transport;
    this.lastDataAt = performance.now();
    recorder.log('wt-fmp4 session open');
    transport.closed.then(
      (info) => {
        const { code, reason } = describeClose(info);
        this.finish(code, reason, 'closed');
      },
      (err: Error) => this.finish(4000, `connection lost: ${err.message}`, 'closed'),
    );
    void this.acceptStreams(transport);
  }

  private async acceptStreams(transport: WebTransport): Promise<void> {
    const streams = transport.incomingUnidirectionalStreams.getReader() as ReadableStreamDefaultReader<ReadableStream<Uint8Array>>;
    for (;;) {
      let next: ReadableStreamReadResult<ReadableStream<Uint8Array>>;
      try {
        next = await streams.read();
      } catch {
        return;
      }
      if (next.done || this.finished) return;
      void this.readStream(next.value);
    }
  }

  private async readStream(stream: ReadableStream<Uint8Array>): Promise<void> {
    const reader = stream.getReader();
    const records = new RecordReader();
    let group: GroupStream | null = null;
    let control = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.finished) break;
        const now = performance.now();
        this.lastDataAt = now;
        const list = records.push(value);
        const head = records.streamHead;
        if (head === null) continue;
        if (head.kind === 'unknown') {
          this.context.recorder.log(`wt-fmp4 ignored a stream of unknown kind 0x${head.byte.toString(16)}`);
          await reader.cancel();
          return;
        }
        if (head.kind === 'control') control = true;
        else {
          group ??= new GroupStream(head.generation, head.sequence, reader);
          this.lastMediaAt = now;
        }
        for (const record of list) {
          if (control) this.controlRecord(record);
          else if (group && record.type === RECORD_SEGMENT) this.groupSegment(group, { bytes: record.payload, at: now });
        }
        if (group?.cancelled || this.finished) break;
      }
    } catch (err) {
      // A reset stream is a GOP the server gave up on: it just ends. A malformed control stream ends the session.
      if (control && err instanceof WireError) this.finish(4001, `wt-fmp4 protocol error: ${err.message}`, 'closed');
      else group?.cancel();
    } finally {
      if (group) this.groupEnded(group);
    }
  }

  private controlRecord(record: WireRecord): void {
    if (record.type === RECORD_INIT) {
      this.initSegment(record.payload);
      return;
    }
    if (record.type !== RECORD_JSON) return;
    let message: ControlMessage;
    try {
      message = parseControl(new TextDecoder().decode(record.payload));
    } catch (err) {
      // Tolerate what this player does not understand; the server is the strict side of the protocol.
      this.context.recorder.log(`wt-fmp4 ignored a control message: ${(err as Error).message}`);
      return;
    }
    this.control(message);
  }

  private control(message: ControlMessage): void {
    const { recorder, events } = this.context;
    switch (message.type) {
      case 'hello':
        recorder.log(`hello from ${message.server}, protocol ${message.version}, viewer ${message.id}`);
        this.greeted = true;
        void this.openUp();
        if (!this.videoEnabled) this.sendControl(encodeSetVideoEnabled(false));
        if (this.keyframesOnly) this.sendControl(encodeSetKeyframesOnly(true));
        this.ping();
        break;
      case 'init':
        this.announced = message;
        this.offline = false;
        break;
      case 'offline':
        recorder.log(`offline${message.reason ? `: ${message.reason}` : ''}`);
        this.groups.reset();
        this.playing = false;
        this.offline = true;
        events.state('waiting', message.reason);
        break;
      case 'pong':
        this.clock.addSample(message.t, wallClockUs(), message.serverTime);
        recorder.rtt(this.rttMs);
        break;
      case 'stats':
        recorder.serverDropped(message.framesDropped);
        // GOPs the server reset for this viewer: given up on, like RTWebSocket's messages past their deadline.
        recorder.serverAbandoned(message.groupsDropped);
        break;
      case 'unknown':
        recorder.log(`wt-fmp4 ignored unknown message type "${message.name}"`);
        break;
    }
  }

  private initSegment(init: Uint8Array): void {
    const announced = this.announced;
    if (!announced) return;
    this.announced = null;
    const generation = this.generationOf(announced, init);
    const mime = generation.source?.mime;
    if (mime && !this.api.isTypeSupported(mime)) return this.fail(`${this.api.name} cannot play ${mime}`);
    this.current = generation;
    const sound = generation.sound ? `, sound ${generation.sound.codec} apart (${this.context.soundPath})` : '';
    this.context.recorder.log(`wt-fmp4 generation ${announced.generation}: ${mime ?? 'no SourceBuffer'}${sound}`);
    if (this.playing) {
      this.playing = false;
      this.context.events.state('connecting');
    }
    this.build();
  }

  /** How this generation is played: the sound split off for WebCodecs where that works, else all through MSE. */
  private generationOf(announced: Extract<ControlMessage, { type: 'init' }>, init: Uint8Array): Generation {
    const tracks = new Map(initTracks(init).map((t) => [t.trackId, t]));
    const base = { generation: announced.generation, tracks };
    const combined: Generation = { ...base, source: { mime: announced.mime, init, hasVideo: announced.video !== null }, sound: null };
    const videoInit = announced.video ? initWithOnly(init, 'video') : null;
    const videoOnly = announced.video && videoInit ? { mime: singleTrackMime('video', announced.video.codec), init: videoInit, hasVideo: true } : null;
    if (!this.context.preferences.audio) return { ...base, source: videoOnly, sound: null };
    const sound = this.soundApart ? soundConfigOf(init, tracks.values()) : null;
    if (!sound) return combined;
    if (!announced.video) return { ...base, source: null, sound };
    return videoOnly ? { ...base, source: videoOnly, sound } : combined;
  }

  /** A new MediaSource for the current generation, then the GOPs that waited for it. */
  private build(): void {
    const generation = this.current!;
    this.groups.reset();
    if (generation.sound) this.sound.configure(generation.sound);
    this.configureSource();
    const waiting = this.early.sort((a, b) => a.sequence - b.sequence);
    this.early = [];
    for (const group of waiting) {
      if (group.generation > generation.generation) {
        this.early.push(group);
        continue;
      }
      const held = group.held;
      group.held = [];
      if (group.generation < generation.generation || group.cancelled) {
        group.cancel();
        continue;
      }
      for (const segment of held) this.groups.frame(group, segment);
      if (group.ended) this.groups.end(group);
    }
  }

  private groupSegment(group: GroupStream, segment: Segment): void {
    const generation = this.current?.generation ?? -1;
    if (group.generation < generation) {
      group.cancel();
      return;
    }
    if (group.generation > generation) {
      if (!this.early.includes(group)) this.early.push(group);
      if (group.held.length < MAX_HELD_SEGMENTS) group.held.push(segment);
      else group.cancel();
      return;
    }
    this.groups.frame(group, segment);
  }

  private groupEnded(group: GroupStream): void {
    group.ended = true;
    if (!this.early.includes(group)) this.groups.end(group);
  }

  private configureSource(): void {
    const source = this.current?.source;
    this.live.reset();
    if (source && this.videoEnabled) this.sink.configure([{ key: SOURCE, mime: source.mime, init: source.init, hasVideo: source.hasVideo }]);
    else this.sink.close();
  }

  private append(segment: Segment): void {
    const generation = this.current;
    if (!generation) return;
    const info = fragmentInfo(segment.bytes);
    const track = info ? generation.tracks.get(info.trackId) : undefined;
    if (track?.kind === 'audio' && generation.sound) {
      playSegmentSound(this.sound, segment.bytes, track);
      if (!generation.source) this.markPlaying();
      return;
    }
    if (!this.videoEnabled || !this.sink.configured) return;
    const video = track?.kind === 'video';
    if (video && info && track) this.live.noteArrival(info.baseDecodeTime / track.timescale, segment.at);
    this.sink.append(SOURCE, segment.bytes, { video, keyframe: info?.keyframe ?? false });
  }

  private async openUp(): Promise<void> {
    const transport = this.transport;
    if (!transport || this.up) return;
    try {
      const stream = await transport.createUnidirectionalStream();
      const writer = stream.getWriter();
      this.up = writer;
      writer.write(new Uint8Array([STREAM_CONTROL_UP])).catch(() => undefined);
      for (const text of this.upQueue.splice(0)) writer.write(encodeJsonRecord(text)).catch(() => undefined);
    } catch (err) {
      this.context.recorder.log(`wt-fmp4 cannot open its control stream: ${(err as Error).message}`);
    }
  }

  private sendControl(text: string): void {
    if (this.finished) return;
    if (this.up) this.up.write(encodeJsonRecord(text)).catch(() => undefined);
    else this.upQueue.push(text);
  }

  private ping(): void {
    this.sendControl(encodePing(++this.pingId, wallClockUs()));
  }

  /** Between `offline` and the next `init`. */
  private offline = false;

  private tick(): void {
    const now = performance.now();
    if (this.transport && now - this.lastDataAt > SILENCE_TIMEOUT_MS) {
      this.finish(4000, `no data from the server for ${SILENCE_TIMEOUT_MS / 1000} s`, 'closed');
      return;
    }
    const mediaSilentMs = now - this.lastMediaAt;
    if (this.playing && !this.offline && mediaSilentMs > WEBTRANSPORT_STALL_MS) {
      this.finish(4000, `WebTransport stalled: no media for ${(mediaSilentMs / 1000).toFixed(1)} s while the stream is live`, 'stalled');
      return;
    }
    this.live.tick(now);
    this.sink.trimBehind(this.context.video.currentTime, KEEP_BEHIND_S);
    if (this.greeted && ++this.ticks % PING_EVERY_TICKS === 0) this.ping();
  }

  private markPlaying(): void {
    // Pictures still in the buffer after `offline` belong to the publisher that left.
    if (this.playing || this.finished || this.offline) return;
    this.playing = true;
    this.context.events.state('playing');
  }

  /** Before the first picture a media error means MSE cannot play this here; after it, a reconnect may help. */
  private mediaFailed(message: string): void {
    this.finish(4001, message, mediaErrorReport(this.playing));
  }

  private fail(reason: string): void {
    this.finish(4001, reason, 'failed');
  }

  private finish(code: number, reason: string, report: EndReport): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    this.unsubscribeMute();
    this.context.video.removeEventListener('error', this.onVideoError);
    this.groups.reset();
    for (const group of this.early) group.cancel();
    this.early = [];
    this.live.close();
    this.sink.close();
    this.sound.close();
    try {
      this.transport?.close({ closeCode: 0, reason: reason.slice(0, 100) });
    } catch {
      // Already closed by the server.
    }
    this.context.recorder.log(`wt-fmp4 closed: ${code} ${reason}`);
    reportEnd(this.context.events, report, code, reason);
  }
}

export function connect(context: TransportContext): TransportSession {
  const api = mediaSourceApi();
  if (!api) {
    // No MSE here: say so as a session that failed, which is what the player expects from a module.
    const session: TransportSession = {
      capabilities: { input: false, audio: false, videoToggle: false, keyframesOnly: false },
      sendInput: () => undefined,
      setVideoEnabled: () => undefined,
      setKeyframesOnly: () => undefined,
      close: () => undefined,
    };
    queueMicrotask(() => context.events.failed('MediaSource missing'));
    return session;
  }
  return new WtFmp4Session(context, api);
}
