/**
 * QMux frames (draft-ietf-quic-qmux-00…02): QUIC's stream frames (RFC 9000
 * §19) carried over a reliable byte transport, here one WebSocket message
 * per record. Draft-00 puts exactly one frame in a message; drafts 01 and 02
 * make each message a record that may hold several.
 */
import { concatBytes } from '../http3/bytes.js';
import { encodeVarint, readVarint, readVarintBigInt } from '../http3/varint.js';
import { QmuxError, TransportErrorCode } from './errors.js';

export type QmuxVersion = 'qmux-00' | 'qmux-01' | 'qmux-02';

/** Newest first: the order we prefer them in. */
export const QMUX_VERSIONS: readonly QmuxVersion[] = ['qmux-02', 'qmux-01', 'qmux-00'];

/** Drafts 01+ frame records; 00 puts one frame in each WebSocket message. */
export function usesRecords(v: QmuxVersion): boolean {
  return v !== 'qmux-00';
}

/** Draft-00's `max_frame_size`: the largest message a peer may send us. */
export const MAX_FRAME_SIZE_00 = 16384;
/** Drafts 01+: the default and minimum `max_record_size`; we accept no more. */
export const MAX_RECORD_SIZE = 16382;

export const FrameType = {
  Padding: 0x00n,
  Ping: 0x01n,
  ResetStream: 0x04n,
  StopSending: 0x05n,
  MaxData: 0x10n,
  MaxStreamData: 0x11n,
  MaxStreamsBidi: 0x12n,
  MaxStreamsUni: 0x13n,
  DataBlocked: 0x14n,
  StreamDataBlocked: 0x15n,
  StreamsBlockedBidi: 0x16n,
  StreamsBlockedUni: 0x17n,
  ConnectionClose: 0x1cn,
  ApplicationClose: 0x1dn,
  /** draft-ietf-quic-reliable-stream-reset, allowed on qmux-02. */
  ResetStreamAt: 0x24n,
  Datagram: 0x30n,
  DatagramLen: 0x31n,
  TransportParameters: 0x3f5153300d0a0d0an,
  PingRequest: 0x348c67529ef8c7bdn,
  PingResponse: 0x348c67529ef8c7ben,
} as const;

export type Frame =
  | { type: 'stream'; id: number; offset: number; data: Uint8Array; fin: boolean }
  | { type: 'reset_stream'; id: number; code: number; finalSize: number }
  | { type: 'stop_sending'; id: number; code: number }
  | { type: 'max_data'; max: number }
  | { type: 'max_stream_data'; id: number; max: number }
  | { type: 'max_streams'; bidi: boolean; max: number }
  | { type: 'blocked' }
  | { type: 'close'; application: boolean; code: number; reason: string }
  | { type: 'transport_parameters'; params: TransportParameters }
  | { type: 'ping_request' | 'ping_response'; sequence: bigint }
  | { type: 'ping' }
  | { type: 'datagram' };

/** Parses one message's worth of frames, exactly; anything malformed is a QmuxError. */
class Cursor {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  private truncated(): never {
    throw new QmuxError(TransportErrorCode.FrameEncoding, 'frame truncated');
  }

  big(): bigint {
    const r = readVarintBigInt(this.buf, this.pos);
    if (r === null) this.truncated();
    this.pos += r.length;
    return r.value;
  }

  /** A varint that must be exact as a number (ids, offsets, sizes). */
  num(what: string): number {
    const r = readVarint(this.buf, this.pos);
    if (r === null) this.truncated();
    if (r.value > Number.MAX_SAFE_INTEGER) throw new QmuxError(TransportErrorCode.FrameEncoding, `${what} beyond 2^53`);
    this.pos += r.length;
    return r.value;
  }

  /** A limit the peer grants us: values past 2^53 are as good as unlimited. */
  limit(): number {
    const r = readVarint(this.buf, this.pos);
    if (r === null) this.truncated();
    this.pos += r.length;
    return Math.min(r.value, Number.MAX_SAFE_INTEGER);
  }

