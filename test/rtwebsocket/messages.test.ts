import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocols/rtwebsocket/errors.js';
import {
  MessageType,
  decodeMessage,
  encodeAbandon,
  encodeDataAck,
  encodeFlowClose,
  encodeFlowCloseAck,
  encodeFlowException,
  encodeFlowOpen,
  encodeMessage,
  encodePing,
  encodePingReply,
  encodeSetAckWindow,
  encodeUserData,
  type Message,
} from '../../src/protocols/rtwebsocket/messages.js';
import { fromHex, hex, text } from './helpers.js';

/** [name, message, exact bytes per the spec's layouts] */
const vectors: [string, Message, string][] = [
  ['ping `01 <msg>`', { type: 'ping', payload: fromHex('de ad') }, '01 de ad'],
  ['ping with no payload', { type: 'ping', payload: new Uint8Array(0) }, '01'],
  ['ping reply `41 <msg>`', { type: 'ping-reply', payload: fromHex('de ad') }, '41 de ad'],
  ['set ack window `0a <vlu ackWindow>`', { type: 'set-ack-window', ackWindow: 2800 }, '0a 95 70'],
  ['flow open `10 <vlu flowID> <metadata>`', { type: 'flow-open', flowId: 5, metadata: text('hi') }, '10 05 68 69'],
  ['flow open, two-byte flow ID, no metadata', { type: 'flow-open', flowId: 200, metadata: new Uint8Array(0) }, '10 81 48'],
  [
    'flow open with return association `30 <vlu flowID> <vlu returnAssoc> <metadata>`',
    { type: 'flow-open', flowId: 7, returnAssociation: 5, metadata: text('re') },
    '30 07 05 72 65',
  ],
  ['user data, last fragment `1d <vlu flowID> <msg>`', { type: 'user-data', flowId: 3, more: false, data: fromHex('aa bb') }, '1d 03 aa bb'],
  ['user data, more fragments `3d <vlu flowID> <msg>`', { type: 'user-data', flowId: 3, more: true, data: fromHex('aa') }, '3d 03 aa'],
  ['empty user data message', { type: 'user-data', flowId: 3, more: false, data: new Uint8Array(0) }, '1d 03'],
  ['abandon one message `1a <vlu flowID>`', { type: 'abandon', flowId: 3, count: 1 }, '1a 03'],
  ['abandon five `1a <vlu flowID> <vlu countMinusOne>`', { type: 'abandon', flowId: 3, count: 5 }, '1a 03 04'],
  ['flow close `1c <vlu flowID>`', { type: 'flow-close', flowId: 3 }, '1c 03'],
  [
    'data ack `5a <vlu flowID> <vlu deltaByteCount> <vlu bufferAdvertisement>`',
    { type: 'data-ack', flowId: 3, deltaByteCount: 1403, bufferAdvertisement: 2097151 },
    '5a 03 8a 7b ff ff 7f',
  ],
  ['flow close ack `5c <vlu flowID>`', { type: 'flow-close-ack', flowId: 3 }, '5c 03'],
  ['flow exception, bare `5e <vlu flowID>`', { type: 'flow-exception', flowId: 3 }, '5e 03'],
  ['flow exception with reason `5e <vlu flowID> <vlu reasonCode>`', { type: 'flow-exception', flowId: 3, reasonCode: 0 }, '5e 03 00'],
  [
    'flow exception with description `5e <vlu flowID> <vlu reasonCode> <UTF8>`',
    { type: 'flow-exception', flowId: 3, reasonCode: 7, description: 'nö' },
    '5e 03 07 6e c3 b6',
  ],
];

