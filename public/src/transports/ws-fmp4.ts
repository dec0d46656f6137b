/**
 * The `ws-fmp4` transport (docs/protocols/ws-fmp4.md): fragmented MP4 over a
 * WebSocket into Media Source Extensions, for browsers without WebCodecs.
 * RTWebSocket is the preferred variant (a SourceBuffer per track, flow
 * control by receive windows, stale media abandoned by the server), plain
 * `standard` the fallback. Input goes over the player's ws-nal input channel.
 *
 * With RTWebSocket the tracks come apart, and the sound is played apart too
 * (`render/fmp4-sound.ts`: WebCodecs, or an audio element of its own), so the
 * video element's SourceBuffer holds video alone: an audio SourceBuffer holds
 * the whole element to its own buffering (200 ms and more in Chromium, about
 * half a second in WebKit). `standard` sends one combined stream, played as is.
 */
import { mediaSourceApi, type MediaSourceApi } from '../browser-apis.js';
import { fragmentInfo, initTracks, type InitTrack } from '../protocol/fmp4-probe.js';
import { encodeSetKeyframesOnly, encodeSetVideoEnabled, type ServerMessage } from '../protocol/ws-nal-wire.js';
import { playSegmentSound, soundConfigOf } from '../render/fmp4-sound.js';
import { LiveVideo, liveTuning } from '../render/live-video.js';
import { MseSink, type TrackSpec } from '../render/mse-sink.js';
import { createSoundRenderer, type SoundRenderer } from '../render/sound.js';
import { webSocketUrl } from '../stream-path.js';
import type { SessionCapabilities, TransportContext, TransportDefinition, TransportSession } from './types.js';
import { RtwsFeed, StandardFeed, type Fmp4Feed } from './ws-fmp4-feeds.js';
import { mediaErrorReport, reportEnd, type EndReport } from './session-end.js';
import { bindElementMute } from '../render/element-mute.js';

const TICK_MS = 250;
const PING_EVERY_TICKS = 4;
/** The server sends `stats` every 2 s and answers pings every second: this much silence is a dead connection. */
const SILENCE_TIMEOUT_MS = 5000;
/** Media kept behind the playhead; older is removed so a long session never fills the SourceBuffers. */
const KEEP_BEHIND_S = 10;
/** Segments held while the other track's init segment is still on its way. */
const MAX_EARLY_SEGMENTS = 120;
/** What every H.264 MSE implementation plays: Constrained Baseline 3.0. */
const PROBE_MIME = 'video/mp4; codecs="avc1.42E01E"';

interface TrackInit {
  readonly mime: string;
  readonly init: Uint8Array;
  readonly tracks: readonly InitTrack[];
}

class WsFmp4Session implements TransportSession {
  readonly capabilities: SessionCapabilities = { input: false, audio: true, videoToggle: true, keyframesOnly: true };
  private readonly sink: MseSink;
  private readonly live: LiveVideo;
  private readonly feed: Fmp4Feed;
  /** Plays the audio track when it is not given to the video element (see the top of the file); null when it is. */
  private readonly sound: SoundRenderer | null;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly unsubscribeMute: () => void;
  private readonly onVideoError = () => this.mediaFailed(`video element error: ${this.context.video.error?.message || this.context.video.error?.code}`);
  /** Track keys the last `init` announced; media starts once each has its init segment. */
  private expected: string[] = [];
  private readonly inits = new Map<string, TrackInit>();
  private readonly trackById = new Map<number, InitTrack>();
  private early: { readonly key: string; readonly bytes: Uint8Array }[] = [];
  private ticks = 0;
  private greeted = false;
  private playing = false;
  private finished = false;
  private videoEnabled: boolean;
  private keyframesOnly: boolean;

