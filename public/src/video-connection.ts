/**
 * The connection that carries the pictures: negotiates a transport (the
 * winner of last time first, then the table's order), gives each candidate
 * a few seconds to show a picture, reconnects with back-off, and moves on to
 * the next candidate when one cannot work; `TransportSelector` decides
 * which of those happens. The player owns everything around it (UI, input,
 * degrading).
 */
import { ReconnectBackoff } from './reconnect.js';
import type { PlayerState, StatsRecorder } from './stats/player-stats.js';
import type { StreamLocation } from './stream-path.js';
import type { TransportMemory } from './transports/memory.js';
import { planNegotiation, TransportSelector, type Candidate } from './transports/negotiation.js';
import { TRANSPORTS } from './transports/registry.js';
import type {
  SessionEvents,
  SessionPreferences,
  SessionState,
  TransportContext,
  TransportDefinition,
  TransportSession,
} from './transports/types.js';

/** A candidate must show a picture this soon, or the next one is tried. */
const CONNECT_TIMEOUT_MS = 4000;

export interface ConnectionHost {
  context(variant: string | null, events: SessionEvents, preferences: SessionPreferences): TransportContext;
  /** A state to show: the session's, or the connection's own (reconnecting, unsupported). */
  state(state: PlayerState, detail: string): void;
  /** A session started or reported a state: input routing may have to follow. */
  sessionChanged(): void;
}

export interface ConnectionRequest {
  readonly stream: StreamLocation;
  readonly forced: string | null;
  readonly protocol: string | null;
  /** A transport to try first when nothing was remembered for the site (see `NegotiationRequest.preferred`). */
  readonly preferred?: string | null;
}

export class VideoConnection {
  /**
   * Set while JPEG pictures stand in: sessions then start with video off,
   * carry only sound and input, need no picture to prove themselves, and
   * reconnect in place rather than fall back.
   */
  videoOff = false;
  keyframesOnly = false;
  private request: ConnectionRequest | null = null;
  private selector: TransportSelector | null = null;
  private current: TransportSession | null = null;
  private lastState: SessionState | null = null;
  /** This attempt reached the server (playing, or waiting for a publisher). */
  private connected = false;
  /** This attempt showed a picture. */
  private played = false;
  /** Bumped per attempt so a late event from an abandoned session changes nothing. */
  private generation = 0;
  private backoff = new ReconnectBackoff();
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnectDue: number | null = null;

  constructor(
    private readonly host: ConnectionHost,
    private readonly recorder: StatsRecorder,
    private readonly memory: TransportMemory,
    private readonly transports: readonly TransportDefinition[] = TRANSPORTS,
  ) {}

  get session(): TransportSession | null {
    return this.current;
  }

  get candidate(): Candidate | null {
    return this.selector?.current ?? null;
  }

  /** What the session last reported. */
  get state(): SessionState | null {
    return this.lastState;
  }

  /** performance.now() of the next reconnect, while one is pending. */
  get reconnectAt(): number | null {
    return this.reconnectDue;
  }

  start(request: ConnectionRequest): void {
    this.stop();
    this.request = request;
    this.backoff = new ReconnectBackoff();
    this.negotiate();
  }

  stop(): void {
    this.endSession();
    this.selector = null;
  }

  /** Connects the current candidate again at once ("retry video" after its session was closed). */
  reconnectNow(): void {
    if (!this.selector) return;
    this.endSession();
    this.attempt();
  }

  private negotiate(): void {
    this.clearReconnect();
    const { stream, forced, protocol, preferred } = this.request!;
    const plan = planNegotiation(this.transports, { forced, protocol, preferred, remembered: forced ? null : this.memory.recall(stream.origin) });
    const stats = this.recorder.stats;
    if (!plan.ok) {
      this.selector = null;
      stats.transport = null;
      stats.skipped = [];
      this.host.state('unsupported', plan.reason);
      return;
    }
    this.selector = new TransportSelector(plan);
    stats.skipped = this.selector.skipped;
    const order = plan.candidates.map((c) => c.key).join(' → ');
    this.recorder.log(`transports: ${order}${plan.skipped.length > 0 ? ` (unsupported: ${plan.skipped.join('; ')})` : ''}`);
    this.attempt();
  }

