/**
 * A `ws-fmp4` viewer on RTWebSocket (the default protocol) that reads its TCP
 * socket no faster than a set bit rate: a viewer on a link slower than the
 * stream. The socket is paused whenever a token bucket runs dry, so the
 * kernel's receive window closes and the server's send side backs up, as it
 * would behind a slow network; RTWebSocket's deadlines then abandon what
 * cannot be sent in time, and this reader counts the gaps.
 *
 * The WebSocket side is a raw-socket client (ws-wire's handshake, a message
 * assembler here); the RTWebSocket side is Polycast's own implementation.
 */
import { randomFillSync } from 'node:crypto';
import net from 'node:net';
import { RTWebSocketConnection, type RecvFlow } from '../src/protocols/rtwebsocket/index.js';
import { checkHandshakeResponse, handshakeRequest, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG } from './ws-wire.js';

export type ThrottledState = 'connecting' | 'open' | 'closed' | 'failed';

export interface ThrottledTarget {
  host: string;
  port: number;
  /** e.g. `/live/bench/ws/fmp4` */
  path: string;
  /** Reading speed, bits per second. */
  bitsPerSecond: number;
}

/** Bucket depth: small, so the reading rate is smooth at the scale of an RTT. */
const BURST_BYTES = 16 * 1024;
/** Larger messages are not RTWebSocket (its fragments are 1400 bytes of payload). */
const MAX_MESSAGE = 256 * 1024;
const MAX_RESPONSE_HEAD = 8192;

interface TrackCount {
  kind: 'video' | 'audio';
  /** Messages delivered after the init segment. */
  segments: number;
  /** Message numbers skipped: segments the server abandoned. */
  abandoned: number;
  lastNumber: number;
}

/**
 * Reassembles server-to-client WebSocket messages whole (RTWebSocket needs
 * every byte); frames are unmasked from a server, so payload bytes are
 * copied straight into the message.
 */
class MessageAssembler {
  private readonly header = new Uint8Array(10);
  private headerHave = 0;
  private headerNeed = 2;
  private inFrame = false;
  private opcode = 0;
  private fin = false;
  private remaining = 0;
  private frame: Uint8Array | undefined;
  private frameAt = 0;
  private parts: Uint8Array[] = [];
  private messageOpcode = 0;
  private messageBytes = 0;

  constructor(private readonly on: { message(opcode: number, bytes: Uint8Array): void; control(opcode: number, payload: Uint8Array): void; error(reason: string): void }) {}

  push(buf: Uint8Array): void {
    let i = 0;
    while (i < buf.length) {
      if (!this.inFrame) {
        while (this.headerHave < this.headerNeed && i < buf.length) {
          this.header[this.headerHave++] = buf[i++]!;
          if (this.headerHave === 2) {
            const len7 = this.header[1]! & 0x7f;
            this.headerNeed = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
          }
        }
        if (this.headerHave < this.headerNeed) return;
        if (!this.begin()) return;
        if (this.remaining === 0) this.end();
        continue;
      }
      const take = Math.min(this.remaining, buf.length - i);
      this.frame!.set(buf.subarray(i, i + take), this.frameAt);
      this.frameAt += take;
      this.remaining -= take;
      i += take;
      if (this.remaining === 0) this.end();
    }
  }

  private begin(): boolean {
    const h = this.header;
    if (h[1]! & 0x80) return this.fail('server frame is masked');
    this.fin = (h[0]! & 0x80) !== 0;
    this.opcode = h[0]! & 0x0f;
    const len7 = h[1]! & 0x7f;
    let length = len7;
    if (len7 === 126) length = (h[2]! << 8) | h[3]!;
    else if (len7 === 127) {
      if (h[2] || h[3] || h[4] || h[5]) return this.fail('frame longer than 4 GiB');
      length = ((h[6]! << 24) | (h[7]! << 16) | (h[8]! << 8) | h[9]!) >>> 0;
    }
    if (this.messageBytes + length > MAX_MESSAGE) return this.fail(`message over ${MAX_MESSAGE} bytes`);
    if (this.opcode === 0x1 || this.opcode === OP_BINARY) this.messageOpcode = this.opcode;
    this.frame = new Uint8Array(length);
    this.frameAt = 0;
    this.remaining = length;
    this.inFrame = true;
    return true;
  }

