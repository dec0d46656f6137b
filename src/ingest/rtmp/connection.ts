/**
 * One RTMP connection, server side: handshake, chunk stream, the
 * NetConnection/NetStream commands of a publish (Adobe RTMP 1.0 §7.2), and
 * the control messages that keep a client happy (window acknowledgements,
 * peer bandwidth, chunk size, pings).
 *
 * It knows nothing of paths or authorization: `publish` and `play` go to the
 * owner, which answers with `acceptPublish` or `refuse`. Until a publish is
 * accepted only commands are expected, so messages are capped small; once a
 * publish is requested the owner's limits apply. While the owner decides
 * asynchronously the socket is paused, so what piles up is only the rest of
 * the read already in hand.
 */
import type { Socket } from 'node:net';
import { Acknowledger } from '../../protocols/rtmp/acknowledger.js';
import { forEachAggregated } from '../../protocols/rtmp/aggregate.js';
import { amfProperties, type AmfValue } from '../../protocols/rtmp/amf0.js';
import { ChunkReader, MessageType, type ChunkReaderLimits, type RtmpMessage } from '../../protocols/rtmp/chunk-reader.js';
import { ChunkWriter, type OutgoingMessage } from '../../protocols/rtmp/chunk-writer.js';
import { amfBody, decodeCommand, type RtmpCommand } from '../../protocols/rtmp/commands.js';
import { answerControlMessage } from '../../protocols/rtmp/control.js';
import { RtmpProtocolError } from '../../protocols/rtmp/errors.js';
import { ServerHandshake } from '../../protocols/rtmp/handshake.js';
import {
  PeerBandwidthLimit,
  UserControlEvent,
  acknowledgement,
  command,
  onStatus,
  setChunkSize,
  setPeerBandwidth,
  userControl,
  windowAckSize,
} from '../../protocols/rtmp/messages.js';

/** Before a publish is requested only commands arrive; the largest real one (connect) is well under a kilobyte. */
const COMMAND_PHASE_LIMITS: ChunkReaderLimits = { maxMessageSize: 64 * 1024, maxChunkStreams: 64, maxBufferedBytes: 128 * 1024 };
/** Real encoders use a handful of chunk streams (ffmpeg: 2–8). */
export const MAX_CHUNK_STREAMS = 64;
/**
 * What a connection may hold once media flows (an accepted publish, or a
 * play this side asked for): messages up to `maxMessageSize`
 * (rtmpMaxMessageSize), and two of them in flight, a video frame on one chunk
 * stream while audio interleaves on another. Each message gets its declared
 * length at once: the peer is trusted that far, and no more than these caps.
 */
export function mediaLimits(maxMessageSize: number): ChunkReaderLimits {
  return { maxMessageSize, maxChunkStreams: MAX_CHUNK_STREAMS, maxBufferedBytes: 2 * maxMessageSize, allocateDeclared: true };
}
/** NetStreams one connection may create; a publisher needs one. */
const MAX_STREAMS = 8;
const WINDOW_ACK_SIZE = 2_500_000;
const OUT_CHUNK_SIZE = 4096;

export interface PublishRequest {
  /** connect's `app` (may carry `?query` for single-level URLs). */
  readonly app: string;
  /** publish's stream name (may carry `?query`). */
  readonly streamName: string;
  readonly tcUrl: string;
}

export interface ConnectionOwner {
  /** Limits once a publish is requested. */
  publishLimits(): ChunkReaderLimits;
  /** A publish command: answer with acceptPublish / refuse, now or later. */
  publish(request: PublishRequest): void;
  play(request: PublishRequest): void;
  /** Audio, video and data messages of the accepted publish. */
  media(type: number, timestamp: number, body: Uint8Array): void;
  /** The client ended its publish (FCUnpublish, deleteStream, closeStream). */
  unpublish(): void;
  /** The client broke the protocol: the connection is already being destroyed. */
  protocolError(err: RtmpProtocolError): void;
  /** A bug of ours while handling the client: the connection is already being destroyed. */
  internalError(err: Error): void;
  /** The handshake is done (for the debug log: which kind the client chose). */
  handshaken(kind: 'simple' | 'digest'): void;
}

