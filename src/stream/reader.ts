import type { Frame, StreamDescription } from './types.js';

/**
 * What a transport session implements to receive a stream. The core calls it;
 * the transport never reaches into the stream or the ingest.
 */
export interface ReaderSink {
  /** True while the transport can take another frame without growing its own buffers past its high-water mark. */
  writable(): boolean;
  /** Send one frame. `discontinuity` is set on the first frame after frames were dropped. */
  write(frame: Frame, discontinuity: boolean): void;
  /** The stream's tracks, before the first frame and again after any change. */
  describe(description: StreamDescription): void;
  /** The publisher went away (or never came); the reader stays attached to its path. */
  offline(reason: string): void;
  /**
   * Optional: the writes until `uncork` are one burst (the GOP cache a new
   * reader starts with), which a socket can send in one go instead of a
   * write per frame.
   */
  cork?(): void;
  uncork?(): void;
  /**
   * Optional: audio may reach this sink up to `AUDIO_HOLD_MS` late, in one
   * burst with the next video frame (see `Stream.write`). For transports
   * whose cost is per write rather than per byte: a 340-byte AAC frame
   * otherwise costs a QUIC session a visit, a flush, a packet and its
   * acknowledgement of its own, 47 times a second.
   */
  readonly audioRidesWithVideo?: boolean;
}

export interface ReaderInfo {
  readonly id: string;
  /** Transport name, e.g. `ws-nal`. */
  readonly protocol: string;
  readonly remoteAddress: string;
}

/**
 * Sees one frame in `SEND_SAMPLE_EVERY` that a reader hands to its transport
 * (metrics' ingest-to-send latency). Sampling keeps the per-frame cost of
 * observation to a counter decrement.
 */
export type SendObserver = (reader: Reader, frame: Frame) => void;
export const SEND_SAMPLE_EVERY = 16;

/**
 * Why the core ends a reader, in WebSocket close-code numbering (other
 * transports map it): 1001 going away, 1008 policy (kicked through the API),
 * 1011 internal error (its sink threw), 1013 try again later (no publisher
 * came in time), 4404 the path is gone.
 */
export type KickCode = 1001 | 1008 | 1011 | 1013 | 4404;

/** The sink calls the core makes, named in a failed reader's reason. */
export type SinkMethod = 'writable' | 'write' | 'describe' | 'offline' | 'cork' | 'uncork';

/**
 * Told once when a reader's sink threw; the reader is already closed by then
 * and makes no further sink calls. Set by the path, which ends the session.
 */
export type SinkFaultHandler = (reader: Reader, method: SinkMethod, error: unknown) => void;

export interface ReaderStats {
  framesSent: number;
  bytesSent: number;
  /** Frames discarded because this reader fell behind. */
  framesDropped: number;
  /** Times the queue overflowed. */
  overflows: number;
}

/**
 * One consumer of a path, with its bounded queue.
 *
 * Frames go straight to the sink while it is writable; otherwise they wait in a
 * queue of at most `queueSize` frames (references to frames shared by every
 * reader, so a slow reader costs pointers, not copies). When the queue is full,
 * the reader discards everything queued and every frame up to the next video
 * keyframe: a decoder can resume cleanly there, while a partial GOP would
 * show corruption, and a full queue is stale anyway.
 */
export class Reader {
  readonly stats: ReaderStats = { framesSent: 0, bytesSent: 0, framesDropped: 0, overflows: 0 };
  readonly createdAt = Date.now();
  /** The client's query string (without `?`), for hooks and the API; set by the transport before the reader joins its path. */
  query = '';
  /** Set by the transport: ends the client's session. Without it the path just detaches the reader. */
  kick: ((reason: string, code: KickCode) => void) | undefined;
  /** Set by the path while metrics are on. */
  observer: SendObserver | undefined;
  /** Set by the path: a sink that threw ends here, never in the stream's fan-out or the ingest. */
  onSinkFault: SinkFaultHandler | undefined;
  private sampleCountdown = SEND_SAMPLE_EVERY;

  private queue: Frame[] = [];
  private head = 0;
  private waitingForKey = true;
  private discontinuity = false;
  private hasVideo = false;
  private videoEnabled = true;
  private keyframesOnly = false;
  private closed = false;
  /** Which sink call is under way, for the reason when it throws (a string store, no allocation). */
  private calling: SinkMethod = 'writable';
  private described: StreamDescription | undefined;
  /** The sink's `audioRidesWithVideo`, read once: the stream asks for every audio frame. */
  readonly audioRidesWithVideo: boolean;