  private end(): void {
    this.inFrame = false;
    this.headerHave = 0;
    this.headerNeed = 2;
    const payload = this.frame!;
    this.frame = undefined;
    if (this.opcode & 0x8) {
      this.on.control(this.opcode, payload);
      return;
    }
    this.parts.push(payload);
    this.messageBytes += payload.length;
    if (!this.fin) return;
    const parts = this.parts;
    let bytes: Uint8Array;
    if (parts.length === 1) bytes = parts[0]!;
    else {
      bytes = new Uint8Array(this.messageBytes);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
    }
    this.parts = [];
    this.messageBytes = 0;
    this.on.message(this.messageOpcode, bytes);
  }

  private fail(reason: string): false {
    this.on.error(reason);
    return false;
  }
}

/** A masked client frame (RFC 6455 §5.3); RTWebSocket's own messages are small, so 16-bit lengths suffice. */
function maskedFrame(opcode: number, payload: Uint8Array): Buffer {
  if (payload.length > 0xffff) throw new RangeError('client frame too large for this reader');
  const long = payload.length > 125;
  const head = long ? 8 : 6;
  const out = Buffer.allocUnsafe(head + payload.length);
  out[0] = 0x80 | opcode;
  if (long) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(payload.length, 2);
  } else out[1] = 0x80 | payload.length;
  randomFillSync(out, head - 4, 4);
  for (let i = 0; i < payload.length; i++) out[head + i] = payload[i]! ^ out[head - 4 + (i & 3)]!;
  return out;
}

export class ThrottledReader {
  state: ThrottledState = 'connecting';
  error: string | undefined;
  bytesRead = 0;
  offlines = 0;
  inits = 0;
  /** The last `stats` control message's `abandoned` (the server's own count for this viewer). */
  serverAbandoned = 0;
  private readonly tracks: TrackCount[] = [];
  private conn: RTWebSocketConnection | undefined;
  private readonly socket: net.Socket;
  private responseHead: Buffer | null = Buffer.alloc(0);
  private readonly accept: string;
  private readonly assembler: MessageAssembler;
  private readonly rate: number;
  private tokens = BURST_BYTES;
  private refilledAt = performance.now();
  private resumeTimer: NodeJS.Timeout | undefined;

