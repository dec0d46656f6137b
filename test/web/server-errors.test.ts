import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiServer, type ApiSource } from '../../src/api/server.js';
import { createLogger } from '../../src/log.js';
import { MetricsServer } from '../../src/metrics/metrics.js';
import { ReaderTotals } from '../../src/metrics/totals.js';
import { Connections } from '../../src/limits.js';
import { packageRoot } from '../../src/package-root.js';
import { PathManager } from '../../src/stream/path-manager.js';
import { ServerErrorLog } from '../../src/web/http-errors.js';
import { WebServer } from '../../src/web/server.js';

/**
 * A 5xx is a bug in Polycast: whatever produced it (a route that throws or
 * rejects, fastify's own default handler), it is logged at error with the
 * method and path, and the client gets no internals.
 */

type Line = Record<string, unknown>;

function capture(): { log: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Line);
      cb();
    },
  });
  return { log: createLogger('info', { pretty: false, destination: sink }), lines };
}

const errorsFor = (lines: Line[], path: string) => lines.filter((l) => (l.level as number) >= 50 && l.path === path);
const paths = () => new PathManager(() => ({ ok: false, reason: 'none' }));
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('5xx answers are logged', () => {
  it('web: a route that throws or rejects answers 500, logged at error with its path', async () => {
    const { log, lines } = capture();
    const web = new WebServer({ host: '127.0.0.1', port: 0, allowOrigins: ['*'], publicDir: join(packageRoot(), 'public'), paths: paths(), log, readTimeoutMs: 10_000 });
    web.addHttpRoute({
      suffix: 'throws',
      handle: () => {
        throw new Error('secret internals');
      },
    });
    web.addHttpRoute({ suffix: 'rejects', handle: () => Promise.reject(new Error('secret internals too')) });
    const { port } = await web.start();
    cleanups.push(() => web.stop());
    for (const path of ['/live/cam/throws', '/live/cam/rejects']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}?token=hunter2`);
      expect(res.status).toBe(500);
      expect(await res.text()).not.toContain('secret');
      const logged = errorsFor(lines, path);
      expect(logged, `${path} logged`).toHaveLength(1);
      expect(logged[0]!.method).toBe('GET');
      expect(JSON.stringify(logged[0])).toContain('secret internals');
      // The query may carry credentials; it stays out of the log.
      expect(JSON.stringify(lines)).not.toContain('hunter2');
    }
  });

  it("fastify's default error handler logs its 5xx even with per-request logging off", async () => {
    const { log, lines } = capture();
    const app = Fastify({ loggerInstance: log as unknown as FastifyBaseLogger, logController: new ServerErrorLog() });
    app.get('/fails', () => {
      throw new Error('no handler of ours saw this');
    });
    app.get('/fine', () => 'ok');
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    expect((await fetch(`${base}/fails`)).status).toBe(500);
    expect((await fetch(`${base}/fine`)).status).toBe(200);
    expect((await fetch(`${base}/missing`)).status).toBe(404);
    expect(errorsFor(lines, '/fails')).toHaveLength(1);
    // Per-request lines stay off: nothing about the requests that went well or got a 4xx.
    expect(lines.filter((l) => l.path !== '/fails' && !String(l.msg).startsWith('Server listening'))).toEqual([]);
  });

  it('API: a failing handler answers 500, logged at error with its path', async () => {
    const { log, lines } = capture();
    const source = {
      version: 'test',
      started: new Date(),
      paths: paths(),
      transports: [],
      refreshJwks: () => {
        throw new Error('JWKS store exploded');
      },
    } as unknown as ApiSource;
    const api = new ApiServer(source, async () => ({ ok: true, user: '' }), log);
    const { port } = await api.start('127.0.0.1', 0);
    cleanups.push(() => api.stop());
    const res = await fetch(`http://127.0.0.1:${port}/v3/auth/jwks/refresh`, { method: 'POST' });
    expect(res.status).toBe(500);
    const logged = errorsFor(lines, '/v3/auth/jwks/refresh');
    expect(logged).toHaveLength(1);
    expect(logged[0]!.method).toBe('POST');
  });

  it('metrics: a failing collector answers 500, logged at error with its path', async () => {
    const { log, lines } = capture();
    const p = paths();
    const metrics = new MetricsServer(
      {
        paths: p,
        transports: [],
        totals: new ReaderTotals(p),
        rtmpConns: () => {
          throw new Error('RTMP table unreadable');
        },
        connections: new Connections({ max: () => 0 }),
        authFailures: () => ({}),
        blockedIps: () => 0,
      },
      async () => ({ ok: true, user: '' }),
      log,
    );
    const { port } = await metrics.start('127.0.0.1', 0);
    cleanups.push(() => metrics.stop());
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('RTMP table');
    expect(errorsFor(lines, '/metrics')).toHaveLength(1);
  });
});
