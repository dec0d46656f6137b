import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ResolvedConfig } from '../../src/config/schema.js';
import { PathError, type Path } from '../../src/stream/path.js';
import { httpAuthorizationRequest, type HttpRoute, type Transport, type TransportContext, type UpgradeRoute } from '../../src/transport.js';
import { credentialQuery, presentsCredentials, setCorsHeaders } from './access.js';
import { holdTimeoutMs, judgePartFetch, judgePlaylistRequest } from './blocking-rules.js';
import { blockingPlaylist, BRIEF, livePlaylist, mediaObject, NO_STORE, type Audience } from './cache-policy.js';
import { parseDeliveryDirectives } from './delivery-directives.js';
import type { HoldOutcome } from './held-requests.js';
import { HlsMuxer, type MuxerSettings } from './muxer.js';
import { MEDIA_FILE_PATTERN, newMuxerId, parseMediaName, type MediaName } from './names.js';

/** The HLS keys of the configuration, read again for every new muxer (a reload applies to the next one). */
export interface HlsSettings extends Omit<MuxerSettings, 'maxHeld'> {
  readonly allowOrigins: readonly string[];
  readonly alwaysRemux: boolean;
  readonly closeAfterMs: number;
}

export function hlsSettingsOf(config: ResolvedConfig): HlsSettings {
  return {
    lowLatency: config.hlsVariant === 'lowLatency',
    segmentCount: config.hlsSegmentCount,
    segmentDurationMs: config.hlsSegmentDuration,
    partDurationMs: config.hlsPartDuration,
    segmentMaxSize: config.hlsSegmentMaxSize,
    allowOrigins: config.hlsAllowOrigins,
    alwaysRemux: config.hlsAlwaysRemux,
    closeAfterMs: config.hlsMuxerCloseAfter,
  };
}

const REAP_EVERY_MS = 1000;
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

/**
 * HLS and Low-Latency HLS on the web port (docs/protocols/hls.md):
 * `/<path>/index.m3u8`, then the playlist, parts and segments named in it.
 * One muxer per path, started by the first request (or by the stream, with
 * hlsAlwaysRemux) and stopped when nobody asked for hlsMuxerCloseAfter.
 */
export class HlsTransport implements Transport {
  readonly name = 'hls';
  readonly upgrades: readonly UpgradeRoute[] = [];
  readonly httpRoutes: readonly HttpRoute[];
  readonly muxers = new Map<string, HlsMuxer>();
  /** Held (blocking) requests per path; past it a request gets a 503. Public so tests and operators can tune it. */
  maxHeldPerPath = 512;
  /** How long `index.m3u8` waits for a starting muxer's first segment before a 503. */
  startWaitMs = 10_000;
  /** Sees every HLS request that reaches this server (tests count what a cache let through). */
  onRequest: ((pathName: string, file: string, search: string, remoteAddress: string) => void) | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly log;

  constructor(
    private readonly ctx: TransportContext,
    private readonly settings: () => HlsSettings,
  ) {
    this.log = ctx.log.child({ transport: this.name });
    const handle = (req: FastifyRequest, reply: FastifyReply, pathName: string, file: string) => this.serve(req, reply, pathName, file);
    this.httpRoutes = [
      { suffix: 'index.m3u8', handle },
      { suffix: MEDIA_FILE_PATTERN, handle },
    ];
    this.timer = setInterval(() => this.reapIdle(), REAP_EVERY_MS);
    this.timer.unref();
    ctx.paths.on('pathCreated', (path) => path.on('ready', () => this.remuxAlways(path)));
  }

  close(): void {
    clearInterval(this.timer);
    for (const name of [...this.muxers.keys()]) this.stopMuxer(name, 'server shutting down');
  }

  private async serve(req: FastifyRequest, reply: FastifyReply, pathName: string, file: string): Promise<FastifyReply> {
    const url = new URL(req.url, 'http://x');
    this.onRequest?.(pathName, file, url.search, req.socket.remoteAddress ?? '');
    setCorsHeaders(req, reply, this.settings().allowOrigins);
    const name: MediaName | { kind: 'index' } | undefined = file === 'index.m3u8' ? { kind: 'index' } : parseMediaName(file);
    if (name === undefined) return answer(reply, 404, `not an HLS object of this server: ${file.slice(0, 80)}`);
    const query = url.searchParams;
    const refused = await this.authorize(req, reply, pathName, query);
    if (refused !== undefined) return refused;
    const audience: Audience = presentsCredentials(req, query) ? 'private' : 'public';
    if (name.kind === 'index') return this.serveIndex(reply, pathName, query, audience);

    const muxer = this.muxers.get(pathName);
    // Another id is a muxer that stopped (idle, or a server restart): its names are gone for good.
    if (muxer === undefined || muxer.id !== name.id) return answer(reply, 404, 'no such HLS muxer (it stopped): reload index.m3u8', BRIEF);
    muxer.lastRequestAt = performance.now();
    switch (name.kind) {
      case 'playlist':
        return this.servePlaylist(reply, muxer, query, audience);
      case 'part':
        return this.servePart(reply, muxer, name.n);
      case 'segment':
        return media(reply, muxer.window.segment(name.n)?.bytes, 'segment');
      case 'init':
        return media(reply, muxer.window.init(name.n), 'init segment');
    }
  }

