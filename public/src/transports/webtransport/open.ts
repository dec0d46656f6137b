/**
 * Opening a WebTransport session to the stream's server, with its
 * certificate pinned when it is a generated one.
 *
 * Polycast serves the hex SHA-256 of its WebTransport certificate at
 * `/certificate.sha256` (docs/protocols/webtransport.md). A page on `http://`
 * can only reach such a server through `serverCertificateHashes`, so there the
 * hash is fetched right before every connection (the certificate rotates),
 * except the player page's first, which takes the hash the page was served
 * with (src/web/player-page.ts) and fetches only if that one fails. A
 * page on `https://` may be behind a certificate from a public CA, which
 * browsers refuse to pin by hash (pins are for certificates valid at most
 * 14 days), so it first connects the ordinary way and pins only if that fails.
 */
import Qmux from '@moq/qmux';
import { adoptEarlyWebTransport } from '../../early-webtransport.js';
import { readPageHint, sha256Bytes } from '../../page-hint.js';
import { encodeStreamPath, type StreamLocation } from '../../stream-path.js';
import { triesUnpinnedFirst, webTransportOptions, webTransportUrl, type WebTransportWithProtocol } from './session-options.js';

export { webTransportUrl, type WebTransportWithProtocol };

/**
 * Media stopped this long after playing, with the stream still live and the
 * session open: the session is stuck (WebKit's WebTransport stops granting
 * flow-control credit), so the player moves to another transport. Even
 * keyframes-only mode brings a frame a second, and sound every 21 ms.
 */
export const WEBTRANSPORT_STALL_MS = 2500;

/** The handshake failed; `reachable` says whether the server claimed to have WebTransport at all. */
export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';

  constructor(
    message: string,
    readonly reachable: boolean,
  ) {
    super(message);
  }
}

export interface OpenOptions {
  /** Offered subprotocols (`wt-available-protocols`), preferred first. */
  readonly protocols?: readonly string[];
  /** Tells the caller what happens, for the player's log. */
  readonly log: (message: string) => void;
}

/** `/<path>/<endpoint>`, with the path's segments encoded. */
export function streamEndpoint(stream: StreamLocation, endpoint: string): string {
  return `/${encodeStreamPath(stream.path)}/${endpoint}`;
}

/**
 * The bytes of the server's certificate hash, or null when it has none to
 * offer: no WebTransport (a server without it answers this path with
 * something else, such as its index page), or the request failed.
 */
export async function fetchCertificateHash(origin: string): Promise<Uint8Array<ArrayBuffer> | null> {
  try {
    const response = await fetch(new URL('/certificate.sha256', origin), { cache: 'no-store' });
    if (!response.ok) return null;
    return sha256Bytes((await response.text()).trim());
  } catch {
    return null;
  }
}

let pageHashUsed = false;

/**
 * The hash the player page was served with, for the page's first connection to its own server: a round trip
 * sooner than fetching it. Only once, since the certificate rotates while a page stays open.
 */
function pageCertificateHash(origin: string): Uint8Array<ArrayBuffer> | null {
  if (pageHashUsed || typeof location === 'undefined' || origin !== location.origin) return null;
  pageHashUsed = true;
  const hex = readPageHint().certificateSha256;
  return hex === undefined ? null : sha256Bytes(hex);
}

async function attempt(url: string, hash: Uint8Array<ArrayBuffer> | null, protocols: readonly string[] | undefined): Promise<WebTransportWithProtocol> {
  const transport: WebTransportWithProtocol = new WebTransport(url, webTransportOptions(hash, protocols));
  // `closed` rejects too when `ready` does; nobody else may be listening yet.
  transport.closed.catch(() => undefined);
  await transport.ready;
  return transport;
}

/**
 * The first attempt's session, when the page's head script already opened that very one (early-webtransport.ts):
 * its handshake ran while the player's code loaded.
 */
async function adoptOrAttempt(url: string, hash: Uint8Array<ArrayBuffer> | null, options: OpenOptions): Promise<WebTransportWithProtocol> {
  const early = adoptEarlyWebTransport(url, options.protocols ?? [], hash);
  if (early === null) return attempt(url, hash, options.protocols);
  options.log(`WebTransport: adopting the session the page opened ${Math.round(performance.now() - early.openedAt)} ms ago`);
  await early.transport.ready;
  return early.transport;
}

