/**
 * Just enough of an RTMP client to get a fuzz case past the handshake and the
 * publish commands: the simple handshake, chunking (fmt 0 then fmt 3) and
 * AMF0 encoding, written from the Adobe RTMP and AMF0 specifications.
 */
import net from 'node:net';
import { concatBytes, utf8 } from '../harness.js';
import { within } from '../target.js';

export type Amf = number | string | boolean | null | { [key: string]: Amf };

export function amf0(...values: Amf[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const str = (s: string) => {
    const b = utf8(s);
    return concatBytes([Uint8Array.of(b.length >>> 8, b.length & 0xff), b]);
  };
  const value = (v: Amf): void => {
    if (v === null) parts.push(Uint8Array.of(0x05));
    else if (typeof v === 'number') {
      const b = Buffer.alloc(9);
      b[0] = 0x00;
      b.writeDoubleBE(v, 1);
      parts.push(b);
    } else if (typeof v === 'boolean') parts.push(Uint8Array.of(0x01, v ? 1 : 0));
    else if (typeof v === 'string') parts.push(Uint8Array.of(0x02), str(v));
    else {
      parts.push(Uint8Array.of(0x03));
      for (const [k, x] of Object.entries(v)) {
        parts.push(str(k));
        value(x);
      }
      parts.push(Uint8Array.of(0, 0, 0x09));
    }
  };
  for (const v of values) value(v);
  return concatBytes(parts);
}

export const MessageType = { SetChunkSize: 1, Abort: 2, Ack: 3, UserControl: 4, WindowAck: 5, PeerBandwidth: 6, Audio: 8, Video: 9, Data: 18, Command: 20 } as const;

/** One message as chunks of `chunkSize`: a type-0 header, then type-3 continuations. */
export function chunked(csid: number, type: number, streamId: number, timestamp: number, payload: Uint8Array, chunkSize = 128): Uint8Array {
  const parts: Uint8Array[] = [];
  const ts = Math.min(timestamp, 0xffffff);
  const head = Buffer.alloc(12);
  head[0] = csid & 0x3f;
  head.writeUIntBE(ts, 1, 3);
  head.writeUIntBE(payload.length & 0xffffff, 4, 3);
  head[7] = type;
  head.writeUInt32LE(streamId, 8);
  parts.push(head);
  for (let off = 0; off < payload.length || off === 0; off += chunkSize) {
    if (off > 0) parts.push(Uint8Array.of(0xc0 | (csid & 0x3f)));
    parts.push(payload.subarray(off, off + chunkSize));
    if (payload.length === 0) break;
  }
  return concatBytes(parts);
}

export const CHUNK_SIZE = 4096;

export function setChunkSize(size: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(size);
  return chunked(2, MessageType.SetChunkSize, 0, 0, b);
}

/** connect, createStream and publish, pipelined (the server answers them in order). */
export function publishCommands(port: number, app: string, name: string): Uint8Array {
  return concatBytes([
    setChunkSize(CHUNK_SIZE),
    chunked(3, MessageType.Command, 0, 0, amf0('connect', 1, { app, type: 'nonprivate', flashVer: 'FMLE/3.0 (compatible; polycast-fuzz)', tcUrl: `rtmp://127.0.0.1:${port}/${app}` }), CHUNK_SIZE),
    chunked(3, MessageType.Command, 0, 0, amf0('releaseStream', 2, null, name), CHUNK_SIZE),
    chunked(3, MessageType.Command, 0, 0, amf0('FCPublish', 3, null, name), CHUNK_SIZE),
    chunked(3, MessageType.Command, 0, 0, amf0('createStream', 4, null), CHUNK_SIZE),
    chunked(4, MessageType.Command, 1, 0, amf0('publish', 5, null, name, 'live'), CHUNK_SIZE),
  ]);
}

/** A TCP connection to the RTMP port with the bytes it received. */
export class RtmpSocket {
  readonly socket: net.Socket;
  readonly connected: Promise<boolean>;
  readonly closed: Promise<void>;
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  isClosed = false;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('error', () => undefined);
    this.socket.on('data', (d: Buffer) => {
      // Only the handshake's bytes are needed; later ones are counted and dropped.
      if (this.buf.length < 8192) this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    this.connected = new Promise((r) => (this.socket.once('connect', () => r(true)), this.socket.once('error', () => r(false))));
    this.closed = new Promise((r) =>
      this.socket.once('close', () => {
        this.isClosed = true;
        this.waiter?.();
        r();
      }),
    );
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Waits until `n` bytes arrived; false on close or after `ms`. */
  async received(n: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.buf.length < n) {
      if (this.isClosed || Date.now() > deadline) return false;
      await within(new Promise<void>((r) => (this.waiter = r)), Math.max(1, deadline - Date.now()));
    }
    return true;
  }

  /** C0+C1, then C2 echoing S1. False when the server did not complete it within `ms`. */
  async handshake(ms = 5000): Promise<boolean> {
    if (!(await within(this.connected, ms))) return false;
    const c1 = Buffer.alloc(1536);
    for (let i = 8; i < 1536; i++) c1[i] = (i * 131) & 0xff;
    this.write(concatBytes([Uint8Array.of(3), c1]));
    if (!(await this.received(1 + 1536 + 1536, ms))) return false;
    this.write(this.buf.subarray(1, 1537));
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