  private async serveIndex(reply: FastifyReply, pathName: string, query: URLSearchParams, audience: Audience): Promise<FastifyReply> {
    let muxer = this.muxers.get(pathName);
    if (muxer === undefined) {
      const started = this.startMuxer(pathName);
      if (!(started instanceof HlsMuxer)) return answer(reply, started.status, started.error, BRIEF);
      muxer = started;
    }
    muxer.lastRequestAt = performance.now();
    const waited = await this.untilReady(reply, muxer);
    if (waited !== undefined) return waited;
    const text = muxer.multivariantPlaylist(credentialQuery(query));
    if (text === undefined) return answer(reply, 503, 'the stream has no segment yet', BRIEF);
    return sendPlaylist(reply, text, livePlaylist(audience));
  }

  private async servePlaylist(reply: FastifyReply, muxer: HlsMuxer, query: URLSearchParams, audience: Audience): Promise<FastifyReply> {
    // Plain HLS promises no blocking reload: its clients' directives mean nothing and are ignored, as the spec asks.
    const parsed = muxer.lowLatency ? parseDeliveryDirectives(query) : ({ ok: true, directives: { skip: false } } as const);
    if (!parsed.ok) return answer(reply, 400, parsed.error);
    const { msn, part, skip } = parsed.directives;
    const waited = await this.untilReady(reply, muxer);
    if (waited !== undefined) return waited;
    const credentials = credentialQuery(query);
    if (msn === undefined) return sendPlaylist(reply, muxer.mediaPlaylist(skip, credentials), livePlaylist(audience));

    const verdict = () => judgePlaylistRequest(muxer.window.edge(), msn, part, muxer.partLimit);
    const first = verdict();
    if (first === 'too-far') {
      return answer(reply, 400, `_HLS_msn=${msn}${part === undefined ? '' : ` _HLS_part=${part}`} is too far ahead of the live edge`);
    }
    if (first === 'wait') {
      const outcome = await this.hold(reply, muxer, () => verdict() === 'ready', holdTimeoutMs(muxer.targetDurationS));
      if (outcome !== 'ready') return this.unheld(reply, outcome, 'the requested part did not appear in time');
    }
    return sendPlaylist(reply, muxer.mediaPlaylist(skip, credentials), blockingPlaylist(audience, muxer.windowS));
  }

  private async servePart(reply: FastifyReply, muxer: HlsMuxer, n: number): Promise<FastifyReply> {
    if (!muxer.lowLatency) return answer(reply, 404, 'parts exist only with hlsVariant: lowLatency');
    const verdict = () => judgePartFetch(muxer.window.lastPartNumber, n);
    const first = verdict();
    if (first === 'too-far') return answer(reply, 404, `part ${n} has not been announced`);
    if (first === 'wait') {
      // The preload hint names this part before it exists; LL-HLS asks the server to answer once it does.
      const outcome = await this.hold(reply, muxer, () => verdict() === 'ready', holdTimeoutMs(muxer.targetDurationS));
      if (outcome !== 'ready') return this.unheld(reply, outcome, `part ${n} did not appear in time`);
    }
    return media(reply, muxer.window.part(n)?.bytes, 'part');
  }

  /** Holds a request until the muxer can list a first segment; undefined when it can, else the answer already given. */
  private async untilReady(reply: FastifyReply, muxer: HlsMuxer): Promise<FastifyReply | undefined> {
    if (muxer.ready) return undefined;
    const outcome = await this.hold(reply, muxer, () => muxer.ready, this.startWaitMs);
    return outcome === 'ready' ? undefined : this.unheld(reply, outcome, 'the stream has no segment yet');
  }

  private hold(reply: FastifyReply, muxer: HlsMuxer, ready: () => boolean, timeoutMs: number): Promise<HoldOutcome | 'full'> {
    muxer.held.max = this.maxHeldPerPath;
    return muxer.held.hold(ready, timeoutMs, reply.raw) ?? Promise.resolve('full');
  }

  private unheld(reply: FastifyReply, outcome: Exclude<HoldOutcome, 'ready'> | 'full', late: string): FastifyReply {
    if (outcome === 'full') return answer(reply, 503, `too many held requests on this path (${this.maxHeldPerPath})`, BRIEF);
    if (outcome === 'closed') return answer(reply, 404, 'the HLS muxer stopped: reload index.m3u8', BRIEF);
    return answer(reply, 503, late, BRIEF);
  }

