import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Path } from '../../src/stream/path.js';
import { credentialsOf, hasCredentials } from '../../src/auth/credentials.js';
import type { HttpRoute, Transport, TransportContext, UpgradeRoute } from '../../src/transport.js';
import { SnapshotDecoder } from './decoder.js';
import { JpegCache, parseJpegRequest } from './encoder.js';

export interface JpegOptions {
  ffmpeg: string | undefined;
  /** A decoder nobody asked for in this long is stopped (ms). */
  idleMs?: number;
  /** How long a request waits for a starting decoder's first picture before a 503 (ms). */
  startWaitMs?: number;
}

interface Entry {
  decoder: SnapshotDecoder;
  cache: JpegCache;
  path: Path;
}

/**
 * `GET /<path>/snapshot.jpg?quality=70&width=1280`: the current picture as a
 * JPEG, the last-resort transport that passes any proxy. One decoder per
 * path, shared by every poller, started on demand and stopped when idle.
 */
export class JpegTransport implements Transport {
  readonly name = 'jpeg';
  readonly upgrades: readonly UpgradeRoute[] = [];
  readonly httpRoutes: readonly HttpRoute[];
  private readonly entries = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private readonly log;
  /** Public so operators (and tests) can tune it at run time. */
  idleMs: number;
  private readonly startWaitMs: number;

  constructor(
    private readonly ctx: TransportContext,
    private readonly opts: JpegOptions,
  ) {
    this.log = ctx.log.child({ transport: this.name });
    this.idleMs = opts.idleMs ?? 10_000;
    this.startWaitMs = opts.startWaitMs ?? 1500;
    this.httpRoutes = [{ suffix: 'snapshot.jpg', handle: (req, reply, path) => this.serve(req, reply, path) }];
    this.timer = setInterval(() => this.reapIdle(), 1000);
    this.timer.unref();
  }

  /** Running decoders (for tests, the API and metrics). */
  get decoderCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.decoder.running) n++;
    return n;
  }

  close(): void {
    clearInterval(this.timer);
    for (const name of [...this.entries.keys()]) this.stopDecoder(name);
  }

  private async serve(req: FastifyRequest, reply: FastifyReply, pathName: string): Promise<FastifyReply> {
    reply.header('Cache-Control', 'no-store');
    const parsed = parseJpegRequest(req.query as Record<string, unknown>);
    if (!parsed.ok) return reply.code(400).type('text/plain').send(`${parsed.error}\n`);
    if (this.opts.ffmpeg === undefined) return reply.code(501).type('text/plain').send('snapshots need ffmpeg (set ffmpegPath)\n');
    // Authorization comes before anything that tells whether the path exists.
    if (this.ctx.authorizeRead !== undefined) {
      const query = new URL(req.url, 'http://x').searchParams;
      const denied = await this.ctx.authorizeRead({
        path: pathName,
        transport: this.name,
        query,
        headers: req.headers,
        remoteAddress: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
        ip: req.socket.remoteAddress,
      });
      if (denied !== undefined) {
        this.log.warn({ path: pathName, remoteAddress: req.socket.remoteAddress, reason: denied }, 'snapshot refused');
        // No credentials at all: 401 and a challenge, so a browser asks for them; wrong ones: 403.
        if (hasCredentials(credentialsOf(req.headers, query))) return reply.code(403).type('text/plain').send(`${denied}\n`);
        return reply.code(401).header('WWW-Authenticate', 'Basic realm="polycast"').type('text/plain').send(`${denied}\n`);
      }
    }
    const path = this.ctx.paths.get(pathName);
    if (path === undefined) return reply.code(404).type('text/plain').send(`no such path: ${pathName}\n`);
    if (path.stream?.ready !== true) return reply.code(404).type('text/plain').send(`path '${pathName}' is not live\n`);
    if (path.stream.description.video === undefined) return reply.code(404).type('text/plain').send(`path '${pathName}' has no video\n`);

    const entry = this.entryFor(path);
    entry.decoder.lastUsed = performance.now();
    if (!(await entry.decoder.waitForPicture(this.startWaitMs))) {
      return reply.code(503).header('Retry-After', '1').type('text/plain').send('snapshot decoder is starting\n');
    }
    const picture = entry.decoder.latest!;
    const jpeg = await entry.cache.get(picture, parsed.req);
    return reply
      .type('image/jpeg')
      .header('X-Frame-Age-Ms', String(Math.max(0, Math.round(Date.now() - picture.receivedAt))))
      .header('X-Frame-Sequence', String(picture.seq))
      .send(jpeg);
  }

  private entryFor(path: Path): Entry {
    let entry = this.entries.get(path.name);
    if (entry !== undefined && entry.path === path) return entry;
    if (entry !== undefined) this.stopDecoder(path.name);
    const decoder = new SnapshotDecoder(path, this.opts.ffmpeg!, this.log, this.ctx.writeQueueSize);
    entry = { decoder, cache: new JpegCache(), path };
    this.entries.set(path.name, entry);
    decoder.reader.kick = () => this.stopDecoder(path.name);
    path.addReader(decoder.reader);
    this.log.info({ path: path.name }, 'snapshot decoder on');
    return entry;
  }

  private reapIdle(): void {
    const now = performance.now();
    for (const [name, entry] of this.entries) {
      if (now - entry.decoder.lastUsed > this.idleMs) this.stopDecoder(name);
    }
  }

  private stopDecoder(name: string): void {
    const entry = this.entries.get(name);
    if (entry === undefined) return;
    this.entries.delete(name);
    entry.decoder.stop();
    entry.path.removeReader(entry.decoder.reader, 'idle');
    this.ctx.paths.release(entry.path);
    this.log.info({ path: name }, 'snapshot decoder off');
  }
}
