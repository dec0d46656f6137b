/**
 * Error codes of HTTP/3 (RFC 9114 §8.1), QPACK (RFC 9204 §6) and the
 * WebTransport-over-HTTP/3 drafts, plus the error types the parsers throw.
 *
 * Every parser in this folder throws an `Http3Error` (or a subclass) for bad
 * input, so the transport can turn any failure into a CONNECTION_CLOSE or a
 * stream reset carrying the right code instead of crashing.
 */

export const H3ErrorCode = {
  NO_ERROR: 0x100,
  GENERAL_PROTOCOL_ERROR: 0x101,
  INTERNAL_ERROR: 0x102,
  STREAM_CREATION_ERROR: 0x103,
  CLOSED_CRITICAL_STREAM: 0x104,
  FRAME_UNEXPECTED: 0x105,
  FRAME_ERROR: 0x106,
  EXCESSIVE_LOAD: 0x107,
  ID_ERROR: 0x108,
  SETTINGS_ERROR: 0x109,
  MISSING_SETTINGS: 0x10a,
  REQUEST_REJECTED: 0x10b,
  REQUEST_CANCELLED: 0x10c,
  REQUEST_INCOMPLETE: 0x10d,
  MESSAGE_ERROR: 0x10e,
  CONNECT_ERROR: 0x10f,
  VERSION_FALLBACK: 0x110,
  QPACK_DECOMPRESSION_FAILED: 0x200,
  QPACK_ENCODER_STREAM_ERROR: 0x201,
  QPACK_DECODER_STREAM_ERROR: 0x202,
  /** WebTransport: a stream named a session that does not exist (any more). */
  WT_BUFFERED_STREAM_REJECTED: 0x3994bd84,
  WT_SESSION_GONE: 0x170d7b68,
} as const;

export type H3ErrorCodeName = keyof typeof H3ErrorCode;

/** A protocol violation; `code` is the HTTP/3 error code to send to the peer. */
export class Http3Error extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'Http3Error';
  }
}

/** Input ended in the middle of a structure that must be complete (a frame payload, a field section). */
export class TruncatedError extends Http3Error {
  constructor(what: string, code: number = H3ErrorCode.FRAME_ERROR) {
    super(code, `truncated ${what}`);
    this.name = 'TruncatedError';
  }
}

/** A QPACK field section (or a Huffman string in it) could not be decoded. */
export class QpackError extends Http3Error {
  constructor(message: string, code: number = H3ErrorCode.QPACK_DECOMPRESSION_FAILED) {
    super(code, message);
    this.name = 'QpackError';
  }
}

/** A value does not fit the encoding it was given to (a varint over 2^62-1, a negative length). */
export class EncodeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}
