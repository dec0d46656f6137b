import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';

/**
 * Starts a fastify listener, turning "port taken" into a message that names
 * the listener and the config key to change, as every Polycast listener does.
 */
export async function listenOrExplain(app: FastifyInstance, name: string, host: string, port: number, advice: string): Promise<AddressInfo> {
  try {
    await app.listen({ host: host || '::', port });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const where = `${host || '*'}:${port}`;
    throw new Error(e.code === 'EADDRINUSE' ? `${name} listener: address ${where} is already in use (${advice})` : `${name} listener on ${where}: ${e.message}`);
  }
  return app.server.address() as AddressInfo;
}