  constructor(
    readonly info: ReaderInfo,
    private readonly sink: ReaderSink,
    private readonly queueSize: number,
  ) {
    this.audioRidesWithVideo = sink.audioRidesWithVideo === true;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Stop (false) or resume (true) video; audio continues. Video resumes at the next keyframe. */
  setVideoEnabled(enabled: boolean): void {
    if (enabled && !this.videoEnabled && this.hasVideo) this.waitingForKey = true;
    this.videoEnabled = enabled;
  }

  /** Send only video keyframes: the degraded mode for networks that cannot carry the full stream. */
  setKeyframesOnly(only: boolean): void {
    this.keyframesOnly = only;
  }

  /** @internal called by the stream. */
  describe(description: StreamDescription): void {
    if (this.closed) return;
    // Only a new video configuration invalidates what is queued: frames coded
    // against the old SPS/PPS must not reach a decoder configured for the new one.
    if (description.video !== this.described?.video) {
      this.clearQueue();
      this.waitingForKey = description.video !== undefined;
    }
    this.described = description;
    this.hasVideo = description.video !== undefined;
    try {
      this.sink.describe(description);
    } catch (error) {
      this.fault('describe', error);
    }
  }

  /** @internal called by the stream. */
  offline(reason: string): void {
    if (this.closed) return;
    this.described = undefined;
    this.clearQueue();
    this.waitingForKey = true;
    try {
      this.sink.offline(reason);
    } catch (error) {
      this.fault('offline', error);
    }
  }

  /** @internal called by the stream for every frame, in order. */
  push(frame: Frame): void {
    if (this.closed) return;
    if (frame.kind === 'video') {
      if (!this.videoEnabled) return;
      if (this.waitingForKey) {
        if (!frame.key) {
          this.drop();
          return;
        }
        this.waitingForKey = false;
      } else if (this.keyframesOnly && !frame.key) {
        return;
      }
    } else if (this.waitingForKey && this.hasVideo && this.videoEnabled) {
      // Audio before the video resumes would play ahead of a frozen picture.
      this.drop();
      return;
    }

    // One try per frame and reader; V8 charges nothing for it until something throws.
    try {
      this.calling = 'writable';
      if (this.queued === 0 && this.sink.writable()) {
        this.send(frame);
        return;
      }
    } catch (error) {
      this.fault(this.calling, error);
      return;
    }
    if (this.queued >= this.queueSize) {
      this.overflow();
      return;
    }
    this.queue.push(frame);
  }

  /** Called by the transport when its buffers drained: sends what waited. */
  resume(): void {
    try {
      this.calling = 'writable';
      while (!this.closed && this.head < this.queue.length && this.sink.writable()) {
        const frame = this.queue[this.head]!;
        this.queue[this.head++] = undefined as unknown as Frame;
        this.send(frame);
        this.calling = 'writable';
      }
    } catch (error) {
      // Reached from the transport's own events (a socket's drain): the throw must not escape there either.
      this.fault(this.calling, error);
      return;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Frames that form one burst (the GOP cache at attach): pushed as usual, with the sink corked around them. */
  pushBurst(frames: readonly Frame[]): void {
    if (this.closed || frames.length === 0) return;
    try {
      this.calling = 'cork';
      this.sink.cork?.();
    } catch (error) {
      this.fault(this.calling, error);
      return;
    }
    for (const frame of frames) this.push(frame);
    if (this.closed) return;
    try {
      this.calling = 'uncork';
      this.sink.uncork?.();
    } catch (error) {
      this.fault(this.calling, error);
    }
  }

  /** @internal called by the path when the reader leaves. */
  close(): void {
    this.closed = true;
    this.clearQueue();
  }

  private send(frame: Frame): void {
    const discontinuity = this.discontinuity;
    this.discontinuity = false;
    this.stats.framesSent++;
    this.stats.bytesSent += frame.data.byteLength;
    this.calling = 'write';
    this.sink.write(frame, discontinuity);
    if (this.observer !== undefined && --this.sampleCountdown === 0) {
      this.sampleCountdown = SEND_SAMPLE_EVERY;
      this.observer(this, frame);
    }
  }

  /**
   * The sink threw: this reader stops at once (no further sink calls, so a
   * sink that throws on every frame is reported once) and the path ends it.
   */
  private fault(method: SinkMethod, error: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.clearQueue();
    this.onSinkFault?.(this, method, error);
  }

  /** The queue is full: the incoming frame and everything queued go, and video restarts at a keyframe. */
  private overflow(): void {
    this.stats.overflows++;
    this.stats.framesDropped += this.queued + 1;
    this.clearQueue();
    this.discontinuity = true;
    this.waitingForKey = this.hasVideo && this.videoEnabled;
  }

  private drop(): void {
    // Waiting for the very first keyframe is not a loss: nothing was sent yet.
    if (this.stats.framesSent === 0) return;
    this.stats.framesDropped++;
    this.discontinuity = true;
  }

  private clearQueue(): void {
    this.queue = [];
    this.head = 0;
  }
}
