/**
 * Who may read, from where: CORS per `hlsAllowOrigins`, and the credentials
 * a playlist hands on to the URIs it lists.
 */

import type { FastifyReply, FastifyRequest } from 'fastify';
import { credentialsOf, hasCredentials } from '../../src/auth/credentials.js';
import { originAllowed } from '../../src/web/origin.js';

/** Query keys `credentialsOf` reads. */
const CREDENTIAL_KEYS = ['user', 'pass', 'token', 'jwt'] as const;

export function setCorsHeaders(req: FastifyRequest, reply: FastifyReply, allowOrigins: readonly string[]): void {
  if (allowOrigins.includes('*')) {
    reply.header('Access-Control-Allow-Origin', '*');
    return;
  }
  // The answer depends on the Origin header: a shared cache must keep one copy per origin.
  reply.header('Vary', 'Origin');
  const origin = req.headers.origin;
  if (origin !== undefined && originAllowed(origin, allowOrigins)) reply.header('Access-Control-Allow-Origin', origin);
}

/** Whether the request presented credentials (header or query): such answers are never for a shared cache. */
export function presentsCredentials(req: FastifyRequest, query: URLSearchParams): boolean {
  return hasCredentials(credentialsOf(req.headers, query));
}

/**
 * `?user=…&pass=…` (or `token`, `jwt`) from a playlist request, to append to
 * every URI it lists: a player that can only put credentials in the URL
 * then presents them for media too. Empty when there are none.
 */
export function credentialQuery(query: URLSearchParams): string {
  const kept = new URLSearchParams();
  for (const key of CREDENTIAL_KEYS) {
    const value = query.get(key);
    if (value !== null) kept.set(key, value);
  }
  const text = kept.toString();
  return text === '' ? '' : `?${text}`;
}
