import { RTWebSocketConnection, Priority, type SendFlow, type WriteReceipt, type RecvFlow } from '../../src/protocols/rtwebsocket/index.js';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import type { Frame, StreamDescription } from '../../src/stream/types.js';
import { FmpViewerBase, type FmpViewerOptions } from './viewer-base.js';
import { SegmentBatcher, segmentsFor, type StreamSegments } from './segments.js';

/** Media older than this is abandoned rather than sent (docs/protocols/ws-fmp4.md). */
export const BUDGET_MS = 1000;
/** A safety cap on what one track flow may queue, beyond the deadlines. */
const FLOW_QUEUE_LIMIT = 4 * 1024 * 1024;
/**
 * Track flows a viewer may reject (flow exception) in one session and have
 * reopened; the next rejection closes the session (docs/protocols/ws-fmp4.md).
 */
export const TRACK_REOPEN_LIMIT = 3;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const json = (value: unknown) => encoder.encode(JSON.stringify(value));

type TrackKind = 'video' | 'audio';

interface TrackOpening {
  meta: Record<string, unknown>;
  priority: number;
  init: Uint8Array;
}

interface TrackFlows {
  segments: StreamSegments;
  video?: SendFlow;
  audio?: SendFlow;
  /** How each track's flow is opened, to open it again after the viewer rejected it. */
  opening: Partial<Record<TrackKind, TrackOpening>>;
  batcher?: SegmentBatcher;
  /** Receipt of the last video segment: the parent of the next one until a keyframe. */
  lastVideo?: WriteReceipt;
  /** The video flow was reopened: a new flow starts at a keyframe, like any other. */
  videoNeedsKey?: boolean;
}

/**
 * `?protocol=rtwebsocket`: the fMP4 media mapping on RTWebSocket flows — a
 * control flow, one flow per track with audio above video, deadlines on
 * every segment and GOP chains of write receipts.
 */
export class RtwsFmpViewer extends FmpViewerBase implements ReaderSink {
  readonly reader: Reader;
  readonly conn: RTWebSocketConnection;
  private readonly control: SendFlow;
  private tracks: TrackFlows | undefined;
  abandoned = 0;
  /** Track flows this viewer rejected so far. */
  rejections = 0;

