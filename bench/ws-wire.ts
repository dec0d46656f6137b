/**
 * The client side of RFC 6455, reduced to what a load-test reader needs: the
 * opening handshake, an incremental frame parser that keeps only the first
 * bytes of each message (the media headers the bench reads), and masked
 * control frames for the replies a server expects. Payloads are counted,
 * never copied, so one process can hold a thousand readers of a 2.5 Mbit/s
 * stream without becoming the bottleneck it is supposed to measure.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';

/** Bytes kept from the start of every data message: the whole ws-nal media header, and an FLV tag header plus the AVC packet type. */
export const HEAD_BYTES = 26;

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Control frames are at most 125 bytes (RFC 6455 §5.5). */
const MAX_CONTROL = 125;
/** A frame header is at most 2 + 8 bytes from a server (which must not mask). */
const MAX_HEADER = 10;
/** 2^53: lengths beyond this cannot be counted exactly in a double, and no media message comes close. */
const MAX_SAFE_HIGH_WORD = 0x1fffff;

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

export interface FrameHandler {
  /**
   * A complete data message. `head` holds its first `min(length, HEAD_BYTES)`
   * bytes and is overwritten by the next message.
   */
  message(opcode: number, head: Uint8Array, length: number): void;
  ping(payload: Uint8Array): void;
  close(code: number, reason: string): void;
  /** The stream broke the protocol; nothing more is parsed. */
  error(reason: string): void;
}

/**
 * Incremental parser of server-to-client frames. Input may be split at any
 * byte; state is a dozen numbers and three small fixed arrays, so a reader
 * costs almost nothing between reads.
 */
export class WsFrameParser {
  readonly head = new Uint8Array(HEAD_BYTES);
  private readonly header = new Uint8Array(MAX_HEADER);
  private headerLength = 0;
  private headerNeed = 2;
  private inFrame = false;
  private remaining = 0;
  private opcode = 0;
  private fin = false;
  private readonly control = new Uint8Array(MAX_CONTROL);
  private controlLength = 0;
  private inMessage = false;
  private messageOpcode = 0;
  private messageLength = 0;
  private failed = false;

  constructor(private readonly handler: FrameHandler) {}

