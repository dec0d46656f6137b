/**
 * The RTWebSocket wire format: one protocol message per binary WebSocket
 * message, a type byte followed by type-specific fields. Codes and layouts
 * are those of the `protocol` document in github.com/zenomt/rtwebsocket.
 *
 * Decoding never reads outside the input and reports malformed input as a
 * `ProtocolError`. Fields after the last one a type defines are ignored, as
 * the reference implementations do, so a peer that appends data still
 * interoperates. Decoded `payload`, `metadata` and `data` are views into the
 * input: copy them before the input buffer is reused.
 */
import { ProtocolError } from './errors.js';
import { readVlu, vluLength, writeVlu } from './vlu.js';

export const MessageType = {
  PING: 0x01,
  PING_REPLY: 0x41,
  SET_ACK_WINDOW: 0x0a,
  FLOW_OPEN: 0x10,
  FLOW_OPEN_RETURN: 0x30,
  USER_DATA_LAST: 0x1d,
  USER_DATA_MORE: 0x3d,
  ABANDON: 0x1a,
  FLOW_CLOSE: 0x1c,
  DATA_ACK: 0x5a,
  FLOW_CLOSE_ACK: 0x5c,
  FLOW_EXCEPTION: 0x5e,
} as const;

export type Message =
  | { readonly type: 'ping'; readonly payload: Uint8Array }
  | { readonly type: 'ping-reply'; readonly payload: Uint8Array }
  | { readonly type: 'set-ack-window'; readonly ackWindow: number }
  | {
      readonly type: 'flow-open';
      readonly flowId: number;
      /** The receiver's own send flow this one answers; absent for a plain open. */
      readonly returnAssociation?: number;
      readonly metadata: Uint8Array;
    }
  | {
      readonly type: 'user-data';
      readonly flowId: number;
      /** True for a "more fragments coming" fragment (0x3d). */
      readonly more: boolean;
      readonly data: Uint8Array;
    }
  | {
      readonly type: 'abandon';
      readonly flowId: number;
      /** Messages abandoned, at least 1; the wire carries count − 1, omitted when 0. */
      readonly count: number;
    }
  | { readonly type: 'flow-close'; readonly flowId: number }
  | {
      readonly type: 'data-ack';
      readonly flowId: number;
      /** User-data bytes, headers included, received on the flow since the previous ack. */
      readonly deltaByteCount: number;
      readonly bufferAdvertisement: number;
    }
  | { readonly type: 'flow-close-ack'; readonly flowId: number }
  | {
      readonly type: 'flow-exception';
      readonly flowId: number;
      readonly reasonCode?: number;
      readonly description?: string;
    }
  /** A type byte the protocol does not define; receivers ignore these. */
  | { readonly type: 'unknown'; readonly code: number };

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

const EMPTY = new Uint8Array(0);

function build(code: number, fields: readonly number[], tail: Uint8Array = EMPTY): Uint8Array {
  let length = 1 + tail.length;
  for (const field of fields) length += vluLength(field);
  const out = new Uint8Array(length);
  out[0] = code;
  let offset = 1;
  for (const field of fields) offset = writeVlu(out, offset, field);
  out.set(tail, offset);
  return out;
}

export function encodePing(payload: Uint8Array = EMPTY): Uint8Array {
  return build(MessageType.PING, [], payload);
}

export function encodePingReply(payload: Uint8Array = EMPTY): Uint8Array {
  return build(MessageType.PING_REPLY, [], payload);
}

export function encodeSetAckWindow(ackWindow: number): Uint8Array {
  return build(MessageType.SET_ACK_WINDOW, [ackWindow]);
}

export function encodeFlowOpen(flowId: number, metadata: Uint8Array, returnAssociation?: number): Uint8Array {
  return returnAssociation === undefined
    ? build(MessageType.FLOW_OPEN, [flowId], metadata)
    : build(MessageType.FLOW_OPEN_RETURN, [flowId, returnAssociation], metadata);
}

/** Header bytes (type + flow ID) every user-data fragment of `flowId` carries. */
export function userDataHeaderLength(flowId: number): number {
  return 1 + vluLength(flowId);
}

export function encodeUserData(flowId: number, more: boolean, data: Uint8Array): Uint8Array {
  return build(more ? MessageType.USER_DATA_MORE : MessageType.USER_DATA_LAST, [flowId], data);
}

export function encodeAbandon(flowId: number, count = 1): Uint8Array {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`abandon count must be a positive integer, got ${count}`);
  }
  return build(MessageType.ABANDON, count === 1 ? [flowId] : [flowId, count - 1]);
}

export function encodeFlowClose(flowId: number): Uint8Array {
  return build(MessageType.FLOW_CLOSE, [flowId]);
}

