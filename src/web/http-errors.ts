import { STATUS_CODES } from 'node:http';
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

const LOGGED_PATH_MAX = 200;

/**
 * A request's path as it goes into a log line: without the query (it may
 * carry credentials) and cut short, since its length is the client's choice.
 */
export function loggedPath(url: string | undefined): string {
  const path = (url ?? '').split('?', 1)[0]!;
  return path.length > LOGGED_PATH_MAX ? `${path.slice(0, LOGGED_PATH_MAX)}…` : path;
}

/** The status an error asks for, when it is an HTTP status; anything else is the server's fault. */
export function errorStatus(err: { statusCode?: unknown }): number {
  const status = err.statusCode;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
}

/** One error line for a 5xx, naming the method and path so it can be reproduced. */
export function logServerError(req: FastifyRequest, status: number, err: unknown): void {
  const path = loggedPath(req.url);
  req.log.error({ method: req.method, path, status, err }, `${req.method} ${path} answered ${status}: ${(err as Error | undefined)?.message ?? 'no error given'}`);
}

/**
 * Per-request log lines stay off (they would drown the connect and
 * disconnect lines, and a client could choose their volume), but fastify's
 * own 5xx paths are still logged: `disableRequestLogging` alone silences
 * its default error handler too, which is how a 500 went unnoticed.
 */
export class ServerErrorLog extends LogController {
  constructor() {
    super({ disableRequestLogging: true });
  }

  override defaultErrorLog(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if (reply.statusCode >= 500) logServerError(request, reply.statusCode, error);
  }

  /** The error handler's own answer could not be written; fastify falls back to a bare 500. */
  override writeHeadError(error: Error, request: FastifyRequest): void {
    logServerError(request, 500, error);
  }

  override serializerError(error: Error, request: FastifyRequest, _reply: FastifyReply, metadata: { statusCode: number }): void {
    logServerError(request, metadata.statusCode, error);
  }

  /** After the headers went out, a failed body is almost always the client leaving. */
  override streamError(error: Error, request: FastifyRequest): void {
    request.log.debug({ method: request.method, path: loggedPath(request.url), err: error }, 'response ended early');
  }
}

/**
 * The error handler of the web and metrics listeners: a client error keeps
 * its status and message; anything else is logged with its path and
 * answered 500 without internals.
 */
export function answerErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: Error & { statusCode?: unknown }, req, reply) => {
    const status = errorStatus(err);
    if (status >= 500) logServerError(req, status, err);
    const message = status >= 500 ? 'internal server error' : err.message;
    return reply.code(status).type('application/json').send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message });
  });
}

/**
 * Only origin-form (`/path`) and absolute-form (`http://host/path`, which
 * HTTP/1.1 servers must accept) name a resource here; `*` and anything else
 * is refused rather than routed as if it were a path.
 */
export function requireResourceTarget(app: FastifyInstance): void {
  app.addHook('onRequest', (req, reply, done) => {
    const url = req.raw.url ?? '';
    if (url.startsWith('/') || /^https?:\/\//i.test(url)) return done();
    reply.code(400).type('application/json').send({ statusCode: 400, error: 'Bad Request', message: 'the request target must be a path' });
  });
}
