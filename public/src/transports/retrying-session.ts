/**
 * A side session the player keeps alive on its own (the ws-nal input
 * channel, JPEG pictures while degraded): whatever ends it, it comes back
 * after an exponential back-off, without renegotiating anything.
 */
import { ReconnectBackoff } from '../reconnect.js';
import type { SessionEvents, SessionState, TransportSession } from './types.js';

/** A connection that lasted this long resets the back-off (see ReconnectBackoff). */
const HEALTHY_AFTER_MS = 10_000;

export class RetryingSession {
  private session: TransportSession | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly backoff = new ReconnectBackoff({ healthyAfterMs: HEALTHY_AFTER_MS });
  private generation = 0;
  private closed = false;

  constructor(
    private readonly start: (events: SessionEvents) => TransportSession,
    private readonly log: (message: string) => void,
    private readonly onState: (state: SessionState | 'reconnecting', detail: string) => void = () => undefined,
  ) {
    this.connect();
  }

  get current(): TransportSession | null {
    return this.session;
  }

  close(): void {
    this.closed = true;
    this.generation++;
    if (this.timer !== null) clearTimeout(this.timer);
    this.session?.close();
    this.session = null;
  }

  private connect(): void {
    this.timer = null;
    const generation = ++this.generation;
    const ended = (reason: string) => {
      if (generation !== this.generation || this.closed) return;
      this.session = null;
      const delay = this.backoff.nextDelayMs(performance.now(), Math.random());
      this.log(`${reason}; again in ${Math.round(delay)} ms`);
      this.onState('reconnecting', reason);
      this.timer = setTimeout(() => this.connect(), delay);
    };
    // Counted from the start: these sessions may never report `playing` (an input channel has no video).
    this.backoff.markHealthy(performance.now());
    this.session = this.start({
      state: (state, detail) => {
        if (generation === this.generation && !this.closed) this.onState(state, detail ?? '');
      },
      closed: (_code, reason) => ended(reason),
      failed: (reason) => ended(reason),
      stalled: (reason) => ended(reason),
    });
  }
}