export function encodeDataAck(flowId: number, deltaByteCount: number, bufferAdvertisement: number): Uint8Array {
  return build(MessageType.DATA_ACK, [flowId, deltaByteCount, bufferAdvertisement]);
}

export function encodeFlowCloseAck(flowId: number): Uint8Array {
  return build(MessageType.FLOW_CLOSE_ACK, [flowId]);
}

/** A description can only travel after a reason code, so one without a code is sent with code 0. */
export function encodeFlowException(flowId: number, reasonCode?: number, description?: string): Uint8Array {
  if (reasonCode === undefined && description === undefined) {
    return build(MessageType.FLOW_EXCEPTION, [flowId]);
  }
  const text = description === undefined ? EMPTY : utf8Encoder.encode(description);
  return build(MessageType.FLOW_EXCEPTION, [flowId, reasonCode ?? 0], text);
}

export function encodeMessage(message: Message): Uint8Array {
  switch (message.type) {
    case 'ping':
      return encodePing(message.payload);
    case 'ping-reply':
      return encodePingReply(message.payload);
    case 'set-ack-window':
      return encodeSetAckWindow(message.ackWindow);
    case 'flow-open':
      return encodeFlowOpen(message.flowId, message.metadata, message.returnAssociation);
    case 'user-data':
      return encodeUserData(message.flowId, message.more, message.data);
    case 'abandon':
      return encodeAbandon(message.flowId, message.count);
    case 'flow-close':
      return encodeFlowClose(message.flowId);
    case 'data-ack':
      return encodeDataAck(message.flowId, message.deltaByteCount, message.bufferAdvertisement);
    case 'flow-close-ack':
      return encodeFlowCloseAck(message.flowId);
    case 'flow-exception':
      return encodeFlowException(message.flowId, message.reasonCode, message.description);
    case 'unknown':
      throw new RangeError(`cannot encode unknown message type 0x${message.code.toString(16)}`);
  }
}

/** Cursor over one message; every read is bounds-checked. */
class Reader {
  offset = 1;
  constructor(readonly bytes: Uint8Array) {}

  get atEnd(): boolean {
    return this.offset >= this.bytes.length;
  }

  vlu(): number {
    const { value, next } = readVlu(this.bytes, this.offset);
    this.offset = next;
    return value;
  }

  rest(): Uint8Array {
    const tail = this.bytes.subarray(this.offset);
    this.offset = this.bytes.length;
    return tail;
  }
}

export function decodeMessage(bytes: Uint8Array): Message {
  if (bytes.length === 0) throw new ProtocolError('truncated', 'empty message');
  const code = bytes[0]!;
  const r = new Reader(bytes);
  switch (code) {
    case MessageType.PING:
      return { type: 'ping', payload: r.rest() };
    case MessageType.PING_REPLY:
      return { type: 'ping-reply', payload: r.rest() };
    case MessageType.SET_ACK_WINDOW:
      return { type: 'set-ack-window', ackWindow: r.vlu() };
    case MessageType.FLOW_OPEN: {
      const flowId = r.vlu();
      return { type: 'flow-open', flowId, metadata: r.rest() };
    }
    case MessageType.FLOW_OPEN_RETURN: {
      const flowId = r.vlu();
      const returnAssociation = r.vlu();
      return { type: 'flow-open', flowId, returnAssociation, metadata: r.rest() };
    }
    case MessageType.USER_DATA_LAST:
    case MessageType.USER_DATA_MORE: {
      const flowId = r.vlu();
      return { type: 'user-data', flowId, more: code === MessageType.USER_DATA_MORE, data: r.rest() };
    }
    case MessageType.ABANDON: {
      const flowId = r.vlu();
      const countMinusOne = r.atEnd ? 0 : r.vlu();
      if (countMinusOne >= Number.MAX_SAFE_INTEGER) {
        throw new ProtocolError('vlu-overflow', 'abandon count exceeds 2^53-1');
      }
      return { type: 'abandon', flowId, count: countMinusOne + 1 };
    }
    case MessageType.FLOW_CLOSE:
      return { type: 'flow-close', flowId: r.vlu() };
    case MessageType.DATA_ACK: {
      const flowId = r.vlu();
      const deltaByteCount = r.vlu();
      const bufferAdvertisement = r.vlu();
      return { type: 'data-ack', flowId, deltaByteCount, bufferAdvertisement };
    }
    case MessageType.FLOW_CLOSE_ACK:
      return { type: 'flow-close-ack', flowId: r.vlu() };
    case MessageType.FLOW_EXCEPTION: {
      const flowId = r.vlu();
      if (r.atEnd) return { type: 'flow-exception', flowId };
      const reasonCode = r.vlu();
      if (r.atEnd) return { type: 'flow-exception', flowId, reasonCode };
      return { type: 'flow-exception', flowId, reasonCode, description: utf8Decoder.decode(r.rest()) };
    }
    default:
      return { type: 'unknown', code };
  }
}
