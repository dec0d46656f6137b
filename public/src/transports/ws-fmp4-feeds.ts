/**
 * The two wire variants of ws-fmp4 (docs/protocols/ws-fmp4.md), reduced to
 * the same events: control messages, one initialization segment per track,
 * then media segments. What differs is how a track is announced (its own
 * RTWebSocket flow with the MIME type in the flow metadata, or the binary
 * message after `init`), how the RTT is measured, and how a player that
 * falls behind pushes back (pausing a flow, or not reading the socket).
 */
import { RTWebSocketConnection, type RecvFlow, type SendFlow } from '../../../src/protocols/rtwebsocket/index.js';
import { encodePing, parseServerText, type ServerMessage } from '../protocol/ws-nal-wire.js';
import type { StatsRecorder } from '../stats/player-stats.js';
import { openMessageSocket, type MessageSocket } from './message-socket.js';

export interface Fmp4FeedEvents {
  open(): void;
  control(message: ServerMessage): void;
  /** The first message of a track: its initialization segment. `mime` is null when the server did not say. */
  track(key: string, mime: string | null, init: Uint8Array): void;
  segment(key: string, bytes: Uint8Array): void;
  closed(code: number, reason: string): void;
}

export interface Fmp4Feed {
  /** Variant and socket API, for the stats. */
  readonly detail: string;
  /** All tracks in one SourceBuffer (`combined`) rather than one per track. */
  readonly combined: boolean;
  /** performance.now() of the last byte received. */
  readonly lastMessageAt: number;
  readonly rttMs: number | null;
  sendControl(text: string): void;
  /** A track's append queue is this long now; the feed pushes back on the server while it is long. */
  backlog(key: string, queued: number): void;
  ping(): void;
  close(): void;
}

/** Appends waiting before the receive side pushes back, and when it lets go again. */
const BACKLOG_HIGH = 20;
const BACKLOG_LOW = 5;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function closeDescription(code: number, reason: string): string {
  if (reason) return reason;
  return code === 1006 ? 'connection lost' : `closed with code ${code}`;
}

function parseControl(text: string, recorder: StatsRecorder): ServerMessage | null {
  try {
    return parseServerText(text);
  } catch (err) {
    recorder.log(`ws-fmp4 ignored a control message: ${(err as Error).message}`);
    return null;
  }
}

interface FlowMetadata {
  readonly polycast?: unknown;
  readonly kind?: unknown;
  readonly mime?: unknown;
}

function flowMetadata(bytes: Uint8Array): FlowMetadata {
  try {
    const value: unknown = JSON.parse(fromUtf8.decode(bytes));
    return typeof value === 'object' && value !== null ? (value as FlowMetadata) : {};
  } catch {
    return {};
  }
}

/** `?protocol=rtwebsocket`: a control flow, and one flow per track whose receive window is the flow control. */
export class RtwsFeed implements Fmp4Feed {
  readonly combined = false;
  lastMessageAt = performance.now();
  private readonly socket: MessageSocket;
  private conn: RTWebSocketConnection | null = null;
  private returnFlow: SendFlow | null = null;
  private readonly unsent: string[] = [];
  private readonly tracks = new Map<string, RecvFlow>();
  private measuredRtt: number | null = null;
  private ended = false;

  constructor(
    url: string,
    private readonly events: Fmp4FeedEvents,
    private readonly recorder: StatsRecorder,
  ) {
    this.socket = openMessageSocket(url, {
      open: () => this.attach(),
      message: (data) => {
        this.lastMessageAt = performance.now();
        // Text is not part of RTWebSocket.
        if (typeof data !== 'string') this.conn?.onMessage(new Uint8Array(data));
      },
      close: (code, reason) => {
        this.conn?.transportClosed();
        this.end(code, closeDescription(code, reason));
      },
    });
  }

  get detail(): string {
    return `rtwebsocket · ${this.socket.api}`;
  }

  get rttMs(): number | null {
    return this.measuredRtt;
  }

  sendControl(text: string): void {
    if (this.returnFlow?.isOpen) this.returnFlow.write(utf8.encode(text));
    else this.unsent.push(text);
  }

  backlog(key: string, queued: number): void {
    const flow = this.tracks.get(key);
    if (!flow) return;
    // A paused flow's window shrinks by what it holds: the server's sender stops, and its deadlines abandon what went stale.
    if (queued >= BACKLOG_HIGH) flow.paused = true;
    else if (queued <= BACKLOG_LOW) flow.paused = false;
  }

  ping(): void {
    const conn = this.conn;
    if (!conn?.isOpen) return;
    conn.ping().then(
      () => (this.measuredRtt = conn.rtt),
      () => undefined,
    );
  }

