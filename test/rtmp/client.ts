/**
 * A minimal RTMP client for tests: simple handshake, then commands and media
 * as the test chooses, through the stack's own chunk writer (round-tripped
 * against real ffmpeg bytes in chunk-reader.test.ts) and reader.
 */
import net from 'node:net';
import { decodeAmf0, encodeAmf0, type AmfValue } from '../../src/protocols/rtmp/amf0.js';
import { ChunkReader, MessageType, type RtmpMessage } from '../../src/protocols/rtmp/chunk-reader.js';
import { ChunkWriter, type OutgoingMessage } from '../../src/protocols/rtmp/chunk-writer.js';

export class TestRtmpClient {
  readonly messages: RtmpMessage[] = [];
  readonly writer = new ChunkWriter();
  closed = false;
  private readonly waiters = new Set<() => void>();
  private handshaken = Buffer.alloc(0);
  private reader = new ChunkReader((m) => this.onMessage(m), { maxMessageSize: 1 << 24, maxChunkStreams: 64, maxBufferedBytes: 1 << 26 });

  private constructor(readonly socket: net.Socket) {
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async connect(port: number): Promise<TestRtmpClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return new TestRtmpClient(socket);
  }

  /** Simple handshake; resolves once C2 is sent. */
  async handshake(): Promise<void> {
    this.socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 7)]));
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        this.handshaken = Buffer.concat([this.handshaken, d]);
        if (this.handshaken.length < 3073) return;
        this.socket.off('data', onData);
        this.socket.write(this.handshaken.subarray(1, 1537));
        const rest = this.handshaken.subarray(3073);
        this.socket.on('data', (more: Buffer) => this.reader.push(more));
        if (rest.length > 0) this.reader.push(rest);
        resolve();
      };
      this.socket.on('data', onData);
      this.socket.once('close', () => reject(new Error('closed during the handshake')));
    });
  }

  send(m: OutgoingMessage): void {
    this.socket.write(this.writer.write(m));
  }

  command(streamId: number, ...values: AmfValue[]): void {
    this.send({ csid: 3, type: MessageType.commandAmf0, streamId, timestamp: 0, payload: encodeAmf0(...values) });
  }

  media(type: number, timestamp: number, payload: Uint8Array, streamId = 1): void {
    this.send({ csid: type === MessageType.audio ? 4 : 6, type, streamId, timestamp, payload });
  }

  /** connect, createStream, publish: resolves with the onStatus info of the publish. */
  async publish(app: string, name: string): Promise<Record<string, AmfValue>> {
    this.command(0, 'connect', 1, { app, tcUrl: `rtmp://127.0.0.1/${app}`, flashVer: 'FMLE/3.0', type: 'nonprivate' });
    await this.until(() => this.commands().some((c) => c[0] === '_result' && c[1] === 1), 'connect result');
    this.command(0, 'createStream', 2, null);
    await this.until(() => this.commands().some((c) => c[0] === '_result' && c[1] === 2), 'createStream result');
    this.command(1, 'publish', 3, null, name, 'live');
    await this.until(() => this.statuses().length > 0, 'publish status');
    return this.statuses()[0]!;
  }

  commands(): AmfValue[][] {
    return this.messages.filter((m) => m.type === MessageType.commandAmf0).map((m) => decodeAmf0(m.payload));
  }

  /** The info objects of onStatus messages. */
  statuses(): Array<Record<string, AmfValue>> {
    return this.commands()
      .filter((c) => c[0] === 'onStatus')
      .map((c) => c[3] as Record<string, AmfValue>);
  }

  async until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      if (this.closed && !predicate()) throw new Error(`connection closed while waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.add(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  async closedByServer(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onMessage(m: RtmpMessage): void {
    this.messages.push(m);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }
}
