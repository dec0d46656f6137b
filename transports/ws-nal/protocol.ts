/**
 * The `ws-nal` wire format (docs/protocols/ws-nal.md): pure encoding and
 * validation, no sockets. The media header, which edges read too, is in
 * src/protocols/ws-nal/media-header.ts.
 */

export const INPUT_KEY = 0x10;
export const INPUT_MOUSE_BUTTON = 0x11;
export const INPUT_MOUSE_POSITION = 0x12;
export const INPUT_MOUSE_MOVE = 0x13;
export const INPUT_WHEEL = 0x14;

/** Length of the WebSocket frame header (RFC 6455 §5.2) for an unmasked server frame. */
export function wsHeaderLength(payloadLength: number): number {
  return payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
}

/** Writes an unmasked, final, binary WebSocket frame header; returns its length. */
export function writeWsBinaryHeader(out: Uint8Array, payloadLength: number): number {
  out[0] = 0x82;
  if (payloadLength < 126) {
    out[1] = payloadLength;
    return 2;
  }
  if (payloadLength < 65536) {
    out[1] = 126;
    out[2] = payloadLength >>> 8;
    out[3] = payloadLength & 0xff;
    return 4;
  }
  out[1] = 127;
  new DataView(out.buffer, out.byteOffset + 2, 8).setBigUint64(0, BigInt(payloadLength));
  return 10;
}

export type InputCheck = { ok: true; type: number } | { ok: false; code: 1003 | 1008; reason: string };

const KEY_CODE = /^[A-Za-z0-9]+$/;

/** Validates one binary message from a viewer against the input message table. */
export function checkInputMessage(data: Uint8Array): InputCheck {
  if (data.byteLength === 0) return { ok: false, code: 1008, reason: 'empty binary message' };
  const type = data[0]!;
  const fixed: Record<number, number> = { [INPUT_MOUSE_BUTTON]: 3, [INPUT_MOUSE_POSITION]: 5, [INPUT_MOUSE_MOVE]: 5, [INPUT_WHEEL]: 5 };
  if (type === INPUT_KEY) {
    if (data.byteLength < 5) return { ok: false, code: 1008, reason: 'key message too short' };
    const n = data[3]!;
    if (n < 1 || n > 32 || data.byteLength !== 4 + n) return { ok: false, code: 1008, reason: 'key message length does not match its code length' };
    if (data[1]! > 1) return { ok: false, code: 1008, reason: 'key message: down must be 0 or 1' };
    if (data[2]! > 0x0f) return { ok: false, code: 1008, reason: 'key message: unknown modifier bits' };
    const code = String.fromCharCode(...data.subarray(4));
    if (!KEY_CODE.test(code)) return { ok: false, code: 1008, reason: 'key message: code must be a KeyboardEvent.code' };
    return { ok: true, type };
  }
  const length = fixed[type];
  if (length === undefined) return { ok: false, code: 1003, reason: `binary input type 0x${type.toString(16).padStart(2, '0')} unknown` };
  if (data.byteLength !== length) return { ok: false, code: 1008, reason: `input type 0x${type.toString(16)} must be ${length} bytes, got ${data.byteLength}` };
  if (type === INPUT_MOUSE_BUTTON && (data[1]! > 1 || data[2]! > 4)) return { ok: false, code: 1008, reason: 'mouse button message out of range' };
  return { ok: true, type };
}

export type ControlMessage =
  | { type: 'ping'; id: number; t: number }
  | { type: 'set_video_enabled'; value: boolean }
  | { type: 'set_keyframes_only'; value: boolean };

export type ControlCheck = { ok: true; message: ControlMessage } | { ok: false; code: 1007 | 1008; reason: string };

/** Parses one text message from a viewer. */
export function parseControlMessage(text: string): ControlCheck {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 1007, reason: `invalid JSON: ${(err as Error).message}`.slice(0, 120) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 1007, reason: 'invalid JSON: a control message must be an object' };
  }
  const msg = value as Record<string, unknown>;
  if ('set_video_enabled' in msg) {
    if (typeof msg.set_video_enabled !== 'boolean') return { ok: false, code: 1008, reason: 'set_video_enabled must be a boolean' };
    return { ok: true, message: { type: 'set_video_enabled', value: msg.set_video_enabled } };
  }
  if ('set_keyframes_only' in msg) {
    if (typeof msg.set_keyframes_only !== 'boolean') return { ok: false, code: 1008, reason: 'set_keyframes_only must be a boolean' };
    return { ok: true, message: { type: 'set_keyframes_only', value: msg.set_keyframes_only } };
  }
  if (msg.type === 'ping') {
    if (typeof msg.id !== 'number' || !Number.isFinite(msg.id)) return { ok: false, code: 1008, reason: 'ping needs a numeric id' };
    const t = typeof msg.t === 'number' && Number.isFinite(msg.t) ? msg.t : 0;
    return { ok: true, message: { type: 'ping', id: msg.id, t } };
  }
  return { ok: false, code: 1008, reason: `unknown control message${typeof msg.type === 'string' ? ` type '${msg.type.slice(0, 32)}'` : ''}` };
}

/**
 * Token bucket for input messages: `rate` per second, bursts of `burst`.
 * `take()` says whether a message may pass; `abusive` turns true when a
 * client keeps sending at several times the rate.
 */
export class InputRateLimiter {
  private tokens: number;
  private last: number;
  private windowStart: number;
  private windowCount = 0;
  abusive = false;
  dropped = 0;

  constructor(
    private readonly rate = 500,
    private readonly burst = 100,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = this.now();
    this.windowStart = this.last;
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.windowCount = 0;
    }
    this.windowCount++;
    if (this.windowCount > this.rate * 5) this.abusive = true;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.dropped++;
    return false;
  }
}
