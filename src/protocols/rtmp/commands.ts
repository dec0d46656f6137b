/**
 * Commands (types 20 and 17) and data messages (18 and 15) as values.
 *
 * Type 17 and 15 are the "AMF3" variants: one format byte (0) and then the
 * same AMF0 sequence, whose values may switch to AMF3 with the AVM+ marker
 * (handled by the AMF0 reader).
 */
import { decodeAmf0, type AmfValue } from './amf0.js';
import { MessageType } from './chunk-reader.js';
import { RtmpProtocolError } from './errors.js';

export interface RtmpCommand {
  readonly name: string;
  readonly transactionId: number;
  /** The command object (connect's properties; null for most others). */
  readonly commandObject: AmfValue;
  readonly args: readonly AmfValue[];
}

/** The AMF0 body of a command or data message, without the AMF3 variants' format byte. */
export function amfBody(type: number, payload: Uint8Array): Uint8Array {
  const amf3Variant = type === MessageType.commandAmf3 || type === MessageType.dataAmf3;
  return amf3Variant && payload[0] === 0 ? payload.subarray(1) : payload;
}

export function decodeCommand(type: number, payload: Uint8Array): RtmpCommand {
  const values = decodeAmf0(amfBody(type, payload));
  const [name, transactionId, commandObject = null, ...args] = values;
  if (typeof name !== 'string') throw new RtmpProtocolError('command', 'command message without a command name');
  return { name, transactionId: typeof transactionId === 'number' ? transactionId : 0, commandObject, args };
}
