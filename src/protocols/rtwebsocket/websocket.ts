/**
 * Binds a connection to anything shaped like a WebSocket: the browser's, or
 * the `ws` package's in Node. Only the standard WebSocket surface is used,
 * so this file bundles for the browser unchanged.
 */
import { type ConnectionOptions, RTWebSocketConnection } from './connection.js';

const OPEN = 1;

/** The part of the WebSocket API the binding uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message' | 'close', listener: (event: object) => void): void;
}

/**
 * Runs RTWebSocket over an open socket. Text frames are not part of the
 * protocol and are ignored. The socket closing closes the connection.
 */
export function attachWebSocket(socket: WebSocketLike, options?: ConnectionOptions): RTWebSocketConnection {
  if (socket.readyState !== OPEN) throw new Error('RTWebSocket needs an open WebSocket');
  socket.binaryType = 'arraybuffer';
  const connection = new RTWebSocketConnection(
    {
      send: (bytes) => {
        if (socket.readyState === OPEN) socket.send(bytes);
      },
      bufferedAmount: () => socket.bufferedAmount,
      close: (code, reason) => socket.close(code, reason),
    },
    options,
  );
  socket.addEventListener('message', (event) => {
    const data = (event as { readonly data?: unknown }).data;
    if (data instanceof ArrayBuffer) connection.onMessage(new Uint8Array(data));
    else if (ArrayBuffer.isView(data)) connection.onMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  });
  socket.addEventListener('close', () => connection.transportClosed());
  return connection;
}
