/**
 * WebCodecs and WebTransport exist only in secure contexts: a page on plain
 * `http://` from another machine (a phone, a laptop on the LAN) can only get
 * the slower MSE and HLS paths. Rather than degrade silently, the player says
 * so and links to the same page on `https://` (docs/https.md).
 */

export interface SecureHint {
  readonly text: string;
  /** What a phone-wide bar has room for. */
  readonly shortText: string;
  readonly title: string;
  /** The page's own URL with the scheme changed to https:. */
  readonly href: string;
}

/** Names browsers treat as secure even over plain HTTP (they never see the hint). */
function isLoopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '[::1]' || name === '::1';
}

/**
 * The hint for a page at `href`, or null when none is needed: the page is a
 * secure context already, is not on http: (file:, an extension), or is on
 * a loopback name.
 */
export function secureHint(href: string, isSecureContext: boolean): SecureHint | null {
  if (isSecureContext) return null;
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' || isLoopbackName(url.hostname)) return null;
  url.protocol = 'https:';
  return {
    text: 'Low latency needs HTTPS',
    shortText: 'Use HTTPS',
    title: 'This page is on plain HTTP, where browsers offer neither WebCodecs nor WebTransport: playback uses the slower paths. Open it over HTTPS.',
    href: url.href,
  };
}