  private attempt(): void {
    this.clearReconnect();
    const candidate = this.selector?.current;
    if (!candidate || !this.request) return;
    const generation = ++this.generation;
    this.connected = false;
    this.played = false;
    this.lastState = null;
    if (!this.videoOff) {
      this.recorder.stats.transport = candidate.transport.id;
      this.recorder.stats.transportDetail = candidate.variant ?? '';
    }
    this.recorder.log(`trying ${candidate.key}`);
    const events: SessionEvents = {
      state: (state, detail) => {
        if (generation === this.generation) this.sessionState(state, detail ?? '');
      },
      closed: (code, reason) => {
        if (generation === this.generation) this.ended(code === 4404 ? `no such path: ${this.request!.stream.path}` : reason, false, false);
      },
      failed: (reason) => {
        if (generation === this.generation) this.ended(reason, true, false);
      },
      stalled: (reason) => {
        if (generation === this.generation) this.ended(reason, false, false, true);
      },
    };
    if (!this.videoOff) this.armConnectTimer(generation);
    try {
      const preferences = { videoEnabled: !this.videoOff, keyframesOnly: this.keyframesOnly, audio: true };
      this.current = candidate.transport.connect(this.host.context(candidate.variant, events, preferences));
    } catch (err) {
      const reason = `cannot start: ${(err as Error).message}`;
      queueMicrotask(() => events.failed(reason));
      return;
    }
    this.host.sessionChanged();
  }

  private sessionState(state: SessionState, detail: string): void {
    this.lastState = state;
    if (state === 'playing' || state === 'waiting') {
      this.backoff.markHealthy(performance.now());
      this.clearConnectTimer();
      if (!this.connected) {
        this.connected = true;
        this.selector?.connected();
      }
    }
    const candidate = this.selector?.current;
    if (state === 'playing' && !this.played && candidate) {
      this.played = true;
      this.recorder.log(`${candidate.key} plays`);
      if (!this.selector!.forced) this.memory.remember(this.request!.stream.origin, candidate.key);
    }
    if (state === 'connecting' && !this.played && !this.videoOff) this.armConnectTimer(this.generation);
    // A session still being built reports from inside its constructor: nothing to route yet.
    if (this.current) this.host.sessionChanged();
    this.host.state(state, detail);
  }

  /**
   * Before a candidate worked, the next one is tried at once; after, the
   * same one reconnects, and is given up after two failed reconnects.
   * A timeout counts as never having worked, even after a wait for a
   * publisher: the server answered, but no picture ever came. A stall
   * (it played, then stuck with the stream live) moves on at once.
   */
  private ended(reason: string, hard: boolean, timedOut: boolean, stalled = false): void {
    const wasConnected = this.played || (this.connected && !timedOut);
    this.endSession();
    const selector = this.selector;
    if (!selector) return;
    if (this.videoOff && !hard && !stalled) {
      this.schedule(reason, () => this.attempt());
      return;
    }
    switch (selector.ended(reason, { hard, wasConnected, stalled })) {
      case 'retry':
        this.schedule(reason, () => this.attempt());
        break;
      case 'next':
        this.recorder.log(`falling back: ${reason}`);
        this.backoff = new ReconnectBackoff();
        this.attempt();
        break;
      case 'exhausted':
        if (selector.forced) this.host.state('unsupported', reason);
        // Everything failed, most likely the server or the network: start over from the best, after a pause.
        else this.schedule(`no transport worked (${selector.skipped.join('; ')})`, () => this.negotiate());
        break;
    }
  }

  private schedule(reason: string, then: () => void): void {
    const delay = this.backoff.nextDelayMs(performance.now(), Math.random());
    this.reconnectDue = performance.now() + delay;
    this.host.state('reconnecting', reason);
    this.reconnectTimer = setTimeout(() => {
      this.recorder.stats.reconnects++;
      then();
    }, delay);
  }

  private armConnectTimer(generation: number): void {
    const timeoutMs = this.selector?.current?.transport.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.clearConnectTimer();
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (generation === this.generation) this.ended(`no picture within ${timeoutMs / 1000} s`, false, true);
    }, timeoutMs);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.reconnectDue = null;
  }

  private endSession(): void {
    this.generation++;
    this.clearReconnect();
    this.clearConnectTimer();
    this.lastState = null;
    if (this.current) {
      this.current.close();
      this.current = null;
      this.recorder.connectionEnded();
    }
  }
}
