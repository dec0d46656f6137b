import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Path } from '../../src/stream/path.js';
import { Reader, type KickCode, type ReaderSink } from '../../src/stream/reader.js';
import { serializeOnce, type Frame, type StreamDescription } from '../../src/stream/types.js';
import { GroupSender } from '../../src/protocols/webtransport/group-sender.js';
import type { WebTransportReceiveStream, WebTransportSendStream, WebTransportSession } from '../../src/protocols/webtransport/session.js';
import { segmentsFor, type StreamSegments } from '../ws-fmp4/segments.js';
import { parseControlMessage } from '../ws-nal/protocol.js';
import {
  groupHeader,
  jsonRecord,
  MAX_UP_RECORD,
  record,
  RECORD_INIT,
  RECORD_JSON,
  RECORD_SEGMENT,
  RecordReader,
  STREAM_CONTROL,
  STREAM_CONTROL_UP,
} from './records.js';

const PROTOCOL_ERROR = 1;

export interface WtFmpViewerOptions {
  session: WebTransportSession;
  path: Path;
  queueSize: number;
  serverName: string;
  log: Logger;
  onClose(viewer: WtFmpViewer, reason: string): void;
}

/** One `/<path>/wt/fmp4` session: a control stream, and a stream per GOP through a `GroupSender`. */
/** The path's reasons for ending a reader (WebSocket close codes) as this transport's session close codes (docs/protocols/wt-fmp4.md). */
const SESSION_CLOSE_CODES: Record<KickCode, number> = { 1001: 0, 1008: 403, 1011: 500, 1013: 404, 4404: 404 };

export class WtFmpViewer implements ReaderSink {
  readonly id = randomBytes(4).toString('hex');
  readonly reader: Reader;
  readonly groups: GroupSender;
  private control: WebTransportSendStream | undefined;
  private controlQueue: Uint8Array[] = [];
  private segments: StreamSegments | undefined;
  private generation = 0;
  private sequence = 0;
  private closed = false;
  /** An audio fragment goes out with the next video fragment: one visit, one flush, shared packets. */
  readonly audioRidesWithVideo = true;

  constructor(private readonly o: WtFmpViewerOptions) {
    this.reader = new Reader({ id: this.id, protocol: 'wt-fmp4', remoteAddress: remoteOf(o.session) }, this, o.queueSize);
    // Without it a reader the path ends (its transport threw, the path was deleted, an API kick) would leave a session open with no media.
    this.reader.kick = (reason, code) => this.close(SESSION_CLOSE_CODES[code], reason);
    this.groups = new GroupSender(o.session, { maxInFlight: 2, priority: { urgency: 2 }, demoted: { urgency: 4 }, dropCode: 1 });
    o.session.createUniStream({ urgency: 0 }).then(
      (stream) => {
        this.control = stream;
        void stream.write(new Uint8Array([STREAM_CONTROL]));
        for (const bytes of this.controlQueue.splice(0)) void stream.write(bytes).catch(() => undefined);
      },
      () => this.finish('control stream could not open'),
    );
    o.session.onUniStream = (stream) => this.readUp(stream);
    o.session.onBidiStream = (stream) => {
      stream.abort(PROTOCOL_ERROR);
      this.fail('unexpected bidirectional stream');
    };
    void o.session.closed.then((info) => this.finish(`session closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`));
    this.sendControl({ type: 'hello', version: 1, path: o.path.name, server: o.serverName, id: this.id });
  }

  // ReaderSink: the group sender bounds what is held, so frames always go through.

  writable(): boolean {
    return !this.closed;
  }

  write(frame: Frame): void {
    const segments = this.segments;
    if (segments === undefined) return;
    if (frame.kind === 'video' && frame.key) {
      this.groups.startGroup(++this.sequence, groupHeader(this.generation, this.sequence));
    }
    const bytes = serializeOnce(frame, `wt-fmp4:${segments.id}`, (f) => record(RECORD_SEGMENT, segments.segment(f)));
    this.groups.write(bytes);
  }

  describe(desc: StreamDescription): void {
    this.groups.endCurrent();
    this.segments = segmentsFor(desc);
    this.generation++;
    const { video, audio } = desc;
    this.sendControl({
      type: 'init',
      generation: this.generation,
      mime: this.segments.combinedMime,
      video: video && { codec: video.codecString, codedWidth: video.width, codedHeight: video.height },
      audio: audio && { codec: audio.codecString, sampleRate: audio.sampleRate, numberOfChannels: audio.channels },
    });
    this.sendRaw(record(RECORD_INIT, this.segments.combinedInit));
  }

  offline(reason: string): void {
    this.groups.endCurrent();
    this.segments = undefined;
    this.sendControl({ type: 'offline', reason });
  }

  sendStats(): void {
    this.sendControl({ type: 'stats', groupsDropped: this.groups.dropped, framesDropped: this.reader.stats.framesDropped });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.o.session.close(code, reason);
    this.finish(reason);
  }

  private sendControl(value: unknown): void {
    this.sendRaw(jsonRecord(value));
  }

  private sendRaw(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.control === undefined) this.controlQueue.push(bytes);
    else void this.control.write(bytes).catch(() => undefined);
  }

  private readUp(stream: WebTransportReceiveStream): void {
    const parser = new RecordReader(MAX_UP_RECORD);
    const reader = stream.readable.getReader();
    const pump = async (): Promise<void> => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.closed) return;
        for (const rec of parser.push(value)) {
          if (parser.kind !== STREAM_CONTROL_UP) return this.fail(`unknown stream kind 0x${(parser.kind ?? 0).toString(16)}`);
          if (rec.type !== RECORD_JSON) return this.fail(`unexpected record type 0x${rec.type.toString(16)} from the browser`);
          this.onControl(new TextDecoder().decode(rec.payload));
          if (this.closed) return;
        }
        if (parser.error !== undefined) return this.fail(parser.error);
        if (parser.kind !== undefined && parser.kind !== STREAM_CONTROL_UP) return this.fail(`unknown stream kind 0x${parser.kind.toString(16)}`);
      }
    };
    pump().catch(() => undefined);
  }

  private onControl(text: string): void {
    const parsed = parseControlMessage(text);
    if (!parsed.ok) {
      this.fail(parsed.reason);
      return;
    }
    const m = parsed.message;
    if (m.type === 'ping') this.sendControl({ type: 'pong', id: m.id, t: m.t, serverTime: Math.round((performance.timeOrigin + performance.now()) * 1000) });
    else if (m.type === 'set_video_enabled') this.reader.setVideoEnabled(m.value);
    else this.reader.setKeyframesOnly(m.value);
  }

  private fail(reason: string): void {
    this.o.log.warn({ path: this.o.path.name, remoteAddress: remoteOf(this.o.session), reason }, 'closing WebTransport viewer: protocol error');
    this.close(PROTOCOL_ERROR, reason);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.groups.close();
    this.o.onClose(this, reason);
  }
}

function remoteOf(session: WebTransportSession): string {
  return `${session.request.remoteAddress}:${session.request.remotePort}`;
}