  constructor(
    target: ThrottledTarget,
    private readonly events: { open?(r: ThrottledReader): void; end?(r: ThrottledReader): void; control?(r: ThrottledReader, message: Record<string, unknown>): void } = {},
  ) {
    this.rate = target.bitsPerSecond / 8;
    this.assembler = new MessageAssembler({
      message: (opcode, bytes) => {
        if (opcode === OP_BINARY) this.conn?.onMessage(bytes);
      },
      control: (opcode, payload) => {
        if (opcode === OP_PING) this.write(maskedFrame(OP_PONG, payload));
        else if (opcode === OP_CLOSE) {
          const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
          this.finish('closed', `server closed the WebSocket (${code}${payload.length > 2 ? ` ${Buffer.from(payload.subarray(2)).toString('utf8')}` : ''})`);
        }
      },
      error: (reason) => this.finish('failed', `protocol error: ${reason}`),
    });
    const { request, accept } = handshakeRequest(target.host, target.port, target.path);
    this.accept = accept;
    this.socket = net.connect({ host: target.host, port: target.port, noDelay: true });
    this.socket.on('connect', () => this.socket.write(request));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.finish('failed', `socket error: ${err.message}`));
    this.socket.on('close', () => this.finish(this.state === 'open' ? 'closed' : 'failed', this.state === 'open' ? 'connection closed' : 'closed before the upgrade'));
  }

  /** Video segments received (init segments excluded). */
  get videoFrames(): number {
    return this.tracks.reduce((n, t) => n + (t.kind === 'video' ? t.segments : 0), 0);
  }

  get audioFrames(): number {
    return this.tracks.reduce((n, t) => n + (t.kind === 'audio' ? t.segments : 0), 0);
  }

  /** Media messages the server abandoned on the way to this reader, all tracks. */
  get abandoned(): number {
    return this.tracks.reduce((n, t) => n + t.abandoned, 0);
  }

  close(): void {
    if (this.state === 'connecting' || this.state === 'open') this.state = 'closed';
    this.teardown();
  }

  private onData(chunk: Buffer): void {
    this.bytesRead += chunk.length;
    this.throttle(chunk.length);
    if (this.state === 'open') {
      this.assembler.push(chunk);
      return;
    }
    if (this.state !== 'connecting' || this.responseHead === null) return;
    const head = Buffer.concat([this.responseHead, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_RESPONSE_HEAD) this.finish('failed', 'response head too long');
      else this.responseHead = head;
      return;
    }
    this.responseHead = null;
    const problem = checkHandshakeResponse(head.subarray(0, end).toString('latin1'), this.accept);
    if (problem !== undefined) {
      this.finish('failed', problem);
      return;
    }
    this.state = 'open';
    this.conn = new RTWebSocketConnection(
      {
        send: (bytes) => this.write(maskedFrame(OP_BINARY, bytes)),
        bufferedAmount: () => this.socket.writableLength,
        close: (code, reason) => this.finish('failed', `rtwebsocket closed the connection (${code} ${reason})`),
      },
      { onCallbackError: (err) => this.finish('failed', `rtwebsocket callback: ${(err as Error).message}`) },
    );
    this.conn.onRecvFlow = (flow) => this.onFlow(flow);
    this.conn.onClose = (err) => this.finish(err ? 'failed' : 'closed', err ? `rtwebsocket: ${err.message}` : 'rtwebsocket closed');
    this.events.open?.(this);
    if (head.length > end + 4) this.assembler.push(head.subarray(end + 4));
  }

  /** Spends tokens for bytes already read; when the bucket is empty, stops reading until it has refilled. */
  private throttle(bytes: number): void {
    const now = performance.now();
    this.tokens = Math.min(BURST_BYTES, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    this.tokens -= bytes;
    if (this.tokens >= 0 || this.resumeTimer !== undefined) return;
    this.socket.pause();
    this.resumeTimer = setTimeout(
      () => {
        this.resumeTimer = undefined;
        if (this.state === 'open' || this.state === 'connecting') this.socket.resume();
      },
      Math.ceil((-this.tokens / this.rate) * 1000),
    );
  }

  private onFlow(flow: RecvFlow): void {
    let meta: { polycast?: unknown; kind?: unknown };
    try {
      meta = JSON.parse(Buffer.from(flow.metadata).toString('utf8')) as typeof meta;
    } catch {
      flow.close(1, 'metadata is not JSON');
      return;
    }
    flow.accept();
    if (meta.polycast === 'control') {
      flow.onMessage = (bytes) => {
        let message: Record<string, unknown>;
        try {
          message = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
        } catch {
          this.finish('failed', 'a control message is not JSON');
          return;
        }
        if (message.type === 'offline') this.offlines++;
        else if (message.type === 'init') this.inits++;
        else if (message.type === 'stats' && typeof message.abandoned === 'number') this.serverAbandoned = message.abandoned;
        this.events.control?.(this, message);
      };
      return;
    }
    const track: TrackCount = { kind: meta.kind === 'audio' ? 'audio' : 'video', segments: 0, abandoned: 0, lastNumber: 0 };
    this.tracks.push(track);
    // Two entries per publish: bounded by the run's restarts.
    flow.onMessage = (_bytes, number) => {
      if (number > track.lastNumber + 1) track.abandoned += number - track.lastNumber - 1;
      track.lastNumber = number;
      // Message 1 is the init segment.
      if (number > 1) track.segments++;
    };
  }

  private write(frame: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(frame);
  }

  private finish(state: 'closed' | 'failed', reason: string): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = state;
    this.error = reason;
    this.teardown();
    this.events.end?.(this);
  }

  private teardown(): void {
    if (this.resumeTimer !== undefined) clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
    this.socket.destroy();
    this.conn?.transportClosed();
  }
}
