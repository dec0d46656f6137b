/**
 * Every way a peer's bytes can be refused by the RTMP stack, as one error
 * type with a stable code: the connection layer closes the peer with the
 * message as its reason and logs it once, and nothing else ever escapes the
 * parsers (a peer must not be able to throw into the server).
 */
export type RtmpErrorCode =
  | 'handshake'
  | 'chunk-stream-limit'
  | 'message-too-large'
  | 'buffered-bytes-limit'
  | 'chunk-size'
  | 'malformed-chunk'
  | 'amf'
  | 'command';

export class RtmpProtocolError extends Error {
  override readonly name = 'RtmpProtocolError';
  constructor(
    readonly code: RtmpErrorCode,
    message: string,
  ) {
    super(message);
  }
}