  constructor(
    private readonly context: TransportContext,
    variant: string,
    private readonly api: MediaSourceApi,
  ) {
    const { recorder, video, audio } = context;
    this.videoEnabled = context.preferences.videoEnabled;
    this.keyframesOnly = context.preferences.keyframesOnly;
    video.playsInline = true;
    this.unsubscribeMute = bindElementMute(video, audio);
    video.addEventListener('error', this.onVideoError);

    this.sink = new MseSink(video, api, {
      drained: (key, queued) => this.feed.backlog(key, queued),
      dropped: (count, why) => {
        recorder.framesDroppedByPlayer(count);
        if (count > 0) recorder.log(`mse: dropped ${count} video segments (${why})`);
      },
      error: (message) => this.mediaFailed(message),
    });
    const soundApart = variant !== 'standard' && context.soundPath !== null;
    this.sound = soundApart ? createSoundRenderer(context.soundPath, audio, recorder) : null;
    this.live = new LiveVideo({
      video,
      recorder,
      ...liveTuning(context.liveBufferMs, soundApart),
      rttMs: () => this.feed.rttMs,
      onFrame: () => this.markPlaying(),
    });
    const url = `${webSocketUrl(context.stream, 'ws/fmp4')}?protocol=${variant}`;
    const events = {
      open: () => recorder.log('ws-fmp4 open'),
      control: (message: ServerMessage) => this.control(message),
      track: (key: string, mime: string | null, init: Uint8Array) => this.track(key, mime, init),
      segment: (key: string, bytes: Uint8Array) => this.segment(key, bytes),
      closed: (code: number, reason: string) => this.finish(code, reason, 'closed'),
    };
    this.feed = variant === 'standard' ? new StandardFeed(url, events, recorder) : new RtwsFeed(url, events, recorder);
    recorder.stats.transportDetail = `${this.feed.detail} · ${api.name}${soundApart ? ` · sound apart (${context.soundPath})` : ''}`;
    recorder.log(`ws-fmp4 connecting to ${url} (${recorder.stats.transportDetail})`);
    context.events.state('connecting');
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  sendInput(): void {
    // The player sends input over its ws-nal input channel: this socket does not take it.
  }

  setVideoEnabled(enabled: boolean): void {
    if (enabled === this.videoEnabled) return;
    this.videoEnabled = enabled;
    // Whatever was held back meanwhile belongs to the old set of tracks.
    this.early = [];
    if (this.greeted) this.feed.sendControl(encodeSetVideoEnabled(enabled));
    // Separate SourceBuffers: without video the element plays the sound alone; with one
    // combined buffer a starved video track stalls everything, so sound stops with it.
    if (!this.feed.combined && this.ready) this.build();
  }

  setKeyframesOnly(keyframesOnly: boolean): void {
    if (keyframesOnly === this.keyframesOnly) return;
    this.keyframesOnly = keyframesOnly;
    if (this.greeted) this.feed.sendControl(encodeSetKeyframesOnly(keyframesOnly));
  }

  close(): void {
    this.finish(1000, 'closed by the player', null);
  }

  private get ready(): boolean {
    return this.expected.length > 0 && this.expected.every((key) => this.inits.has(key));
  }

  private control(message: ServerMessage): void {
    const { recorder, events } = this.context;
    switch (message.type) {
      case 'hello':
        recorder.log(`hello from ${message.server}, protocol ${message.version}, viewer ${message.id}`);
        this.greeted = true;
        if (!this.videoEnabled) this.feed.sendControl(encodeSetVideoEnabled(false));
        if (this.keyframesOnly) this.feed.sendControl(encodeSetKeyframesOnly(true));
        break;
      case 'init':
        this.offline = false;
        this.expected = this.feed.combined ? ['combined'] : [...(message.video ? ['video'] : []), ...(message.audio ? ['audio'] : [])];
        this.inits.clear();
        this.early = [];
        this.sound?.reanchor();
        if (this.playing) {
          this.playing = false;
          events.state('connecting');
        }
        break;
      case 'offline':
        recorder.log(`offline${message.reason ? `: ${message.reason}` : ''}`);
        this.expected = [];
        this.sound?.reanchor();
        this.playing = false;
        this.offline = true;
        events.state('waiting', message.reason);
        break;
      case 'stats':
        recorder.serverDropped(message.dropped);
        if (message.abandoned !== undefined) recorder.serverAbandoned(message.abandoned);
        break;
      case 'pong':
        break;
      case 'unknown':
        recorder.log(`ws-fmp4 ignored unknown message type "${message.name}"`);
        break;
    }
  }

  private track(key: string, mime: string | null, init: Uint8Array): void {
    if (mime === null) return this.mediaFailed(`the server named no MIME type for the ${key} track`);
    if (!this.api.isTypeSupported(mime)) return this.fail(`${this.api.name} cannot play ${mime}`);
    const tracks = initTracks(init);
    for (const track of tracks) this.trackById.set(track.trackId, track);
    this.inits.set(key, { mime, init, tracks });
    this.context.recorder.log(`ws-fmp4 ${key} track: ${mime}${this.sound && key === 'audio' ? ', played apart' : ''}`);
    if (this.sound && key === 'audio') {
      const config = soundConfigOf(init, tracks);
      if (config) this.sound.configure(config);
      else this.context.recorder.log('ws-fmp4: no readable audio configuration (esds, dOps) in the audio init segment: no sound');
    }
    if (this.ready) this.build();
  }

  /** (Re)creates the MediaSource with every announced track, less video while it is off. */
  private build(): void {
    const specs: TrackSpec[] = [];
    for (const key of this.expected) {
      const init = this.inits.get(key)!;
      const hasVideo = init.tracks.some((t) => t.kind === 'video') || key === 'video';
      if (key === 'video' && !this.videoEnabled) continue;
      if (key === 'audio' && this.sound) continue;
      specs.push({ key, mime: init.mime, init: init.init, hasVideo });
    }
    this.live.reset();
    // Queues start empty again: a feed paused for the old SourceBuffers would otherwise wait for a drain that never comes.
    for (const key of this.expected) this.feed.backlog(key, 0);
    if (specs.length === 0) {
      this.sink.close();
      return;
    }
    this.sink.configure(specs);
    for (const { key, bytes } of this.early.splice(0)) this.segment(key, bytes);
  }

  private segment(key: string, bytes: Uint8Array): void {
    if (this.sound && key === 'audio') return this.playApart(bytes);
    if (!this.sink.configured) {
      if (this.expected.includes(key) && this.early.length < MAX_EARLY_SEGMENTS) this.early.push({ key, bytes });
      return;
    }
    const info = fragmentInfo(bytes);
    const track = info ? this.trackById.get(info.trackId) : undefined;
    const video = track?.kind === 'video';
    // Segments already on their way when video was turned off.
    if (video && !this.videoEnabled) return;
    if (video && info && track) this.live.noteArrival(info.baseDecodeTime / track.timescale, performance.now());
    this.sink.append(key, bytes, { video, keyframe: info?.keyframe ?? false });
    this.feed.backlog(key, this.sink.queued(key));
  }

  /** An audio segment for the sound renderer; the video element never sees it. */
  private playApart(bytes: Uint8Array): void {
    const info = fragmentInfo(bytes);
    const track = info ? this.trackById.get(info.trackId) : undefined;
    // Before its init segment the track is unknown: nothing to decode it with yet.
    if (!this.sound || track?.kind !== 'audio' || !this.inits.has('audio')) return;
    playSegmentSound(this.sound, bytes, track);
    // With video off (or none published), sound is all there is: it playing is the session playing.
    if (!this.videoEnabled || !this.expected.includes('video')) this.markPlaying();
  }

  private tick(): void {
    const now = performance.now();
    if (now - this.feed.lastMessageAt > SILENCE_TIMEOUT_MS) {
      this.finish(4000, `no data from the server for ${SILENCE_TIMEOUT_MS / 1000} s`, 'closed');
      return;
    }
    this.live.tick(now);
    this.sink.trimBehind(this.context.video.currentTime, KEEP_BEHIND_S);
    if (++this.ticks % PING_EVERY_TICKS === 0) this.feed.ping();
    this.context.recorder.rtt(this.feed.rttMs);
  }

  /** Between `offline` and the next `init`: pictures still in the decoder belong to the publisher that left. */
  private offline = false;

  private markPlaying(): void {
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
    this.feed.close();
    this.live.close();
    this.sink.close();
    this.sound?.close();
    this.context.recorder.log(`ws-fmp4 closed: ${code} ${reason}`);
    reportEnd(this.context.events, report, code, reason);
  }
}

export const wsFmp4Transport: TransportDefinition = {
  id: 'ws-fmp4',
  description: 'fragmented MP4 over WebSocket (RTWebSocket flows or plain), played by Media Source Extensions',
  surface: 'video',
  variants: ['rtwebsocket', 'standard'],
  unsupportedReason() {
    if (typeof WebSocket === 'undefined') return 'no WebSocket';
    const api = mediaSourceApi();
    if (!api) return 'MediaSource missing';
    if (!api.isTypeSupported(PROBE_MIME)) return `${api.name} cannot play H.264`;
    return null;
  },
  connect(context) {
    const api = mediaSourceApi();
    if (!api) throw new Error('ws-fmp4 needs MediaSource');
    return new WsFmp4Session(context, context.variant ?? 'rtwebsocket', api);
  },
};
