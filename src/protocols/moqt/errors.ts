/** Session termination codes of moq-transport (draft 16 §3.4 and later). */
export const MoqtSessionCode = {
  NoError: 0x0,
  InternalError: 0x1,
  Unauthorized: 0x2,
  ProtocolViolation: 0x3,
  InvalidRequestId: 0x4,
  TooManyRequests: 0x7,
  ControlMessageTimeout: 0x11,
} as const;

/** REQUEST_ERROR codes (draft 16 on). */
export const MoqtRequestError = {
  InternalError: 0x0,
  Unauthorized: 0x1,
  NotSupported: 0x3,
  DoesNotExist: 0x10,
} as const;

/** The peer broke the protocol: the session ends with `code` and this message as the reason. */
export class MoqtProtocolError extends Error {
  constructor(
    message: string,
    readonly code: number = MoqtSessionCode.ProtocolViolation,
  ) {
    super(message);
    this.name = 'MoqtProtocolError';
  }
}

/** The stream ended (FIN) where more bytes were due. */
export class MoqtStreamEndedError extends Error {
  constructor(what: string) {
    super(`${what}: stream ended early`);
    this.name = 'MoqtStreamEndedError';
  }
}