  bytes(n: number): Uint8Array {
    if (n > this.buf.length - this.pos) this.truncated();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  rest(): Uint8Array {
    return this.bytes(this.buf.length - this.pos);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Every frame in a received message; PADDING is dropped. */
export function decodeMessage(buf: Uint8Array, version: QmuxVersion): Frame[] {
  const c = new Cursor(buf);
  const frames: Frame[] = [];
  while (!c.done) {
    const f = decodeFrame(c, version);
    if (f !== undefined) frames.push(f);
    if (!usesRecords(version) && !c.done) throw new QmuxError(TransportErrorCode.FrameEncoding, 'qmux-00: bytes after the frame');
  }
  return frames;
}

function decodeFrame(c: Cursor, version: QmuxVersion): Frame | undefined {
  const type = c.big();
  if (type >= 0x08n && type <= 0x0fn) {
    const id = c.num('stream id');
    const offset = (type & 0x04n) !== 0n ? c.num('offset') : 0;
    const data = (type & 0x02n) !== 0n ? c.bytes(c.num('length')) : c.rest();
    return { type: 'stream', id, offset, data, fin: (type & 0x01n) !== 0n };
  }
  switch (type) {
    case FrameType.Padding:
      return undefined;
    case FrameType.Ping:
      return { type: 'ping' };
    case FrameType.ResetStream:
      return { type: 'reset_stream', id: c.num('stream id'), code: c.limit(), finalSize: c.num('final size') };
    case FrameType.ResetStreamAt: {
      if (version !== 'qmux-02') break;
      const id = c.num('stream id');
      const code = c.limit();
      const finalSize = c.num('final size');
      // Everything up to the final size has arrived in order already: on a reliable transport this is a plain reset.
      if (c.num('reliable size') > finalSize) throw new QmuxError(TransportErrorCode.FrameEncoding, 'RESET_STREAM_AT reliable size beyond final size');
      return { type: 'reset_stream', id, code, finalSize };
    }
    case FrameType.StopSending:
      return { type: 'stop_sending', id: c.num('stream id'), code: c.limit() };
    case FrameType.MaxData:
      return { type: 'max_data', max: c.limit() };
    case FrameType.MaxStreamData:
      return { type: 'max_stream_data', id: c.num('stream id'), max: c.limit() };
    case FrameType.MaxStreamsBidi:
    case FrameType.MaxStreamsUni:
      return { type: 'max_streams', bidi: type === FrameType.MaxStreamsBidi, max: c.limit() };
    case FrameType.DataBlocked:
    case FrameType.StreamsBlockedBidi:
    case FrameType.StreamsBlockedUni:
      c.big();
      return { type: 'blocked' };
    case FrameType.StreamDataBlocked:
      c.big();
      c.big();
      return { type: 'blocked' };
    case FrameType.ConnectionClose:
    case FrameType.ApplicationClose: {
      const application = type === FrameType.ApplicationClose;
      const code = c.limit();
      if (!application) c.big(); // the frame type that caused it
      const reason = utf8.decode(c.bytes(c.num('reason length')));
      return { type: 'close', application, code, reason };
    }
    case FrameType.TransportParameters:
      return { type: 'transport_parameters', params: decodeTransportParameters(c.bytes(c.num('parameters length'))) };
    case FrameType.PingRequest:
    case FrameType.PingResponse:
      if (!usesRecords(version)) break;
      return { type: type === FrameType.PingRequest ? 'ping_request' : 'ping_response', sequence: c.big() };
    case FrameType.Datagram:
    case FrameType.DatagramLen:
      // We advertise max_datagram_frame_size 0, so any DATAGRAM is a violation (RFC 9221 §3).
      throw new QmuxError(TransportErrorCode.ProtocolViolation, 'DATAGRAM frames were not negotiated');
  }
  throw new QmuxError(TransportErrorCode.FrameEncoding, `unknown frame type 0x${type.toString(16)}`);
}

export interface TransportParameters {
  maxIdleTimeout: number;
  initialMaxData: number;
  initialMaxStreamDataBidiLocal: number;
  initialMaxStreamDataBidiRemote: number;
  initialMaxStreamDataUni: number;
  initialMaxStreamsBidi: number;
  initialMaxStreamsUni: number;
  maxDatagramFrameSize: number;
  maxRecordSize: number;
  resetStreamAt: boolean;
}

/** What a peer that sends no parameter has granted: nothing (RFC 9000 §18.2 defaults). */
export const DEFAULT_PARAMETERS: Readonly<TransportParameters> = {
  maxIdleTimeout: 0,
  initialMaxData: 0,
  initialMaxStreamDataBidiLocal: 0,
  initialMaxStreamDataBidiRemote: 0,
  initialMaxStreamDataUni: 0,
  initialMaxStreamsBidi: 0,
  initialMaxStreamsUni: 0,
  maxDatagramFrameSize: 0,
  maxRecordSize: MAX_RECORD_SIZE,
  resetStreamAt: false,
};

const ParamId = {
  maxIdleTimeout: 0x01n,
  initialMaxData: 0x04n,
  initialMaxStreamDataBidiLocal: 0x05n,
  initialMaxStreamDataBidiRemote: 0x06n,
  initialMaxStreamDataUni: 0x07n,
  initialMaxStreamsBidi: 0x08n,
  initialMaxStreamsUni: 0x09n,
  maxDatagramFrameSize: 0x20n,
  maxRecordSize: 0x0571c59429cd0845n,
} as const satisfies Partial<Record<keyof TransportParameters, bigint>>;
const RESET_STREAM_AT_ID = 0x1dn;
/** QUIC-over-TLS's own ALPN parameter: over a WebSocket the subprotocol does that job. */
const APPLICATION_PROTOCOLS_ID = 0x3d4f9c2a8b1e6075n;
const NAME_OF = new Map<bigint, keyof typeof ParamId>(Object.entries(ParamId).map(([k, v]) => [v, k as keyof typeof ParamId]));

function paramError(message: string): QmuxError {
  return new QmuxError(TransportErrorCode.TransportParameter, message);
}

export function decodeTransportParameters(buf: Uint8Array): TransportParameters {
  const c = new Cursor(buf);
  const out: TransportParameters = { ...DEFAULT_PARAMETERS };
  const seen = new Set<bigint>();
  while (!c.done) {
    const id = c.big();
    const value = c.bytes(c.num('parameter length'));
    const name = NAME_OF.get(id);
    const known = name !== undefined || id === RESET_STREAM_AT_ID || id === APPLICATION_PROTOCOLS_ID;
    if (known) {
      if (seen.has(id)) throw paramError(`duplicate transport parameter 0x${id.toString(16)}`);
      seen.add(id);
    }
    // Connection ids, tokens and addresses mean nothing without QUIC's handshake (QMux forbids them).
    if (id === 0x00n || id === 0x02n || id === 0x03n || (id >= 0x0an && id <= 0x10n)) throw paramError(`forbidden transport parameter 0x${id.toString(16)}`);
    if (id === APPLICATION_PROTOCOLS_ID) throw paramError('application_protocols over a WebSocket');
    if (id === RESET_STREAM_AT_ID) {
      if (value.length !== 0) throw paramError('reset_stream_at must be empty');
      out.resetStreamAt = true;
      continue;
    }
    if (name === undefined) continue; // unknown and GREASE ids are skipped
    const v = new Cursor(value);
    out[name] = v.limit();
    if (!v.done) throw paramError(`transport parameter 0x${id.toString(16)} has trailing bytes`);
  }
  if (out.maxRecordSize < MAX_RECORD_SIZE) throw paramError(`max_record_size ${out.maxRecordSize} below ${MAX_RECORD_SIZE}`);
  return out;
}

export function encodeTransportParameters(p: TransportParameters): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, id] of Object.entries(ParamId) as [keyof typeof ParamId, bigint][]) {
    const value = p[name];
    if (value === DEFAULT_PARAMETERS[name]) continue;
    const enc = encodeVarint(value);
    parts.push(encodeVarint(id), encodeVarint(enc.length), enc);
  }
  if (p.resetStreamAt) parts.push(encodeVarint(RESET_STREAM_AT_ID), encodeVarint(0));
  const body = concatBytes(parts);
  return concatBytes([encodeVarint(FrameType.TransportParameters), encodeVarint(body.length), body]);
}

