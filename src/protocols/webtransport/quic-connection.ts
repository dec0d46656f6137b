/**
 * The QUIC connection the HTTP/3 layer drives, whichever stack is under it:
 * quiche's binding (`@matrixai/quic`), or ngtcp2 through
 * `native/quic-ngtcp2`. The methods are quiche's, so the HTTP/3 code is the
 * same for both; `writePackets` is what only the ngtcp2 connection has: it
 * writes a whole batch of packets in one call.
 */
import type { Connection, ConnectionError, Host, RecvInfo, SendInfo } from '@matrixai/quic/native/types.js';
import type { PacketSource } from '../udp/batch-output.js';

export interface QuicConnection {
  recv(packet: Uint8Array, info: RecvInfo): unknown;
  /** One packet into `buf` (quiche); absent where `writePackets` replaces it. */
  send?(buf: Uint8Array): [number, SendInfo] | null;
  /** A batch of packets in one call (ngtcp2). */
  writePackets?: PacketSource['writePackets'];
  timeout(): number | null;
  onTimeout(): void;
  isEstablished(): boolean;
  isClosed(): boolean;
  isReadable(): boolean;
  readable(): Iterable<number>;
  streamSend(id: number, data: Uint8Array, fin: boolean): number | null;
  streamRecv(id: number, buf: Uint8Array): [number, boolean] | null;
  streamShutdown(id: number, direction: number, code: number): void | null;
  streamPriority(id: number, urgency: number, incremental: boolean): void;
  peerStreamsLeftUni(): number;
  peerStreamsLeftBidi(): number;
  dgramMaxWritableLen(): number | null;
  isDgramSendQueueFull(): boolean;
  dgramSend(data: Uint8Array): void;
  dgramRecvVec(): Uint8Array | null;
  close(app: boolean, code: number, reason: Uint8Array): void;
  sendAckEliciting(): void;
  peerError(): Pick<ConnectionError, 'isApp' | 'errorCode'> | null;
  /** Connection ids the peer may now use, when they changed since the last call (ngtcp2 issues more after the handshake). */
  takeConnectionIds?(): string[] | null;
  /**
   * Stream data written before the handshake completes leaves as 0.5-RTT data (RFC 9001), once the client's
   * transport parameters are known (ngtcp2). quiche's binding is not asked to.
   */
  readonly sendsHalfRtt?: boolean;
  /** Frees native memory at once (ngtcp2); the garbage collector would, later. */
  destroy?(): void;
}

/** quiche's connection already is one. */
export const fromQuiche = (c: Connection): QuicConnection => c;

export type { Host };
