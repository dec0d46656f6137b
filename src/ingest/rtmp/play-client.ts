/**
 * One RTMP connection, client side, that plays a stream (Adobe RTMP 1.0
 * §7.2): handshake, connect, createStream, play, then the server's media
 * messages to the owner. The control messages are answered as the server
 * side answers them (src/protocols/rtmp/control.ts).
 *
 * Servers differ in small ways a player must tolerate: node-media-server
 * sends media on message stream 0 rather than the one play was issued on,
 * and nobody agrees on what follows Play.Start. So media is taken from any
 * message stream once play is asked for, and only errors end the play.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { SourceTarget } from '../../config/source.js';
import { Acknowledger } from '../../protocols/rtmp/acknowledger.js';
import { forEachAggregated } from '../../protocols/rtmp/aggregate.js';
import { amfProperties } from '../../protocols/rtmp/amf0.js';
import { ChunkReader, MessageType, type ChunkReaderLimits, type RtmpMessage } from '../../protocols/rtmp/chunk-reader.js';
import { ChunkWriter, type OutgoingMessage } from '../../protocols/rtmp/chunk-writer.js';
import { amfBody, decodeCommand, type RtmpCommand } from '../../protocols/rtmp/commands.js';
import { answerControlMessage } from '../../protocols/rtmp/control.js';
import { ClientHandshake } from '../../protocols/rtmp/handshake.js';
import { acknowledgement, command, setBufferLength, setChunkSize, windowAckSize } from '../../protocols/rtmp/messages.js';

export type RtmpTarget = Extract<SourceTarget, { protocol: 'rtmp' }>;

export interface PlayClientOwner {
  /** NetStream.Play.Start: the server streams, or will once its publisher comes. */
  playing(): void;
  /** An audio (8), video (9) or data (18) message of the stream: an FLV tag body. */
  media(type: number, timestamp: number, body: Uint8Array): void;
  /** The server says the stream's publisher left (NetStream.Play.UnpublishNotify, Play.Stop). */
  unpublished(): void;
  /** The connection is over, and why; called once, and not after `close`. */
  closed(reason: string): void;
}

export interface PlayClientOptions {
  readonly target: RtmpTarget;
  readonly limits: ChunkReaderLimits;
  /** Nothing from the server for this long (the connect included) ends the connection. */
  readonly readTimeoutMs: number;
}

const TX_CONNECT = 1;
const TX_CREATE_STREAM = 2;
const WINDOW_ACK_SIZE = 2_500_000;
const OUT_CHUNK_SIZE = 4096;
/** What a player asks the server to keep buffered for it; a live edge wants little. */
const BUFFER_MS = 100;
/** play's `start`: -2 plays a live stream, or a recorded one of that name (§7.2.2.1). */
const PLAY_LIVE_OR_RECORDED = -2;

export class RtmpPlayClient {
  private readonly socket: net.Socket;
  private readonly handshake: ClientHandshake;
  private readonly reader: ChunkReader;
  private readonly writer = new ChunkWriter();
  private readonly ack = new Acknowledger();
  private playRequested = false;
  private dead = false;

