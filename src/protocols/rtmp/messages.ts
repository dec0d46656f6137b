/**
 * Builders for the messages a server sends (Adobe RTMP 1.0 §5.4, §6.2,
 * §7.2) and readers for the small control messages it receives.
 */
import { encodeAmf0, type AmfObject, type AmfValue } from './amf0.js';
import type { OutgoingMessage } from './chunk-writer.js';
import { MessageType } from './chunk-reader.js';
import { RtmpProtocolError } from './errors.js';

/** Chunk stream ids the server writes on (any fixed choice works; these are the customary ones). */
export const CSID_CONTROL = 2;
export const CSID_COMMAND = 3;
export const CSID_STATUS = 5;

export const UserControlEvent = {
  streamBegin: 0,
  streamEof: 1,
  streamDry: 2,
  setBufferLength: 3,
  streamIsRecorded: 4,
  pingRequest: 6,
  pingResponse: 7,
} as const;

export const PeerBandwidthLimit = { hard: 0, soft: 1, dynamic: 2 } as const;

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
};

const control = (type: number, payload: Buffer): OutgoingMessage => ({ csid: CSID_CONTROL, type, streamId: 0, timestamp: 0, payload });

export const setChunkSize = (size: number) => control(MessageType.setChunkSize, u32(size));
export const acknowledgement = (sequence: number) => control(MessageType.acknowledgement, u32(sequence));
export const windowAckSize = (size: number) => control(MessageType.windowAckSize, u32(size));
export const setPeerBandwidth = (size: number, limit: number) => control(MessageType.setPeerBandwidth, Buffer.concat([u32(size), Buffer.from([limit])]));

export function userControl(event: number, value: number): OutgoingMessage {
  const payload = Buffer.alloc(6);
  payload.writeUInt16BE(event, 0);
  payload.writeUInt32BE(value >>> 0, 2);
  return control(MessageType.userControl, payload);
}

/** An AMF0 command (type 20): name, transaction id, command object, then arguments. */
export function command(streamId: number, name: string, transactionId: number, commandObject: AmfValue, ...args: AmfValue[]): OutgoingMessage {
  return {
    csid: streamId === 0 ? CSID_COMMAND : CSID_STATUS,
    type: MessageType.commandAmf0,
    streamId,
    timestamp: 0,
    payload: encodeAmf0(name, transactionId, commandObject, ...args),
  };
}

/** `onStatus` on a NetStream (§7.2.2): level `status` or `error`, a code such as NetStream.Publish.Start, and a description. */
export function onStatus(streamId: number, level: 'status' | 'error', code: string, description: string, extra: AmfObject = {}): OutgoingMessage {
  return command(streamId, 'onStatus', 0, null, { level, code, description, ...extra });
}

export interface UserControlMessage {
  readonly event: number;
  /** The event's first 4-byte value (stream id, ping timestamp...). */
  readonly value: number;
}

export function readUserControl(payload: Uint8Array): UserControlMessage {
  if (payload.length < 6) throw new RtmpProtocolError('malformed-chunk', `user control message of ${payload.length} bytes, need 6`);
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  return { event: b.readUInt16BE(0), value: b.readUInt32BE(2) };
}

/** The 4-byte value of Window Acknowledgement Size / Set Peer Bandwidth / Acknowledgement. */
export function readU32Message(payload: Uint8Array, what: string): number {
  if (payload.length < 4) throw new RtmpProtocolError('malformed-chunk', `${what} of ${payload.length} bytes, need 4`);
  return Buffer.from(payload.buffer, payload.byteOffset, payload.length).readUInt32BE(0);
}

/** User Control Set Buffer Length (§7.1.7 event 3): stream id, then milliseconds of buffer the client keeps. */
export function setBufferLength(streamId: number, ms: number): OutgoingMessage {
  const payload = Buffer.alloc(10);
  payload.writeUInt16BE(UserControlEvent.setBufferLength, 0);
  payload.writeUInt32BE(streamId >>> 0, 2);
  payload.writeUInt32BE(ms >>> 0, 6);
  return control(MessageType.userControl, payload);
}
