import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthResult } from '../auth/manager.js';

/** Decides an API or metrics request: action, credentials from headers and query, client IP. */
export type HttpAuthorizer = (args: {
  action: 'api' | 'metrics';
  query: string;
  headers: FastifyRequest['headers'];
  ip: string;
  remoteAddress: string;
}) => Promise<AuthResult>;

/**
 * A fastify onRequest hook guarding a whole listener (the API, metrics):
 * 401 with a Basic challenge when the client sent no credentials, so browsers
 * and curl know to send some; 403 when they were refused. Errors are JSON,
 * as MediaMTX's.
 */
export function httpAuthorize(authorize: HttpAuthorizer, action: 'api' | 'metrics') {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const q = req.url.indexOf('?');
    const result = await authorize({
      action,
      query: q < 0 ? '' : req.url.slice(q + 1),
      headers: req.headers,
      ip: req.socket.remoteAddress ?? '',
      remoteAddress: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
    });
    if (result.ok) return;
    req.log.warn({ remoteAddress: req.socket.remoteAddress, url: req.url.replace(/\?.*/, ''), reason: result.reason }, `${action} request refused`);
    if (result.askCredentials) {
      await reply.code(401).header('WWW-Authenticate', 'Basic realm="polycast"').send({ error: result.reason });
    } else {
      await reply.code(403).send({ error: result.reason });
    }
  };
}