export class RtmpConnection {
  private readonly handshake: ServerHandshake;
  private readonly reader: ChunkReader;
  private readonly writer = new ChunkWriter();
  private app: string | undefined;
  private tcUrl = '';
  private objectEncoding = 0;
  private streams = 0;
  /** The NetStream a publish was requested on, and whether the owner accepted it. */
  private publishStream: number | undefined;
  private accepted = false;
  /** Messages parsed while the owner decides (the socket is paused meanwhile). */
  private held: RtmpMessage[] | null = null;
  private heldBytes = 0;
  private readonly ack = new Acknowledger();
  private dead = false;

  constructor(
    private readonly socket: Socket,
    private readonly owner: ConnectionOwner,
  ) {
    this.handshake = new ServerHandshake((bytes) => this.socket.write(bytes));
    this.reader = new ChunkReader((m) => this.onMessage(m), COMMAND_PHASE_LIMITS);
    socket.on('data', (data: Buffer) => this.onData(data));
  }

  get publishing(): boolean {
    return this.accepted;
  }

  /** The owner allows the publish: the client hears NetStream.Publish.Start and its held media flows. */
  acceptPublish(description: string): void {
    if (this.dead || this.publishStream === undefined) return;
    const sid = this.publishStream;
    this.accepted = true;
    this.send(userControl(UserControlEvent.streamBegin, sid));
    this.send(onStatus(sid, 'status', 'NetStream.Publish.Start', description));
    this.release();
  }

  /** Tells the client why (an onStatus error on the stream it asked for) and closes. */
  refuse(code: string, description: string, streamId = this.publishStream ?? 0): void {
    if (this.dead) return;
    this.held = null;
    this.send(onStatus(streamId, 'error', code, description));
    this.close();
  }

  /** Half-closes: the client reads our last words, and a stuck peer is cut after a grace period. */
  close(): void {
    if (this.dead) return;
    this.dead = true;
    this.held = null;
    this.reader.release();
    this.socket.end();
    // Read on (and drop) so the peer's FIN is seen, even if a publish decision had paused us.
    this.socket.resume();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private release(): void {
    const held = this.held;
    this.held = null;
    this.heldBytes = 0;
    this.guard(() => {
      if (held !== null) for (const m of held) if (!this.dead) this.deliver(m);
    });
    if (!this.dead) this.socket.resume();
  }

  /** Runs parsing work; a client's protocol error or our own bug ends this connection and nothing else. */
  private guard(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.dead = true;
      this.reader.release();
      this.socket.destroy();
      if (err instanceof RtmpProtocolError) this.owner.protocolError(err);
      else this.owner.internalError(err as Error);
    }
  }