  constructor(o: FmpViewerOptions) {
    super(o, 'rtwebsocket');
    this.reader = new Reader({ id: this.id, protocol: 'ws-fmp4', remoteAddress: o.remoteAddress }, this, o.queueSize);
    const ws = o.ws;
    this.conn = new RTWebSocketConnection(
      {
        send: (bytes) => {
          if (ws.readyState === ws.OPEN) ws.send(bytes);
        },
        bufferedAmount: () => ws.bufferedAmount,
        close: (code, reason) => this.close(code, reason),
      },
      { onCallbackError: (err) => o.log.error({ err }, 'rtwebsocket callback failed') },
    );
    this.conn.onClose = (err) => this.finish(err ? `rtwebsocket: ${err.message}` : 'rtwebsocket closed');
    ws.on('message', (data: Buffer, isBinary) => {
      this.touch();
      if (!isBinary) {
        // RTWebSocket is binary messages only; a text frame here is a client of the other variant
        // (or none at all), which learns more from this close than from being ignored.
        this.close(1003, 'text messages are not part of RTWebSocket; JSON control goes on ?protocol=standard');
        return;
      }
      this.conn.onMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    this.control = this.conn.openFlow(json({ polycast: 'control', version: 1 }), { priority: Priority.FLASH });
    this.control.onRecvFlow = (flow) => this.acceptClientFlow(flow);
    this.control.onException = (code, description) => this.close(1008, `control flow rejected${description ? `: ${description}` : code !== undefined ? ` (${code})` : ''}`);
    this.sendControl(this.helloMessage());
  }

  writable(): boolean {
    if (this.isClosed) return false;
    const t = this.tracks;
    return (t?.video?.bufferLength ?? 0) < FLOW_QUEUE_LIMIT && (t?.audio?.bufferLength ?? 0) < FLOW_QUEUE_LIMIT;
  }

  write(frame: Frame): void {
    const t = this.tracks;
    if (t === undefined) return;
    const flow = frame.kind === 'video' ? t.video : t.audio;
    // Rejected by the viewer, its replacement not open yet (the exception callback is a microtask away).
    if (flow === undefined || !flow.isOpen) return;
    if (frame.kind === 'video' && t.videoNeedsKey) {
      if (!frame.key) return;
      t.videoNeedsKey = false;
      if (t.batcher) {
        // What the batcher hands back now predates the new flow: the flow starts with this keyframe.
        t.batcher.push(frame);
        return;
      }
    }
    const bytes = t.batcher ? t.batcher.push(frame) : t.segments.segment(frame);
    if (bytes === undefined) return;
    const receipt = flow.write(bytes, { startWithin: BUDGET_MS / 2, finishWithin: BUDGET_MS });
    receipt.onAbandoned = () => this.abandoned++;
    if (frame.kind === 'video') {
      // A P-frame is useless without its references: chain it to the previous
      // segment so one abandonment takes the rest of the GOP with it.
      if (!frame.key && t.lastVideo !== undefined) receipt.parent = t.lastVideo;
      t.lastVideo = receipt;
    }
  }

  describe(desc: StreamDescription): void {
    this.closeTracks();
    // The connection may be gone a microtask before this viewer hears of it.
    if (this.isClosed || !this.conn.isOpen) return;
    const segments = segmentsFor(desc);
    this.sendControl(this.initMessage(desc));
    const t: TrackFlows = { segments, opening: {} };
    if (desc.audio && segments.audioInit) {
      t.opening.audio = {
        meta: { polycast: 'track', kind: 'audio', codec: desc.audio.codecString, mime: segments.audioMime, sampleRate: desc.audio.sampleRate, channels: desc.audio.channels },
        priority: Priority.IMMEDIATE,
        init: segments.audioInit,
      };
      t.audio = this.openTrack(t, 'audio');
    }
    if (desc.video && segments.videoInit) {
      t.opening.video = {
        meta: { polycast: 'track', kind: 'video', codec: desc.video.codecString, mime: segments.videoMime, width: desc.video.width, height: desc.video.height },
        priority: Priority.PRIORITY,
        init: segments.videoInit,
      };
      t.video = this.openTrack(t, 'video');
    }
    if (this.o.segmentSize > 1) t.batcher = new SegmentBatcher(desc, this.o.segmentSize);
    this.tracks = t;
  }

  offline(reason: string): void {
    this.closeTracks();
    this.sendControl({ type: 'offline', reason });
  }

  protected override extraStats(): Record<string, number> {
    return { abandoned: this.abandoned, rtt: Math.round(this.conn.rtt), baseRtt: Math.round(this.conn.baseRtt) };
  }

  protected sendControl(value: unknown): void {
    if (this.isClosed || !this.control?.isOpen) return;
    this.control.write(json(value));
  }

  protected override onFinish(): void {
    this.tracks = undefined;
    if (this.conn.isOpen) this.conn.close();
  }

  private openTrack(t: TrackFlows, kind: TrackKind): SendFlow {
    const { meta, priority, init } = t.opening[kind]!;
    const flow = this.conn.openFlow(json(meta), { priority, maxQueuedBytes: FLOW_QUEUE_LIMIT });
    flow.onException = (code, description) => this.trackRejected(t, kind, flow, code, description);
    // The init segment must arrive: no deadline.
    flow.write(init);
    return flow;
  }

  /**
   * The viewer rejected a track flow (flow exception). The flow has already
   * stopped taking writes and abandoned what it queued. A new flow means a
   * new initialization segment in this mapping, so the track is reopened on
   * a fresh flow, video from its next keyframe: a player whose SourceBuffer
   * failed starts that track over. A viewer that keeps rejecting is closed.
   */
  private trackRejected(t: TrackFlows, kind: TrackKind, flow: SendFlow, code: number | undefined, description: string | undefined): void {
    // Without a reason the connection closed under the flow; a flow of an old configuration no longer matters.
    if (this.isClosed || !this.conn.isOpen || this.tracks !== t || t[kind] !== flow) return;
    const why = `${kind} flow rejected${code !== undefined ? ` (${code}${description ? `: ${description}` : ''})` : ''}`;
    this.rejections++;
    if (this.rejections > TRACK_REOPEN_LIMIT) {
      this.o.log.warn({ path: this.o.path.name, remoteAddress: this.o.remoteAddress, id: this.id, reason: why }, 'closing viewer: it keeps rejecting track flows');
      this.close(1008, `${why}, ${this.rejections} track flows rejected`);
      return;
    }
    this.o.log.info({ path: this.o.path.name, remoteAddress: this.o.remoteAddress, id: this.id, reason: why }, 'reopening a track flow the viewer rejected');
    // The rejected flow sends its own abandon and flow close; only its replacement is ours to open.
    t[kind] = this.openTrack(t, kind);
    if (kind === 'video') {
      t.lastVideo = undefined;
      t.videoNeedsKey = true;
    }
  }

  private closeTracks(): void {
    const t = this.tracks;
    this.tracks = undefined;
    if (t === undefined) return;
    for (const flow of [t.video, t.audio]) {
      if (flow === undefined) continue;
      // Media of the old configuration is worthless now.
      flow.abandonQueued();
      flow.close();
    }
  }

  private acceptClientFlow(flow: RecvFlow): void {
    let meta: unknown;
    try {
      meta = JSON.parse(decoder.decode(flow.metadata));
    } catch {
      meta = undefined;
    }
    if ((meta as { polycast?: unknown } | undefined)?.polycast !== 'client') {
      flow.close(1, 'unknown flow: expected {"polycast":"client"} metadata');
      return;
    }
    flow.accept();
    flow.onMessage = (bytes) => {
      if (bytes[0] !== 0x7b) {
        this.close(1008, 'client flow messages must be JSON objects');
        return;
      }
      this.handleControlText(decoder.decode(bytes));
    };
  }
}
