import type { Duplex } from 'node:stream';

/** Answers an HTTP upgrade with a plain-text error status and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  // Upgraded sockets are half-open capable and out of Node's timeouts: without the destroy, a client that never
  // closes its side would keep this one forever. Reading on discards whatever it still sends meanwhile.
  socket.resume();
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`, () =>
    socket.destroy(),
  );
}