  /** Authorization comes before anything that tells whether the path or an object exists. */
  private async authorize(req: FastifyRequest, reply: FastifyReply, pathName: string, query: URLSearchParams): Promise<FastifyReply | undefined> {
    if (this.ctx.authorizeRead === undefined) return undefined;
    let denied: string | undefined;
    try {
      denied = await this.ctx.authorizeRead(httpAuthorizationRequest(req, pathName, this.name, query));
    } catch (err) {
      denied = `authorization failed: ${(err as Error).message}`;
    }
    if (denied === undefined) return undefined;
    // Debug only: a player retries several times a second, so the line count would be the client's to choose.
    this.log.debug({ path: pathName, remoteAddress: req.socket.remoteAddress, reason: denied }, 'HLS request refused');
    if (presentsCredentials(req, query)) return answer(reply, 403, denied);
    return answer(reply.header('WWW-Authenticate', 'Basic realm="polycast"'), 401, denied);
  }

  private startMuxer(pathName: string): HlsMuxer | { status: number; error: string } {
    const acquired = this.ctx.paths.acquire(pathName);
    if (!('name' in acquired)) return { status: 404, error: acquired.error };
    const path = acquired;
    if (path.publisher === null && !startsOnDemand(this.ctx, path)) {
      this.ctx.paths.release(path);
      return { status: 404, error: `path '${pathName}' is not live` };
    }
    return this.createMuxer(path);
  }

  private createMuxer(path: Path): HlsMuxer | { status: number; error: string } {
    const s = this.settings();
    const muxer = new HlsMuxer({
      path,
      id: newMuxerId(),
      settings: { ...s, maxHeld: this.maxHeldPerPath },
      queueSize: this.ctx.writeQueueSize,
      log: this.log,
    });
    muxer.reader.kick = (reason) => {
      if (this.muxers.get(path.name) === muxer) this.stopMuxer(path.name, reason);
    };
    try {
      path.addReader(muxer.reader);
    } catch (err) {
      this.ctx.paths.release(path);
      const reason = (err as Error).message;
      return { status: err instanceof PathError && err.code === 'too-many-readers' ? 503 : 404, error: reason };
    }
    this.muxers.set(path.name, muxer);
    this.log.info({ path: path.name, id: muxer.id, variant: s.lowLatency ? 'lowLatency' : 'fmp4' }, 'HLS muxer started');
    return muxer;
  }

  private stopMuxer(name: string, reason: string): void {
    const muxer = this.muxers.get(name);
    if (muxer === undefined) return;
    this.muxers.delete(name);
    muxer.stop(reason);
    this.ctx.paths.release(muxer.path);
    this.log.info({ path: name, id: muxer.id, reason }, 'HLS muxer stopped');
  }

  private remuxAlways(path: Path): void {
    if (!this.settings().alwaysRemux || this.muxers.has(path.name)) return;
    const acquired = this.ctx.paths.acquire(path.name);
    if (acquired !== path) return;
    const made = this.createMuxer(path);
    if (!(made instanceof HlsMuxer)) this.log.warn({ path: path.name, reason: made.error }, 'hlsAlwaysRemux: cannot mux this path');
  }

  private reapIdle(): void {
    const s = this.settings();
    const now = performance.now();
    for (const [name, muxer] of this.muxers) {
      if (s.alwaysRemux && muxer.path.stream?.ready === true) continue;
      if (muxer.held.size === 0 && now - muxer.lastRequestAt > s.closeAfterMs) this.stopMuxer(name, 'no HLS request for hlsMuxerCloseAfter');
    }
  }
}

/**
 * A path with runOnDemand starts its publisher when a reader arrives, so the
 * muxer is that reader. The core's path settings type does not carry the
 * configuration's hook keys; only this one matters here.
 */
/** A reader makes this path's publisher come: a `runOnDemand` command, or a source pulled on demand. */
function startsOnDemand(ctx: TransportContext, path: Path): boolean {
  const conf = ctx.paths.confOf(path) as { runOnDemand?: unknown; sourceOnDemand?: unknown } | undefined;
  return (typeof conf?.runOnDemand === 'string' && conf.runOnDemand !== '') || conf?.sourceOnDemand === true;
}

/** A refusal, `NO_STORE` unless every viewer gets it alike (then `BRIEF`, with a Retry-After for 503s). */
function answer(reply: FastifyReply, status: number, text: string, cacheControl = NO_STORE): FastifyReply {
  if (status === 503) reply.header('Retry-After', '1');
  return reply.code(status).header('Cache-Control', cacheControl).type('text/plain').send(`${text}\n`);
}

function sendPlaylist(reply: FastifyReply, text: string, cacheControl: string): FastifyReply {
  return reply.header('Cache-Control', cacheControl).type(PLAYLIST_TYPE).send(text);
}

function media(reply: FastifyReply, bytes: Uint8Array | undefined, what: string): FastifyReply {
  if (bytes === undefined) return answer(reply, 404, `no such ${what} (not yet, or no longer, kept)`);
  return reply.header('Cache-Control', mediaObject()).type('video/mp4').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