/** Resolves once the session is ready; rejects with a `HandshakeError`. */
export async function openWebTransport(stream: StreamLocation, pathname: string, options: OpenOptions): Promise<WebTransportWithProtocol> {
  const fromPage = pageCertificateHash(stream.origin);
  if (!fromPage) return openWith(stream, pathname, options, await fetchCertificateHash(stream.origin));
  try {
    return await openWith(stream, pathname, options, fromPage);
  } catch (err) {
    // Another try only when the certificate changed since the page was served: where the handshake fails for any
    // other reason (UDP blocked), a second one would only double the wait before negotiation moves on.
    const current = await fetchCertificateHash(stream.origin);
    if (current === null || current.every((b, i) => b === fromPage[i])) throw err;
    options.log('WebTransport: the certificate changed since the page was served; pinning the current one');
    return openWith(stream, pathname, options, current, true);
  }
}

async function openWith(
  stream: StreamLocation,
  pathname: string,
  options: OpenOptions,
  hash: Uint8Array<ArrayBuffer> | null,
  /** Only the pinned connection, not first the ordinary one an https: page would try. */
  pinnedOnly = false,
): Promise<WebTransportWithProtocol> {
  const url = webTransportUrl(stream.origin, pathname);
  const tries: readonly (Uint8Array<ArrayBuffer> | null)[] = pinnedOnly || !triesUnpinnedFirst(stream.origin) ? [hash] : hash ? [null, hash] : [null];
  let last: unknown = null;
  for (const [i, pin] of tries.entries()) {
    options.log(`WebTransport connecting to ${url}${pin ? ' (certificate pinned by hash)' : ''}`);
    try {
      return await (i === 0 ? adoptOrAttempt(url, pin, options) : attempt(url, pin, options.protocols));
    } catch (err) {
      last = err;
    }
  }
  throw new HandshakeError(`WebTransport handshake failed: ${describeHandshakeError(last)}`, hash !== null);
}

/** `ws(s)://host:port/<endpoint>`: the same URL as WebTransport's, upgraded over TCP. */
export function webSocketUrl(stream: StreamLocation, pathname: string): string {
  const url = new URL(stream.origin);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = pathname;
  return url.href;
}

/**
 * The same session over a WebSocket carrying QMux, through @moq/qmux (what
 * @moq/net itself falls back to): each offered application protocol with
 * every QMux draft, as `qmux-VV.<protocol>`. The result behaves as a
 * WebTransport, `protocol` included.
 */
export async function openQmux(stream: StreamLocation, pathname: string, options: OpenOptions): Promise<WebTransportWithProtocol> {
  const url = webSocketUrl(stream, pathname);
  options.log(`WebSocket (QMux) connecting to ${url}`);
  const protocols = [...(options.protocols ?? [])];
  const session = new Qmux(url, { protocols, versions: Object.fromEntries(protocols.map((p) => [p, null])), requireProtocol: protocols.length > 0 });
  session.closed.catch(() => undefined);
  try {
    await session.ready;
  } catch (err) {
    // A WebSocket says nothing of why (refused upgrade, no server): the next attempt or transport will tell.
    throw new HandshakeError(`WebSocket (QMux) handshake failed: ${describeHandshakeError(err)}`, true);
  }
  return session as unknown as WebTransportWithProtocol;
}

/** WebKit's WebTransport rejects `ready` with `undefined`: no error object to read a reason from. */
export function describeHandshakeError(err: unknown): string {
  if (err === undefined || err === null) return `the browser gave no error at all (\`ready\` rejected with ${String(err)}, as WebKit's WebTransport does)`;
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** A session close as the player's events describe it: WebTransport codes are not WebSocket codes. */
export function describeClose(info: WebTransportCloseInfo): { code: number; reason: string } {
  const code = info.closeCode ?? 0;
  const reason = info.reason ?? '';
  // VideoConnection knows 4404 as "no such path".
  if (code === 404) return { code: 4404, reason: reason || 'no such path' };
  if (code === 0) return { code: 1000, reason: reason || 'closed by the server' };
  return { code: 4000 + (code % 1000), reason: reason || `closed with code ${code}` };
}