  constructor(
    private readonly o: PlayClientOptions,
    private readonly owner: PlayClientOwner,
  ) {
    const { host, port, tls: secure } = o.target;
    this.socket = secure ? tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined }) : net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.setTimeout(o.readTimeoutMs);
    this.handshake = new ClientHandshake((bytes) => this.socket.write(bytes));
    this.reader = new ChunkReader((m) => this.onMessage(m), o.limits);
    this.socket.once(secure ? 'secureConnect' : 'connect', () => this.handshake.start());
    this.socket.on('data', (data: Buffer) => this.onData(data));
    this.socket.on('timeout', () => this.fail(`nothing from the server for ${o.readTimeoutMs} ms (readTimeout)`));
    this.socket.on('error', (err) => this.fail(err.message));
    this.socket.on('close', () => this.fail('the server closed the connection'));
  }

  get bytesRead(): number {
    return this.socket.bytesRead;
  }

  /** Ends the connection from this side; the owner hears nothing more. */
  close(): void {
    if (this.dead) return;
    this.dead = true;
    this.reader.release();
    this.socket.destroy();
  }

  private fail(reason: string): void {
    if (this.dead) return;
    this.close();
    this.owner.closed(reason);
  }

  private send(m: OutgoingMessage): void {
    if (!this.dead) this.socket.write(this.writer.write(m));
  }

  private onData(data: Buffer): void {
    if (this.dead) return;
    try {
      const due = this.ack.count(data.length);
      let rest = data;
      if (!this.handshake.done) {
        rest = this.handshake.push(data);
        if (!this.handshake.done) return;
        this.connect();
        if (rest.length === 0) return;
      }
      this.reader.push(rest);
      if (due !== undefined) this.send(acknowledgement(due));
    } catch (err) {
      // The server broke the protocol (RtmpProtocolError), or the owner failed on its media: either way this connection is done.
      this.fail((err as Error).message);
    }
  }

  private connect(): void {
    const { app, tcUrl } = this.o.target;
    this.send(setChunkSize(OUT_CHUNK_SIZE));
    this.writer.setChunkSize(OUT_CHUNK_SIZE);
    this.send(
      command(0, 'connect', TX_CONNECT, {
        app,
        flashVer: 'LNX 9,0,124,2',
        tcUrl,
        fpad: false,
        capabilities: 15,
        audioCodecs: 0x0fff,
        videoCodecs: 0x00ff,
        videoFunction: 1,
      }),
    );
  }

  private onMessage(m: RtmpMessage): void {
    if (this.dead) return;
    if (answerControlMessage(m, this.ack, (reply) => this.send(reply))) return;
    switch (m.type) {
      case MessageType.commandAmf0:
      case MessageType.commandAmf3:
        this.command(decodeCommand(m.type, m.payload));
        return;
      case MessageType.audio:
      case MessageType.video:
        if (this.playRequested) this.owner.media(m.type, m.timestamp, m.payload);
        return;
      case MessageType.dataAmf0:
      case MessageType.dataAmf3:
        if (this.playRequested) this.owner.media(MessageType.dataAmf0, m.timestamp, amfBody(m.type, m.payload));
        return;
      case MessageType.aggregate:
        if (this.playRequested) forEachAggregated(m, (type, timestamp, body) => this.owner.media(type, timestamp, body));
        return;
      default:
        return;
    }
  }

  private command(c: RtmpCommand): void {
    const info = amfProperties(c.args[0]) ?? {};
    const described = () => `${String(info['code'] ?? c.name)}${typeof info['description'] === 'string' ? `: ${info['description']}` : ''}`;
    switch (c.name) {
      case '_result':
        if (c.transactionId === TX_CONNECT) {
          this.send(windowAckSize(WINDOW_ACK_SIZE));
          this.send(command(0, 'createStream', TX_CREATE_STREAM, null));
        } else if (c.transactionId === TX_CREATE_STREAM) {
          this.play(typeof c.args[0] === 'number' ? c.args[0] : 1);
        }
        return;
      case '_error':
        this.fail(`the server refused ${c.transactionId === TX_CONNECT ? 'connect' : 'createStream'} (${described()})`);
        return;
      case 'onStatus': {
        const code = String(info['code'] ?? '');
        if (info['level'] === 'error') this.fail(`the server refused to play (${described()})`);
        else if (code === 'NetStream.Play.Start') this.owner.playing();
        else if (code === 'NetStream.Play.UnpublishNotify' || code === 'NetStream.Play.Stop') this.owner.unpublished();
        return;
      }
      case 'close':
        this.fail('the server closed the stream');
        return;
      default:
        // onBWDone, _checkbw, |RtmpSampleAccess and the like: nothing a player needs.
        return;
    }
  }

  private play(streamId: number): void {
    this.playRequested = true;
    this.send(command(streamId, 'play', 0, null, this.o.target.streamName, PLAY_LIVE_OR_RECORDED));
    this.send(setBufferLength(streamId, BUFFER_MS));
  }
}
