/**
 * A head start for wt-raw over WebTransport. When negotiation is bound to
 * try it first, the page's inline script (early.ts) starts the session's
 * QUIC and HTTP/3 handshake while the player's code, and the moq client it
 * brings, are fetched and compiled. The wt-raw session adopts it only when
 * it would open the very same session as its first attempt: same URL,
 * subprotocols and certificate pin (session-options.ts). The page opens at
 * most one; what no player adopted is closed after a while.
 */
import type { WebTransportWithProtocol } from './transports/webtransport/session-options.js';
import { webTransportOptions } from './transports/webtransport/session-options.js';

export const EARLY_WEBTRANSPORT_GLOBAL = '__polycastEarlyWebTransport';
/** The bundle did not load, or negotiation chose otherwise. */
const UNADOPTED_CLOSE_MS = 10_000;

export interface EarlyWebTransport {
  readonly transport: WebTransportWithProtocol;
  /** `performance.now()` when the page opened it. */
  readonly openedAt: number;
  readonly key: string;
}

type EarlyHost = Record<string, unknown>;

function host(): EarlyHost {
  return globalThis as unknown as EarlyHost;
}

function sessionKey(url: string, protocols: readonly string[], pin: Uint8Array | null): string {
  return `${url} ${protocols.join(',')} ${pin ? Array.from(pin, (b) => b.toString(16).padStart(2, '0')).join('') : '-'}`;
}

/** Inline script side: starts the session a player's first attempt would start. */
export function openEarlyWebTransport(url: string, protocols: readonly string[], pin: Uint8Array<ArrayBuffer> | null): void {
  const transport: WebTransportWithProtocol = new WebTransport(url, webTransportOptions(pin, protocols));
  // Nobody may be listening yet when these reject; the adopter reads `ready` again.
  transport.ready.catch(() => undefined);
  transport.closed.catch(() => undefined);
  const early: EarlyWebTransport = { transport, openedAt: performance.now(), key: sessionKey(url, protocols, pin) };
  host()[EARLY_WEBTRANSPORT_GLOBAL] = early;
  setTimeout(() => {
    if (host()[EARLY_WEBTRANSPORT_GLOBAL] === early) drop(early);
  }, UNADOPTED_CLOSE_MS);
}

/** Forgets the page's session and closes it. */
function drop(early: EarlyWebTransport): void {
  delete host()[EARLY_WEBTRANSPORT_GLOBAL];
  try {
    early.transport.close();
  } catch {
    // It failed by itself already.
  }
}

/**
 * Player side: the page's session when it is the one asked for, else null. Asked once: a session that does not
 * match is closed, as one nobody asked for in time.
 */
export function adoptEarlyWebTransport(url: string, protocols: readonly string[], pin: Uint8Array | null): EarlyWebTransport | null {
  const early = host()[EARLY_WEBTRANSPORT_GLOBAL] as EarlyWebTransport | undefined;
  if (early === undefined) return null;
  if (early.key !== sessionKey(url, protocols, pin)) {
    drop(early);
    return null;
  }
  delete host()[EARLY_WEBTRANSPORT_GLOBAL];
  return early;
}
