/**
 * Everything a peer can get wrong on the wire. A connection that hits one of
 * these closes: RTWebSocket has no way to resynchronise a confused peer.
 */
export type ProtocolErrorKind =
  /** A field runs past the end of the message, or a required field is missing. */
  | 'truncated'
  /** A VLU is larger than 2^53−1, beyond what a JavaScript number holds exactly. */
  | 'vlu-overflow'
  /** Flow open for a receive flow ID that is still in use. */
  | 'duplicate-flow'
  /** User data, abandon, close, ack or exception naming a flow that does not exist. */
  | 'unknown-flow'
  /** An ack for more bytes than were ever sent on the flow. */
  | 'bad-ack'
  /** A close ack for a flow that never sent flow close. */
  | 'bad-close-ack'
  /** The peer sent far more than the receive window it was given. */
  | 'flow-control'
  /** The peer keeps opening flows after being refused. */
  | 'too-many-flows'
  /** Abandon counts pushed message numbers past 2^53−1. */
  | 'message-number-overflow';

export class ProtocolError extends Error {
  readonly kind: ProtocolErrorKind;

  constructor(kind: ProtocolErrorKind, message: string) {
    super(message);
    this.name = 'RTWebSocketProtocolError';
    this.kind = kind;
  }
}
