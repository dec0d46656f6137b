/**
 * Listen addresses in Go's `host:port` form, as MediaMTX writes them:
 * `:1935` (all interfaces), `127.0.0.1:1935`, `localhost:1935`, `[::1]:1935`.
 */
import type { Address } from './schema.js';

const HOST_CHARS = /^[0-9A-Za-z._-]*$/;
const BRACKETED_HOST_CHARS = /^[0-9A-Za-z.:%_-]+$/;
const PORT = '(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)';

/**
 * The same language as `parseAddress`, for the JSON Schema (editors), where
 * only a pattern can be used; a test keeps the two in agreement.
 */
export const ADDRESS_PATTERN = `^(?:\\[[0-9A-Za-z.:%_-]+\\]|[0-9A-Za-z._-]*):${PORT}$`;

export const ADDRESS_EXAMPLES = 'expected [host]:port, e.g. :1935 or 127.0.0.1:1935';

export type AddressResult = { readonly address: Address } | { readonly error: string };

export function parseAddress(text: string): AddressResult {
  if (text === '') return { error: 'it is empty' };
  if (text.includes('://')) return { error: 'it is a URL; write only [host]:port' };
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { error: "'[' is never closed" };
    host = text.slice(1, close);
    if (text[close + 1] !== ':') return { error: "missing ':port' after ']'" };
    portText = text.slice(close + 2);
    if (!BRACKETED_HOST_CHARS.test(host)) return { error: `host '${host}' is not a valid host` };
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return { error: "missing ':port'" };
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return { error: 'an IPv6 host must be in brackets, e.g. [::1]:1935' };
    if (!HOST_CHARS.test(host)) return { error: `host '${host}' is not a valid host` };
  }
  if (!/^\d+$/.test(portText)) return { error: portText === '' ? 'the port is missing' : `port '${portText}' is not a number` };
  if (portText.length > 1 && portText.startsWith('0')) return { error: `port '${portText}' has a leading zero` };
  const port = Number(portText);
  if (port > 65535) return { error: `port ${port} is out of range (0–65535)` };
  return { address: { host, port } };
}