describe('RTWebSocket messages', () => {
  it.each(vectors)('%s encodes byte-exact', (_name, message, bytes) => {
    expect(hex(encodeMessage(message))).toBe(bytes);
  });

  it.each(vectors)('%s decodes back', (_name, message, bytes) => {
    expect(decodeMessage(fromHex(bytes))).toEqual(message);
  });

  it('uses the spec type codes', () => {
    expect(MessageType).toEqual({
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
    });
  });

  it('the per-type encoders agree with encodeMessage', () => {
    expect(hex(encodePing(fromHex('01')))).toBe('01 01');
    expect(hex(encodePingReply(fromHex('01')))).toBe('41 01');
    expect(hex(encodeSetAckWindow(11200))).toBe('0a d7 40');
    expect(hex(encodeFlowOpen(1, new Uint8Array(0), 0))).toBe('30 01 00');
    expect(hex(encodeUserData(128, true, fromHex('ff')))).toBe('3d 81 00 ff');
    expect(hex(encodeAbandon(1, 2))).toBe('1a 01 01');
    expect(hex(encodeFlowClose(1))).toBe('1c 01');
    expect(hex(encodeDataAck(1, 0, 0))).toBe('5a 01 00 00');
    expect(hex(encodeFlowCloseAck(1))).toBe('5c 01');
    expect(hex(encodeFlowException(1, undefined, 'x'))).toBe('5e 01 00 78');
  });

  it('reads an explicit abandon count of zero-minus-one as one message', () => {
    expect(decodeMessage(fromHex('1a 03 00'))).toEqual({ type: 'abandon', flowId: 3, count: 1 });
  });

  it('ignores bytes after the last defined field, as the reference does', () => {
    expect(decodeMessage(fromHex('1c 03 ff'))).toEqual({ type: 'flow-close', flowId: 3 });
    expect(decodeMessage(fromHex('5a 03 01 02 99'))).toEqual({ type: 'data-ack', flowId: 3, deltaByteCount: 1, bufferAdvertisement: 2 });
  });

  it('reports undefined type codes instead of failing', () => {
    expect(decodeMessage(fromHex('7f 01 02'))).toEqual({ type: 'unknown', code: 0x7f });
  });

  it('returns views, not copies, of payloads', () => {
    const bytes = fromHex('1d 03 aa bb');
    const message = decodeMessage(bytes);
    expect(message.type === 'user-data' && message.data.buffer).toBe(bytes.buffer);
  });

  const malformed: [string, string, string][] = [
    ['empty message', '', 'truncated'],
    ['set ack window without a window', '0a', 'truncated'],
    ['flow open without a flow ID', '10', 'truncated'],
    ['flow open with a truncated flow ID', '10 81', 'truncated'],
    ['return flow open without an association', '30 05', 'truncated'],
    ['user data without a flow ID', '1d', 'truncated'],
    ['more-fragments data with a truncated flow ID', '3d ff', 'truncated'],
    ['abandon with a truncated count', '1a 03 80', 'truncated'],
    ['flow close without a flow ID', '1c', 'truncated'],
    ['data ack without delta and advertisement', '5a 03', 'truncated'],
    ['data ack without an advertisement', '5a 03 01', 'truncated'],
    ['data ack with a truncated advertisement', '5a 03 01 81', 'truncated'],
    ['close ack without a flow ID', '5c', 'truncated'],
    ['flow exception without a flow ID', '5e', 'truncated'],
    ['flow exception with a truncated reason', '5e 03 85', 'truncated'],
    ['flow ID past 2^53-1', '1c ff ff ff ff ff ff ff ff 7f', 'vlu-overflow'],
  ];

  it.each(malformed)('rejects %s with a typed error', (_name, bytes, kind) => {
    expect(() => decodeMessage(fromHex(bytes))).toThrowError(expect.objectContaining({ name: 'RTWebSocketProtocolError', kind }));
  });

  it('throws nothing but ProtocolError on random input', () => {
    const codes = Object.values(MessageType);
    for (let i = 0; i < 20000; i++) {
      const bytes = new Uint8Array(Math.floor(Math.random() * 12));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.random() < 0.5 ? 0x80 | (Math.random() * 128) : Math.random() * 256;
      if (bytes.length > 0) bytes[0] = codes[i % codes.length]!;
      try {
        decodeMessage(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(ProtocolError);
      }
    }
  });

  it('refuses to encode an abandon of no messages', () => {
    expect(() => encodeAbandon(1, 0)).toThrow(RangeError);
  });
});
