import type { WebSocket } from 'ws';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import type { SocketOutput } from '../../src/web/socket-output.js';
import { serializeOnce, type Frame, type StreamDescription } from '../../src/stream/types.js';
import { writeWsBinaryHeader, wsHeaderLength } from '../ws-nal/protocol.js';
import { FmpViewerBase, type FmpViewerOptions } from './viewer-base.js';
import { SegmentBatcher, segmentsFor, type StreamSegments } from './segments.js';

const SOCKET_HIGH_WATER = 256 * 1024;

/**
 * `?protocol=standard`: an init segment after each `init`, then one media
 * segment per WebSocket message. Segments are written to the socket as
 * pre-built WebSocket frames shared by all viewers.
 */
export class StandardFmpViewer extends FmpViewerBase implements ReaderSink {
  readonly reader: Reader;
  private segments: StreamSegments | undefined;
  private batcher: SegmentBatcher | undefined;

  constructor(
    o: FmpViewerOptions,
    private readonly output: SocketOutput,
    private readonly pacer: { open(): boolean },
  ) {
    super(o, 'standard');
    this.reader = new Reader({ id: this.id, protocol: 'ws-fmp4', remoteAddress: o.remoteAddress }, this, o.queueSize);
    output.onDrain(() => this.reader.resume());
    o.ws.on('message', (data: Buffer, isBinary) => {
      this.touch();
      if (isBinary) this.close(1003, 'binary messages are not accepted on /ws/fmp4?protocol=standard');
      else this.handleControlText(data.toString('utf8'));
    });
    this.sendControl(this.helloMessage());
  }

  writable(): boolean {
    return !this.isClosed && this.output.hasRoom(SOCKET_HIGH_WATER) && this.pacer.open();
  }

  write(frame: Frame): void {
    const segments = this.segments;
    if (segments === undefined) return;
    if (this.batcher !== undefined) {
      const seg = this.batcher.push(frame);
      if (seg !== undefined) this.sendMessage(seg);
      return;
    }
    // Header and segment in one buffer, built once per frame for every viewer.
    const bytes = serializeOnce(frame, `ws-fmp4:${segments.id}`, (f) => {
      const seg = segments.segment(f);
      const out = Buffer.allocUnsafe(wsHeaderLength(seg.byteLength) + seg.byteLength);
      out.set(seg, writeWsBinaryHeader(out, seg.byteLength));
      return out;
    });
    this.output.write(bytes);
  }

  describe(desc: StreamDescription): void {
    this.segments = segmentsFor(desc);
    this.batcher = this.o.segmentSize > 1 ? new SegmentBatcher(desc, this.o.segmentSize) : undefined;
    this.sendControl({ ...this.initMessage(desc), mime: this.segments.combinedMime });
    this.sendMessage(this.segments.combinedInit);
  }

  offline(reason: string): void {
    this.segments = undefined;
    this.sendControl({ type: 'offline', reason });
  }

  protected sendControl(value: unknown): void {
    if (this.isClosed || this.o.ws.readyState !== this.o.ws.OPEN) return;
    this.sendMessage(JSON.stringify(value));
  }

  /** A message through `ws`, which writes on the socket itself: the output hears of it, so the byte count and the order hold. */
  private sendMessage(data: Uint8Array | string): void {
    this.output.beforeOtherWrite();
    this.o.ws.send(data);
  }

  protected rawWebSocket(): WebSocket {
    return this.o.ws;
  }
}
