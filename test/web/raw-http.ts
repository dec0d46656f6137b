import net from 'node:net';

/**
 * HTTP/1.1 spoken byte by byte over a plain TCP socket: fetch and http.request
 * normalise or refuse the very targets and header mixes these tests send.
 */

export interface RawResponse {
  status: number;
  /** Header names lower-cased; repeated headers keep every value. */
  headers: Map<string, string[]>;
  body: string;
}

export interface RawExchange {
  /** The first response the server sent, undefined if it sent none. */
  response: RawResponse | undefined;
  /** Everything the server sent, as latin1. */
  raw: string;
  /** True when the server closed the connection (rather than the client giving up at `timeoutMs`). */
  closedByServer: boolean;
}

/** Parses the first response of `raw`; undefined if its head is incomplete. */
export function parseResponse(raw: string): RawResponse | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (match === null) return undefined;
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { status: Number(match[1]), headers, body: raw.slice(end + 4) };
}

/** Sends `request` as is and reads until the server closes, or `timeoutMs`. */
export function exchange(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closedByServer = true;
    const timer = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    // A reset after the answer is still a close by the server.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ response: parseResponse(raw), raw, closedByServer });
    });
    socket.write(request);
  });
}

/** A request line, Host, the given header lines and `Connection: close`, with an empty body. */
export function request(method: string, target: string, headers: string[] = [], host = '127.0.0.1'): string {
  const hostLine = host === '' ? [] : [`Host: ${host}`];
  return [`${method} ${target} HTTP/1.1`, ...hostLine, ...headers, 'Connection: close', '', ''].join('\r\n');
}

/** The headers of a valid WebSocket handshake. */
export const WS_HEADERS = ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];

/** A WebSocket handshake for `target` (no `Connection: close`: the server decides). */
export function upgradeRequest(target: string, extra: string[] = [], headers = WS_HEADERS): string {
  return [`GET ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...headers, ...extra, '', ''].join('\r\n');
}

export interface Held {
  socket: net.Socket;
  /** Resolves when the server closes the connection: how long after `open` it took, and what it sent. */
  closed: Promise<{ ms: number; raw: string }>;
}

/** Opens a connection the test then drives by hand; `allowHalfOpen` keeps our side open after the server's FIN. */
export function hold(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<Held> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false });
    const opened = performance.now();
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    const closed = new Promise<{ ms: number; raw: string }>((done) =>
      socket.on('close', () => done({ ms: performance.now() - opened, raw: Buffer.concat(chunks).toString('latin1') })),
    );
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

/**
 * Writes `text` one byte every `everyMs` until the socket closes or the text
 * runs out (then it waits): the slowloris pattern.
 */
export function dribble(socket: net.Socket, text: string, everyMs: number): () => void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return;
    socket.write(text[i++]!);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
  return () => clearInterval(timer);
}

/** Resolves with `value` after `ms`, for racing a close against a deadline. */
export const after = <T>(ms: number, value: T): Promise<T> => new Promise((r) => setTimeout(() => r(value), ms).unref());