  close(): void {
    this.ended = true;
    this.conn?.close();
    this.socket.close(1000, 'closed by the player');
  }

  private attach(): void {
    const conn = new RTWebSocketConnection(
      {
        send: (bytes) => this.socket.send(bytes),
        bufferedAmount: () => this.socket.bufferedAmount,
        close: (code, reason) => this.socket.close(code, reason),
      },
      { onCallbackError: (err) => this.recorder.log(`ws-fmp4 callback failed: ${(err as Error)?.message ?? err}`) },
    );
    // The connection closes the socket itself on a protocol error; the socket then reports nothing.
    conn.onClose = (err) => {
      if (err) this.end(4002, err.message);
    };
    conn.onRecvFlow = (flow) => this.accept(flow);
    this.conn = conn;
    this.events.open();
  }

  private accept(flow: RecvFlow): void {
    const meta = flowMetadata(flow.metadata);
    if (meta.polycast === 'control') {
      flow.accept();
      flow.onMessage = (bytes) => {
        const message = parseControl(fromUtf8.decode(bytes), this.recorder);
        if (message) this.events.control(message);
      };
      this.returnFlow = flow.openReturnFlow(utf8.encode(JSON.stringify({ polycast: 'client' })));
      for (const text of this.unsent.splice(0)) this.sendControl(text);
      return;
    }
    const key = meta.kind === 'video' || meta.kind === 'audio' ? meta.kind : null;
    if (meta.polycast !== 'track' || key === null) {
      this.recorder.log(`ws-fmp4 refused a flow with metadata ${fromUtf8.decode(flow.metadata).slice(0, 80)}`);
      return;
    }
    flow.accept();
    // A new flow for a kind replaces the old one: the server closes a track's flow before it opens the next.
    this.tracks.set(key, flow);
    const mime = typeof meta.mime === 'string' ? meta.mime : null;
    let first = true;
    flow.onMessage = (bytes) => {
      if (this.tracks.get(key) !== flow) return;
      if (first) {
        first = false;
        this.events.track(key, mime, bytes);
      } else {
        this.events.segment(key, bytes);
      }
    };
    flow.onComplete = () => {
      if (this.tracks.get(key) === flow) this.tracks.delete(key);
    };
  }

  private end(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.events.closed(code, reason);
  }
}

/** `?protocol=standard`: JSON control as in ws-nal, the init segment after each `init`, then one segment per message. */
export class StandardFeed implements Fmp4Feed {
  readonly combined = true;
  lastMessageAt = performance.now();
  private readonly socket: MessageSocket;
  private mime: string | null = null;
  private awaitingInit = false;
  private pingId = 0;
  private measuredRtt: number | null = null;
  private ended = false;

  constructor(
    url: string,
    private readonly events: Fmp4FeedEvents,
    private readonly recorder: StatsRecorder,
  ) {
    this.socket = openMessageSocket(url, {
      open: () => events.open(),
      message: (data) => this.receive(data),
      close: (code, reason) => this.end(code, closeDescription(code, reason)),
    });
  }

  get detail(): string {
    return `standard · ${this.socket.api}`;
  }

  get rttMs(): number | null {
    return this.measuredRtt;
  }

  sendControl(text: string): void {
    this.socket.send(text);
  }

  backlog(_key: string, queued: number): void {
    // Not reading lets TCP push back; the server then drops whole GOPs for this viewer.
    if (queued >= BACKLOG_HIGH) this.socket.setReading(false);
    else if (queued <= BACKLOG_LOW) this.socket.setReading(true);
  }

  ping(): void {
    this.socket.send(encodePing(++this.pingId, performance.now()));
  }

  close(): void {
    this.ended = true;
    this.socket.close(1000, 'closed by the player');
  }

  private receive(data: ArrayBuffer | string): void {
    this.lastMessageAt = performance.now();
    if (typeof data === 'string') {
      const message = parseControl(data, this.recorder);
      if (!message) return;
      if (message.type === 'init') {
        this.awaitingInit = true;
        this.mime = message.mime ?? null;
      } else if (message.type === 'offline') {
        this.awaitingInit = false;
      } else if (message.type === 'pong') {
        this.measuredRtt = performance.now() - message.t;
      }
      this.events.control(message);
      return;
    }
    const bytes = new Uint8Array(data);
    if (this.awaitingInit) {
      this.awaitingInit = false;
      this.events.track('combined', this.mime, bytes);
    } else {
      this.events.segment('combined', bytes);
    }
  }

  private end(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.events.closed(code, reason);
  }
}
