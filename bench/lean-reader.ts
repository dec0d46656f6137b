/**
 * One WebSocket reader on a raw socket: handshake, frame parsing into a
 * buffer shared by every reader of the process (Node's `onread`, so reads
 * allocate nothing), answers to pings, and the arrival time of each video
 * keyframe by its media timestamp.
 */
import net from 'node:net';
import { wallClock } from './flv-sink.js';
import {
  checkHandshakeResponse,
  flvKeyframeMs,
  handshakeRequest,
  maskedControlFrame,
  nalDiscontinuity,
  nalKeyframeMs,
  nalReceivedAtMs,
  OP_PONG,
  WsFrameParser,
} from './ws-wire.js';

export type WireFormat = 'ws-nal' | 'ws-flv';

export interface ReaderTarget {
  host: string;
  port: number;
  /** Request path, e.g. `/live/bench/ws/nal` or `/live/bench.flv`. */
  path: string;
  format: WireFormat;
}

export type ReaderState = 'connecting' | 'open' | 'closed' | 'failed';

/** Reads are synchronous callbacks, so one buffer serves every socket of the process. */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
/** A response head longer than this is not a WebSocket upgrade. */
const MAX_RESPONSE_HEAD = 8192;
/** Numbers per keyframe in `arrivals`. */
export const ARRIVAL_STRIDE = 3;
/** Keyframes kept per reader: minutes of them, so a phase never loses its window to the cap. */
const MAX_ARRIVALS = 900;

export class LeanReader {
  state: ReaderState = 'connecting';
  error: string | undefined;
  messages = 0;
  discontinuities = 0;
  /** Bytes read from the socket, handshake included. */
  bytesIn = 0;
  /**
   * Flat triples per keyframe: its timestamp (ms), its arrival here (wall
   * clock ms), and when the server received it from the publisher (ws-nal
   * only; NaN for WS-FLV, which does not say).
   */
  readonly arrivals: number[] = [];
  private readonly socket: net.Socket;
  private readonly parser: WsFrameParser;
  private responseHead: Buffer | null = Buffer.alloc(0);
  private readonly accept: string;
  private readonly keyframeMs: typeof nalKeyframeMs;

  constructor(
    target: ReaderTarget,
    private readonly events: {
      open?(reader: LeanReader): void;
      end?(reader: LeanReader): void;
      keyframe?(ms: number, at: number): void;
      /** Every complete data message; `head` (its first bytes, see ws-wire) is only valid during the call. */
      message?(opcode: number, head: Uint8Array, length: number): void;
    } = {},
  ) {
    this.keyframeMs = target.format === 'ws-nal' ? nalKeyframeMs : flvKeyframeMs;
    const nal = target.format === 'ws-nal';
    this.parser = new WsFrameParser({
      message: (opcode, head, length) => {
        this.messages++;
        if (nal && nalDiscontinuity(opcode, head, length)) this.discontinuities++;
        const ms = this.keyframeMs(opcode, head, length);
        if (!Number.isNaN(ms)) this.record(ms, wallClock(), nal ? nalReceivedAtMs(head) : NaN);
        this.events.message?.(opcode, head, length);
      },
      ping: (payload) => {
        if (this.state === 'open') this.socket.write(maskedControlFrame(OP_PONG, payload));
      },
      close: (code, reason) => {
        this.finish('closed', `server closed the WebSocket (${code}${reason ? ` ${reason}` : ''})`);
      },
      error: (reason) => this.finish('failed', `protocol error: ${reason}`),
    });
    const { request, accept } = handshakeRequest(target.host, target.port, target.path);
    this.accept = accept;
    this.socket = net.connect({
      host: target.host,
      port: target.port,
      noDelay: true,
      onread: { buffer: SHARED_READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) },
    });
    this.socket.on('connect', () => this.socket.write(request));
    this.socket.on('error', (err) => this.finish('failed', `socket error: ${err.message}`));
    this.socket.on('close', () => this.finish(this.state === 'open' ? 'closed' : 'failed', this.state === 'open' ? 'connection closed' : 'closed before the upgrade'));
  }

  /** Gives up on this reader, as a failure with `reason`. */
  abort(reason: string): void {
    this.finish('failed', reason);
  }

  /** Drops the connection: readers go down with their phase, and nobody waits for a close handshake. */
  close(): void {
    if (this.state === 'connecting' || this.state === 'open') this.state = 'closed';
    this.socket.destroy();
  }

  /** Always keeps reading: a reader that stopped would measure itself, not the server. */
  private onRead(n: number, buf: Uint8Array): true {
    this.bytesIn += n;
    if (this.state === 'open') {
      this.parser.push(buf, 0, n);
      return true;
    }
    if (this.state !== 'connecting' || this.responseHead === null) return true;
    const head = Buffer.concat([this.responseHead, buf.subarray(0, n)]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_RESPONSE_HEAD) this.finish('failed', 'response head too long');
      else this.responseHead = head;
      return true;
    }
    this.responseHead = null;
    const problem = checkHandshakeResponse(head.subarray(0, end).toString('latin1'), this.accept);
    if (problem !== undefined) {
      this.finish('failed', problem);
      return true;
    }
    this.state = 'open';
    this.events.open?.(this);
    if (head.length > end + 4) this.parser.push(head, end + 4, head.length);
    return true;
  }

  private record(ms: number, at: number, serverAt: number): void {
    if (this.arrivals.length >= MAX_ARRIVALS * ARRIVAL_STRIDE) this.arrivals.splice(0, (MAX_ARRIVALS / 2) * ARRIVAL_STRIDE);
    this.arrivals.push(ms, at, serverAt);
    this.events.keyframe?.(ms, at);
  }

  private finish(state: 'closed' | 'failed', reason: string): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = state;
    this.error = reason;
    this.socket.destroy();
    this.events.end?.(this);
  }
}
