/**
 * The ws-nal wire format (docs/protocols/ws-nal.md), viewer side: pure
 * functions, no DOM, so the exact bytes are unit-tested in Node.
 */
import { webSocketUrl, type StreamLocation } from '../stream-path.js';
import { base64ToBytes } from './base64.js';

/** The protocol version this player asks for (`?version=`) and understands. */
export const WS_NAL_VERSION = 2;

/**
 * The URL the player opens for `stream` (and the player page's early socket,
 * so that the two match). Version 2 carries every codec; a server that
 * predates it ignores the query and speaks version 1.
 */
export function wsNalUrl(stream: StreamLocation): string {
  return `${webSocketUrl(stream, 'ws/nal')}?version=${WS_NAL_VERSION}`;
}

export const MEDIA_VIDEO = 0x01;
export const MEDIA_AUDIO = 0x02;
export const MEDIA_HEADER_BYTES = 26;

const FLAG_KEYFRAME = 0x01;
const FLAG_DISCONTINUITY = 0x02;

export interface MediaMessage {
  readonly kind: 'video' | 'audio';
  readonly keyframe: boolean;
  /** Frames were dropped before this one: decoders must resynchronise. */
  readonly discontinuity: boolean;
  readonly ptsUs: number;
  readonly dtsUs: number;
  /** Server clock, µs since the Unix epoch. */
  readonly receivedAtUs: number;
  /** A view into the received buffer, not a copy. */
  readonly payload: Uint8Array;
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/**
 * Two 32-bit halves instead of `getBigUint64`: no BigInt allocation per
 * frame, and every µs timestamp the server sends fits in 2^53.
 */
function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset) * 0x1_0000_0000 + view.getUint32(offset + 4);
}

export function parseMediaMessage(data: ArrayBuffer | Uint8Array): MediaMessage {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength < MEDIA_HEADER_BYTES) {
    throw new ProtocolError(`media message of ${bytes.byteLength} bytes is shorter than its ${MEDIA_HEADER_BYTES}-byte header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint8(0);
  if (type !== MEDIA_VIDEO && type !== MEDIA_AUDIO) {
    throw new ProtocolError(`unknown media type 0x${type.toString(16).padStart(2, '0')}`);
  }
  const flags = view.getUint8(1);
  return {
    kind: type === MEDIA_VIDEO ? 'video' : 'audio',
    keyframe: (flags & FLAG_KEYFRAME) !== 0,
    discontinuity: (flags & FLAG_DISCONTINUITY) !== 0,
    ptsUs: readU64(view, 2),
    dtsUs: readU64(view, 10),
    receivedAtUs: readU64(view, 18),
    payload: bytes.subarray(MEDIA_HEADER_BYTES),
  };
}

export interface VideoInit {
  readonly codec: string;
  readonly codedWidth: number;
  readonly codedHeight: number;
  /**
   * The decoder configuration record: `avcC`, `hvcC` (the Annex B payloads
   * decode without it; kept for length-prefixed decoding), `av1C` (optional
   * for WebCodecs). VP9 has none.
   */
  readonly description?: Uint8Array;
}

export interface AudioInit {
  readonly codec: string;
  readonly sampleRate: number;
  readonly numberOfChannels: number;
  /** AudioSpecificConfig (AAC) or the identification header `OpusHead` (Opus). */
  readonly description?: Uint8Array;
}

export type ServerMessage =
  | { readonly type: 'hello'; readonly version: number; readonly path: string; readonly server: string; readonly id: string }
  /** `mime`: ws-fmp4's standard variant, the type of its combined SourceBuffer. */
  | { readonly type: 'init'; readonly video?: VideoInit; readonly audio?: AudioInit; readonly mime?: string }
  | { readonly type: 'offline'; readonly reason: string }
  | { readonly type: 'pong'; readonly id: number; readonly t: number; readonly serverTime: number }
  /** `abandoned`: ws-fmp4 over RTWebSocket, messages the server gave up on past their deadline. */
  | { readonly type: 'stats'; readonly dropped: number; readonly queued: number; readonly abandoned?: number }
  /** Newer servers may add messages; an old player must keep playing. */
  | { readonly type: 'unknown'; readonly name: string };

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(obj: Json, key: string, context: string): string {
  const value = obj[key];
  if (typeof value !== 'string') throw new ProtocolError(`${context}.${key} must be a string`);
  return value;
}

function num(obj: Json, key: string, context: string): number {
  const value = obj[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ProtocolError(`${context}.${key} must be a finite number`);
  return value;
}

function optionalDescription(obj: Json, context: string): Uint8Array | undefined {
  const value = obj['description'];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new ProtocolError(`${context}.description must be a base64 string`);
  try {
    return base64ToBytes(value);
  } catch {
    throw new ProtocolError(`${context}.description is not valid base64`);
  }
}

function parseVideoInit(value: unknown): VideoInit | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new ProtocolError('init.video must be an object');
  const description = optionalDescription(value, 'init.video');
  return {
    codec: str(value, 'codec', 'init.video'),
    codedWidth: num(value, 'codedWidth', 'init.video'),
    codedHeight: num(value, 'codedHeight', 'init.video'),
    ...(description ? { description } : {}),
  };
}

function parseAudioInit(value: unknown): AudioInit | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new ProtocolError('init.audio must be an object');
  const description = optionalDescription(value, 'init.audio');
  return {
    codec: str(value, 'codec', 'init.audio'),
    sampleRate: num(value, 'sampleRate', 'init.audio'),
    numberOfChannels: num(value, 'numberOfChannels', 'init.audio'),
    ...(description ? { description } : {}),
  };
}

export function parseServerText(text: string): ServerMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(`text message is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new ProtocolError('text message is not a JSON object');
  const type = parsed['type'];
  if (typeof type !== 'string') throw new ProtocolError('text message has no string "type"');
  switch (type) {
    case 'hello':
      return {
        type,
        version: num(parsed, 'version', type),
        path: str(parsed, 'path', type),
        server: str(parsed, 'server', type),
        id: str(parsed, 'id', type),
      };
    case 'init': {
      const video = parseVideoInit(parsed['video']);
      const audio = parseAudioInit(parsed['audio']);
      const mime = parsed['mime'];
      return { type, ...(video ? { video } : {}), ...(audio ? { audio } : {}), ...(typeof mime === 'string' ? { mime } : {}) };
    }
    case 'offline':
      return { type, reason: typeof parsed['reason'] === 'string' ? parsed['reason'] : '' };
    case 'pong':
      return { type, id: num(parsed, 'id', type), t: num(parsed, 't', type), serverTime: num(parsed, 'serverTime', type) };
    case 'stats':
      const abandoned = parsed['abandoned'];
      return {
        type,
        dropped: num(parsed, 'dropped', type),
        queued: num(parsed, 'queued', type),
        ...(typeof abandoned === 'number' && Number.isFinite(abandoned) ? { abandoned } : {}),
      };
    default:
      return { type: 'unknown', name: type };
  }
}

export function encodePing(id: number, t: number): string {
  return JSON.stringify({ type: 'ping', id, t });
}

export function encodeSetVideoEnabled(enabled: boolean): string {
  return JSON.stringify({ set_video_enabled: enabled });
}

export function encodeSetKeyframesOnly(keyframesOnly: boolean): string {
  return JSON.stringify({ set_keyframes_only: keyframesOnly });
}
