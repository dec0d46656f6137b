/** QUIC transport error codes (RFC 9000 §20.1) that QMux reuses in CONNECTION_CLOSE. */
export const TransportErrorCode = {
  NoError: 0x00,
  Internal: 0x01,
  ConnectionRefused: 0x02,
  FlowControl: 0x03,
  StreamLimit: 0x04,
  StreamState: 0x05,
  FinalSize: 0x06,
  FrameEncoding: 0x07,
  TransportParameter: 0x08,
  ProtocolViolation: 0x0a,
} as const;

/** The peer broke QMux: the session is closed with CONNECTION_CLOSE carrying `code`. */
export class QmuxError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'QmuxError';
  }
}

/** A stream was reset or stopped by the peer (`code`), or ended with its session. */
export class QmuxStreamError extends Error {
  constructor(
    readonly code: number | null,
    message: string,
  ) {
    super(message);
    this.name = 'QmuxStreamError';
  }
}