  private send(m: OutgoingMessage): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(this.writer.write(m));
  }

  private onData(data: Buffer): void {
    if (this.dead) return;
    this.guard(() => {
      const due = this.ack.count(data.length);
      let rest = data;
      if (!this.handshake.done) {
        rest = this.handshake.push(data);
        if (this.handshake.done) this.owner.handshaken(this.handshake.kind!);
        if (rest.length === 0) return;
      }
      this.reader.push(rest);
      if (due !== undefined) this.send(acknowledgement(due));
    });
  }

  private onMessage(m: RtmpMessage): void {
    if (this.dead) return;
    if (this.held !== null) {
      this.heldBytes += m.payload.length;
      const limit = this.owner.publishLimits().maxBufferedBytes;
      if (this.heldBytes > limit) throw new RtmpProtocolError('buffered-bytes-limit', `more than ${limit} bytes sent while the publish was being authorized`);
      this.held.push(m);
      return;
    }
    this.deliver(m);
  }

  private deliver(m: RtmpMessage): void {
    if (answerControlMessage(m, this.ack, (reply) => this.send(reply))) return;
    switch (m.type) {
      case MessageType.commandAmf0:
      case MessageType.commandAmf3:
        this.command(m.streamId, decodeCommand(m.type, m.payload));
        return;
      case MessageType.audio:
      case MessageType.video:
        if (this.accepted && m.streamId === this.publishStream) this.owner.media(m.type, m.timestamp, m.payload);
        return;
      case MessageType.dataAmf0:
      case MessageType.dataAmf3:
        if (this.accepted && m.streamId === this.publishStream) this.owner.media(MessageType.dataAmf0, m.timestamp, amfBody(m.type, m.payload));
        return;
      case MessageType.aggregate:
        if (this.accepted && m.streamId === this.publishStream) forEachAggregated(m, (type, timestamp, body) => this.owner.media(type, timestamp, body));
        return;
      default:
        // Shared objects (19, 16) and unknown types: nothing a publish needs.
        return;
    }
  }

  private command(streamId: number, c: RtmpCommand): void {
    if (c.name !== 'connect' && this.app === undefined) {
      throw new RtmpProtocolError('command', `'${c.name.slice(0, 64)}' before connect`);
    }
    switch (c.name) {
      case 'connect':
        return this.connect(c);
      case 'createStream': {
        if (this.streams >= MAX_STREAMS) throw new RtmpProtocolError('command', `more than ${MAX_STREAMS} createStream calls`);
        this.streams++;
        this.send(command(0, '_result', c.transactionId, null, this.streams));
        return;
      }
      case 'releaseStream':
        if (c.transactionId !== 0) this.send(command(0, '_result', c.transactionId, null, undefined));
        return;
      case 'FCPublish':
        this.send(command(0, 'onFCPublish', 0, null, { code: 'NetStream.Publish.Start', description: String(c.args[0] ?? '') }));
        return;
      case 'publish':
        return this.publish(streamId, c);
      case 'play':
        this.publishStream ??= streamId;
        this.owner.play({ app: this.app ?? '', streamName: stringArg(c.args[0]), tcUrl: this.tcUrl });
        return;
      case 'FCUnpublish':
      case 'deleteStream':
      case 'closeStream':
        if (this.publishStream !== undefined) this.owner.unpublish();
        return;
      default:
        // getStreamLength, _checkbw, receiveAudio and the like: nothing a publish needs.
        return;
    }
  }

  private connect(c: RtmpCommand): void {
    if (this.app !== undefined) throw new RtmpProtocolError('command', 'a second connect on one connection');
    const props = amfProperties(c.commandObject) ?? {};
    this.app = typeof props['app'] === 'string' ? props['app'] : '';
    this.tcUrl = typeof props['tcUrl'] === 'string' ? props['tcUrl'] : '';
    this.objectEncoding = props['objectEncoding'] === 3 ? 3 : 0;
    this.send(windowAckSize(WINDOW_ACK_SIZE));
    this.send(setPeerBandwidth(WINDOW_ACK_SIZE, PeerBandwidthLimit.dynamic));
    this.send(setChunkSize(OUT_CHUNK_SIZE));
    this.writer.setChunkSize(OUT_CHUNK_SIZE);
    this.send(userControl(UserControlEvent.streamBegin, 0));
    this.send(
      command(
        0,
        '_result',
        c.transactionId,
        { fmsVer: 'FMS/3,0,1,123', capabilities: 31, mode: 1 },
        { level: 'status', code: 'NetConnection.Connect.Success', description: 'Connection succeeded.', objectEncoding: this.objectEncoding },
      ),
    );
  }

  private publish(streamId: number, c: RtmpCommand): void {
    if (this.publishStream !== undefined) throw new RtmpProtocolError('command', 'a second publish on one connection');
    if (streamId === 0 || streamId > this.streams) throw new RtmpProtocolError('command', `publish on stream ${streamId}, which createStream did not create`);
    this.publishStream = streamId;
    this.reader.setLimits(this.owner.publishLimits());
    // Hold what follows until the owner decides; it resumes the socket with acceptPublish.
    this.held = [];
    this.socket.pause();
    this.owner.publish({ app: this.app ?? '', streamName: stringArg(c.args[0]), tcUrl: this.tcUrl });
  }
}

function stringArg(v: AmfValue | undefined): string {
  return typeof v === 'string' ? v : '';
}
