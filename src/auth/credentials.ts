import type { IncomingHttpHeaders } from 'node:http';

/** What a client presented: a user and password, a token, or nothing. */
export interface Credentials {
  readonly user: string;
  readonly pass: string;
  readonly token: string;
}

export const NO_CREDENTIALS: Credentials = { user: '', pass: '', token: '' };

/**
 * Credentials of an HTTP request or WebSocket upgrade: the Authorization
 * header (Basic or Bearer) first, since it stays out of logs and browser
 * history; then `token` (or MediaMTX's legacy `jwt`), `user` and `pass` in
 * the query for clients that cannot set headers (browsers' WebSocket, RTMP).
 */
export function credentialsOf(headers: IncomingHttpHeaders | undefined, query: URLSearchParams): Credentials {
  const header = headers?.authorization;
  if (typeof header === 'string') {
    const space = header.indexOf(' ');
    const scheme = header.slice(0, space < 0 ? header.length : space).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'bearer' && value !== '') return { user: '', pass: '', token: value };
    if (scheme === 'basic' && value !== '') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) return { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1), token: '' };
    }
  }
  return {
    user: query.get('user') ?? '',
    pass: query.get('pass') ?? '',
    token: query.get('token') ?? query.get('jwt') ?? '',
  };
}

export function hasCredentials(c: Credentials): boolean {
  return c.user !== '' || c.pass !== '' || c.token !== '';
}

const SECRET_QUERY_KEYS = new Set(['pass', 'password', 'token', 'jwt']);

/** A query string for logs, hooks' MTX_QUERY and the API: secrets replaced. */
export function redactQuery(query: string): string {
  if (query === '') return '';
  const params = new URLSearchParams(query);
  let changed = false;
  for (const key of [...params.keys()]) {
    if (SECRET_QUERY_KEYS.has(key.toLowerCase())) {
      params.set(key, 'redacted');
      changed = true;
    }
  }
  return changed ? params.toString() : query;
}
