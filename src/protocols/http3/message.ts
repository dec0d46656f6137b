/**
 * Turning a decoded field section into a request and checking it the way
 * RFC 9114 §4.3 and RFC 9220 (extended CONNECT) ask. A malformed request is a
 * stream error (H3_MESSAGE_ERROR): the transport rejects that one request and
 * keeps the connection.
 */
import { Http3Error, H3ErrorCode } from './errors.js';
import type { HeaderField } from './qpack.js';

export interface RequestHead {
  readonly method: string;
  /** `:protocol` of an extended CONNECT, e.g. `webtransport`. */
  readonly protocol: string | undefined;
  readonly scheme: string | undefined;
  readonly authority: string | undefined;
  readonly path: string | undefined;
  /** Regular fields, names lowercase; repeated names joined with `, ` (cookie with `; `). */
  readonly headers: Readonly<Record<string, string>>;
}

const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':protocol']);
/** Connection-specific fields HTTP/3 forbids (RFC 9114 §4.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function malformed(why: string): Http3Error {
  return new Http3Error(H3ErrorCode.MESSAGE_ERROR, `malformed request: ${why}`);
}

/** Characters a field name may not contain in HTTP/3: uppercase, controls, separators (RFC 9110 §5.1, RFC 9114 §4.2). */
function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = name.startsWith(':') ? 1 : 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a) || '"(),/:;<=>?@[\\]{}'.includes(name[i]!)) return false;
  }
  return true;
}

function validValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

export function parseRequestHead(fields: readonly HeaderField[]): RequestHead {
  const pseudo = new Map<string, string>();
  const headers: Record<string, string> = {};
  let regularSeen = false;
  for (const { name, value } of fields) {
    if (!validName(name)) throw malformed(`invalid field name ${JSON.stringify(name)}`);
    if (!validValue(value)) throw malformed(`invalid value for ${name}`);
    if (name.startsWith(':')) {
      if (regularSeen) throw malformed(`pseudo-header ${name} after regular fields`);
      if (!REQUEST_PSEUDO.has(name)) throw malformed(`unknown pseudo-header ${name}`);
      if (pseudo.has(name)) throw malformed(`duplicate ${name}`);
      pseudo.set(name, value);
      continue;
    }
    regularSeen = true;
    if (CONNECTION_SPECIFIC.has(name)) throw malformed(`connection-specific field ${name}`);
    if (name === 'te' && value !== 'trailers') throw malformed('te other than trailers');
    const prev = headers[name];
    headers[name] = prev === undefined ? value : `${prev}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  const method = pseudo.get(':method');
  if (method === undefined || method === '') throw malformed('missing :method');
  const protocol = pseudo.get(':protocol');
  const scheme = pseudo.get(':scheme');
  const authority = pseudo.get(':authority');
  const path = pseudo.get(':path');
  if (method === 'CONNECT' && protocol === undefined) {
    // Plain CONNECT (§4.4): only :authority, no :scheme or :path.
    if (authority === undefined || scheme !== undefined || path !== undefined) throw malformed('CONNECT pseudo-headers');
  } else {
    if (protocol !== undefined && method !== 'CONNECT') throw malformed(':protocol on a non-CONNECT request');
    if (scheme === undefined || path === undefined || path === '') throw malformed('missing :scheme or :path');
    if (protocol !== undefined && authority === undefined) throw malformed('extended CONNECT without :authority');
  }
  return { method, protocol, scheme, authority, path, headers };
}