/** STREAM with explicit offset and length (type 0x0e, 0x0f with FIN). */
export function encodeStream(id: number, offset: number, data: Uint8Array, fin: boolean): Uint8Array {
  return concatBytes([encodeVarint(fin ? 0x0f : 0x0e), encodeVarint(id), encodeVarint(offset), encodeVarint(data.length), data]);
}

export function encodeResetStream(id: number, code: number, finalSize: number): Uint8Array {
  return concatBytes([encodeVarint(FrameType.ResetStream), encodeVarint(id), encodeVarint(code), encodeVarint(finalSize)]);
}

export function encodeStopSending(id: number, code: number): Uint8Array {
  return concatBytes([encodeVarint(FrameType.StopSending), encodeVarint(id), encodeVarint(code)]);
}

export function encodeMaxData(max: number): Uint8Array {
  return concatBytes([encodeVarint(FrameType.MaxData), encodeVarint(max)]);
}

export function encodeMaxStreamData(id: number, max: number): Uint8Array {
  return concatBytes([encodeVarint(FrameType.MaxStreamData), encodeVarint(id), encodeVarint(max)]);
}

export function encodeMaxStreams(bidi: boolean, max: number): Uint8Array {
  return concatBytes([encodeVarint(bidi ? FrameType.MaxStreamsBidi : FrameType.MaxStreamsUni), encodeVarint(max)]);
}

export function encodePingResponse(sequence: bigint): Uint8Array {
  return concatBytes([encodeVarint(FrameType.PingResponse), encodeVarint(sequence)]);
}

/** CONNECTION_CLOSE (transport error) or APPLICATION_CLOSE. */
export function encodeClose(application: boolean, code: number, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const head = application
    ? [encodeVarint(FrameType.ApplicationClose), encodeVarint(code)]
    : [encodeVarint(FrameType.ConnectionClose), encodeVarint(code), encodeVarint(0)];
  return concatBytes([...head, encodeVarint(text.length), text]);
}
