/**
 * How the player opens a WebTransport session: the URL and the options of
 * one attempt. Kept apart from open.ts (which brings the QMux client) so the
 * page's head script can open the very same session (early-webtransport.ts).
 */
/** What TypeScript's DOM library does not describe yet: subprotocol negotiation (Chromium 126+). */
interface WebTransportProtocolOptions extends WebTransportOptions {
  protocols?: string[];
}

export interface WebTransportWithProtocol extends WebTransport {
  readonly protocol?: string;
}

/** `https://host:port/<path>/<endpoint>` for a page on `origin`: WebTransport listens on UDP at the web server's port. */
export function webTransportUrl(origin: string, pathname: string): string {
  const url = new URL(origin);
  url.protocol = 'https:';
  url.pathname = pathname;
  return url.href;
}

/** One attempt's options: the certificate pinned by `hash` when there is one, `protocols` offered in that order. */
export function webTransportOptions(hash: Uint8Array<ArrayBuffer> | null, protocols: readonly string[] | undefined): WebTransportProtocolOptions {
  return {
    allowPooling: false,
    congestionControl: 'low-latency',
    ...(hash ? { serverCertificateHashes: [{ algorithm: 'sha-256', value: hash }] } : {}),
    ...(protocols ? { protocols: [...protocols] } : {}),
  };
}

/** Whether a page on `origin` first tries without a pin: an https: page may be behind a certificate a browser will not pin. */
export function triesUnpinnedFirst(origin: string): boolean {
  return new URL(origin).protocol === 'https:';
}