  push(buf: Uint8Array, start = 0, end = buf.length): void {
    let i = start;
    while (i < end && !this.failed) {
      if (!this.inFrame) {
        while (this.headerLength < this.headerNeed && i < end) {
          this.header[this.headerLength++] = buf[i++]!;
          if (this.headerLength === 2) {
            if (this.header[1]! & 0x80) {
              this.fail('server frame is masked');
              return;
            }
            const len7 = this.header[1]! & 0x7f;
            this.headerNeed = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
          }
        }
        if (this.headerLength < this.headerNeed) return;
        if (!this.beginFrame()) return;
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      const take = Math.min(this.remaining, end - i);
      if (this.opcode & 0x8) {
        this.control.set(buf.subarray(i, i + take), this.controlLength);
        this.controlLength += take;
      } else if (this.messageLength < HEAD_BYTES) {
        const keep = Math.min(take, HEAD_BYTES - this.messageLength);
        this.head.set(buf.subarray(i, i + keep), this.messageLength);
      }
      if (!(this.opcode & 0x8)) this.messageLength += take;
      i += take;
      this.remaining -= take;
      if (this.remaining === 0) this.endFrame();
    }
  }

  private beginFrame(): boolean {
    const h = this.header;
    const b0 = h[0]!;
    if (b0 & 0x70) return this.fail('reserved bits set (no extension was negotiated)');
    this.fin = (b0 & 0x80) !== 0;
    this.opcode = b0 & 0x0f;
    const len7 = h[1]! & 0x7f;
    let length: number;
    if (len7 === 126) length = (h[2]! << 8) | h[3]!;
    else if (len7 === 127) {
      const high = ((h[2]! << 24) | (h[3]! << 16) | (h[4]! << 8) | h[5]!) >>> 0;
      if (high > MAX_SAFE_HIGH_WORD) return this.fail('frame length beyond 2^53');
      length = high * 0x1_0000_0000 + (((h[6]! << 24) | (h[7]! << 16) | (h[8]! << 8) | h[9]!) >>> 0);
    } else length = len7;
    if (this.opcode & 0x8) {
      if (!this.fin || length > MAX_CONTROL) return this.fail('fragmented or oversized control frame');
      if (this.opcode !== OP_CLOSE && this.opcode !== OP_PING && this.opcode !== OP_PONG) return this.fail(`unknown control opcode ${this.opcode}`);
      this.controlLength = 0;
    } else if (this.opcode === OP_CONTINUATION) {
      if (!this.inMessage) return this.fail('continuation frame outside a message');
    } else if (this.opcode === OP_TEXT || this.opcode === OP_BINARY) {
      if (this.inMessage) return this.fail('new message inside a fragmented one');
      this.inMessage = true;
      this.messageOpcode = this.opcode;
      this.messageLength = 0;
    } else return this.fail(`unknown data opcode ${this.opcode}`);
    this.remaining = length;
    this.inFrame = true;
    return true;
  }

  private endFrame(): void {
    this.inFrame = false;
    this.headerLength = 0;
    this.headerNeed = 2;
    if (this.opcode & 0x8) {
      const payload = this.control.subarray(0, this.controlLength);
      if (this.opcode === OP_PING) this.handler.ping(payload);
      else if (this.opcode === OP_CLOSE) {
        const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
        this.handler.close(code, Buffer.from(payload.subarray(2)).toString('utf8'));
      }
      return;
    }
    if (!this.fin) return;
    this.inMessage = false;
    this.handler.message(this.messageOpcode, this.head, this.messageLength);
  }

  private fail(reason: string): false {
    this.failed = true;
    this.handler.error(reason);
    return false;
  }
}

/** A video keyframe's DTS in ms from a ws-nal binary message (docs/protocols/ws-nal.md), or NaN for anything else. */
export function nalKeyframeMs(opcode: number, head: Uint8Array, length: number): number {
  if (opcode !== OP_BINARY || length < 26 || head[0] !== 0x01 || (head[1]! & 0x01) === 0) return NaN;
  // Signed 64-bit µs read as two 32-bit halves: exact for any timestamp a double can hold.
  const high = (head[10]! << 24) | (head[11]! << 16) | (head[12]! << 8) | head[13]!;
  const low = ((head[14]! << 24) | (head[15]! << 16) | (head[16]! << 8) | head[17]!) >>> 0;
  return Math.round((high * 0x1_0000_0000 + low) / 1000);
}

/** When Polycast received the frame from its publisher (ws-nal header, µs since the epoch → ms). */
export function nalReceivedAtMs(head: Uint8Array): number {
  const high = (head[18]! << 24) | (head[19]! << 16) | (head[20]! << 8) | head[21]!;
  const low = ((head[22]! << 24) | (head[23]! << 16) | (head[24]! << 8) | head[25]!) >>> 0;
  return (high * 0x1_0000_0000 + low) / 1000;
}

/** True for a ws-nal media message flagged as the first after frames were dropped. */
export function nalDiscontinuity(opcode: number, head: Uint8Array, length: number): boolean {
  return opcode === OP_BINARY && length >= 26 && (head[0] === 0x01 || head[0] === 0x02) && (head[1]! & 0x02) !== 0;
}

/**
 * A video keyframe's timestamp in ms from one FLV tag sent as one WebSocket
 * message (node-media-server's WS-FLV), or NaN: the FLV file header, audio,
 * script data, inter frames and AVC sequence headers are not keyframes.
 */
export function flvKeyframeMs(opcode: number, head: Uint8Array, length: number): number {
  if (opcode !== OP_BINARY || length < 13 || head[0] !== 9) return NaN;
  return isFlvVideoKeyframe(head[11]!, head[12]!) ? flvTimestamp(head, 4) : NaN;
}

/** FLV video tag body's first two bytes: frame type 1 (key) and, for AVC, packet type 1 (NAL units, not the decoder configuration). */
export function isFlvVideoKeyframe(b0: number, b1: number): boolean {
  if (b0 >> 4 !== 1) return false;
  return (b0 & 0x0f) !== 7 || b1 === 1;
}

/** The 24-bit timestamp plus its extension byte (the high 8 bits) at `at`. */
export function flvTimestamp(bytes: Uint8Array, at: number): number {
  return ((bytes[at + 3]! << 24) >>> 0) + ((bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!);
}

export interface HandshakeRequest {
  request: string;
  /** The Sec-WebSocket-Accept value a conforming server must answer with. */
  accept: string;
}

export function handshakeRequest(host: string, port: number, path: string): HandshakeRequest {
  const key = randomBytes(16).toString('base64');
  const request =
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  return { request, accept: createHash('sha1').update(key + WS_GUID).digest('base64') };
}

/** Checks a complete response head (up to the blank line); returns why it is not a valid 101, or undefined. */
export function checkHandshakeResponse(head: string, accept: string): string | undefined {
  const lines = head.split('\r\n');
  const status = lines[0] ?? '';
  if (!/^HTTP\/1\.1 101\b/.test(status)) return `upgrade refused: ${status.slice(0, 120)}`;
  const got = lines.find((l) => l.toLowerCase().startsWith('sec-websocket-accept:'));
  if (got === undefined || got.slice(got.indexOf(':') + 1).trim() !== accept) return 'wrong Sec-WebSocket-Accept';
  return undefined;
}

/** A masked client frame (RFC 6455 §5.3) with a payload of at most 125 bytes: pong and close. */
export function maskedControlFrame(opcode: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(6 + payload.length);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | payload.length;
  randomFillSync(out, 2, 4);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i]! ^ out[2 + (i & 3)]!;
  return out;
}
