import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';

/**
 * How often Node looks for connections past `headersTimeout` and
 * `requestTimeout`. Its default (30 s) would let a slowloris connection
 * outlive `readTimeout` by up to that much; the check walks only connections
 * with an unfinished request, so a short period is cheap. It can only be
 * given when the server is created, so it cannot follow a reload: the bound
 * is `readTimeout` + this.
 */
export const CONNECTIONS_CHECK_MS = 250;

/**
 * Connections from one IP that have not finished their first request. Real
 * clients send their request right after connecting (a browser opens at most
 * a handful at once, a load test a few hundred); beyond this a single
 * address is holding sockets open on purpose, and each one costs a file
 * descriptor and up to `maxHeaderSize` of buffered headers.
 */
export const MAX_PENDING_PER_IP = 256;

/**
 * Options for `http.createServer` (fastify's `http` option). `maxHeaderSize`
 * stays at Node's 16 KiB: it bounds the request line plus headers of a
 * request in progress, and larger requests get 431.
 */
export function httpServerOptions(): ServerOptions {
  return { connectionsCheckingInterval: CONNECTIONS_CHECK_MS };
}

/**
 * `readTimeout` on an HTTP listener, before any request is complete and
 * between requests: a connection that does not deliver its request line
 * and headers (`headersTimeout`), or its whole request with any body
 * (`requestTimeout`; an upgrade request with a body is upgraded only after
 * it), within the timeout is answered 408 and closed, and an idle keep-alive
 * connection is closed after it. Node reads these at every check, so calling
 * this again (a reload) applies to connections already open. A WebSocket
 * leaves this tracking at the upgrade; its endpoint has its own timeout.
 */
export function applyReadTimeout(server: Server, readTimeoutMs: number): void {
  const ms = Math.max(1, Math.round(readTimeoutMs));
  server.headersTimeout = ms;
  server.requestTimeout = ms;
  server.keepAliveTimeout = ms;
}

/**
 * Caps connections per IP that have not finished their first request
 * (`MAX_PENDING_PER_IP`): one more is answered 503 and closed. Logged once
 * when an address reaches the cap, and again only after it fell back to
 * half, so the log volume is not the sender's to choose. Returns what the
 * server's 'upgrade' handler calls: an upgrade request is complete too.
 */
export function limitPendingPerIp(server: Server, log: Logger, listener: string, max = MAX_PENDING_PER_IP): (upgraded: Duplex) => void {
  const pending = new Map<string, number>();
  const atCap = new Set<string>();
  /** Sockets still counted, with the address they were counted under. */
  const counted = new WeakMap<Socket, string>();
  const settle = (socket: Socket) => {
    const ip = counted.get(socket);
    if (ip === undefined) return;
    counted.delete(socket);
    const left = (pending.get(ip) ?? 1) - 1;
    if (left <= 0) pending.delete(ip);
    else pending.set(ip, left);
    // Hysteresis: an address hovering at the cap does not get a log line per connection.
    if (left <= max / 2) atCap.delete(ip);
  };
  server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress;
    if (ip === undefined) return;
    const count = (pending.get(ip) ?? 0) + 1;
    if (count > max) {
      if (!atCap.has(ip)) {
        atCap.add(ip);
        log.warn({ listener, ip, max }, `${listener}: ${ip} has ${max} connections without a complete request; refusing more until some finish`);
      }
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n', () => socket.destroy());
      return;
    }
    pending.set(ip, count);
    counted.set(socket, ip);
    socket.once('close', () => settle(socket));
  });
  server.on('request', (req: { socket: Socket }) => settle(req.socket));
  // Not an 'upgrade' listener of its own: Node hands upgrades only to servers that have one, and one that ignored them would hang them.
  return (socket) => settle(socket as Socket);
}
