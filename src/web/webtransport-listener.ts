import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { generateSelfSignedCertificate, WebTransportServer, type HandshakeCounters, type WebTransportSession } from '../protocols/webtransport/index.js';
import type { WebTransportRoute } from '../transport.js';
import type { CertificateSource } from './certificates.js';
import { originAllowed } from './origin.js';

export interface WebTransportListenerOptions {
  host: string;
  port: number;
  allowOrigins: readonly string[];
  /** PEM files from `webServerCert`/`webServerKey`; empty: a generated certificate. */
  certFile: string;
  keyFile: string;
  /**
   * The web port's certificate when TLS is on: WebTransport serves the same
   * one and follows its renewals, so a CA certificate needs no hash pinning.
   * Takes precedence over certFile/keyFile.
   */
  certificates?: CertificateSource;
  log: Logger;
  /** Valid stream path? (the `suffix` routes' paths must exist). */
  pathExists(name: string): boolean;
}

/** A generated certificate is valid this long (browsers accept ≤ 14 days for serverCertificateHashes)… */
const GENERATED_VALID_DAYS = 10;
/** …and replaced this long before it expires. */
const ROTATE_BEFORE_MS = 3 * 24 * 3600 * 1000;

/**
 * The UDP side of `webAddress`: HTTP/3 + WebTransport. Routes each session
 * to the transport that serves its URL, checks the origin, and keeps a
 * certificate browsers accept by hash, rotating a generated one before it
 * expires without dropping live sessions.
 */
export class WebTransportListener {
  private server: WebTransportServer | undefined;
  private readonly routes: WebTransportRoute[] = [];
  private sha256Hex = '';
  private rotateTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: WebTransportListenerOptions) {}

  addRoute(route: WebTransportRoute): void {
    this.routes.push(route);
  }

  /** QUIC handshakes accepted, answered with Retry, refused and timed out, since start (metrics). */
  get handshakes(): Readonly<HandshakeCounters> | undefined {
    return this.server?.counters;
  }

  /** SHA-256 of the certificate's DER, hex: what `/certificate.sha256` serves. */
  get certificateSha256(): string {
    return this.sha256Hex;
  }

  /** `portOverride`: the port to use when it follows the web server's (which may have been ephemeral). */
  async start(portOverride?: number): Promise<{ port: number }> {
    const { cert, key } = this.loadOrGenerate();
    const port = portOverride ?? this.o.port;
    const server = new WebTransportServer({
      host: this.o.host || '::',
      port,
      cert,
      key,
      onRequest: (req) => this.decide(req.path, req.origin, req.headers),
    });
    server.on('session', (session) => this.route(session));
    server.on('connectionError', (err, peer) => this.o.log.debug({ err: err.message, peer }, 'WebTransport connection closed on error'));
    this.server = server;
    try {
      const addr = await server.listen();
      const out = server.outputMode;
      if (out.why !== undefined) this.o.log.warn({ output: out.mode, why: out.why }, 'WebTransport: packets go out one by one through dgram, which costs more CPU per viewer');
      else this.o.log.debug({ output: out.mode }, 'WebTransport: batched UDP output');
      const input = server.inputMode;
      if (input.why !== undefined) this.o.log.info({ input: input.mode, why: input.why }, 'WebTransport: datagrams read one by one through dgram');
      if (server.quicStack === 'ngtcp2') this.o.log.debug({ quic: 'ngtcp2' }, 'WebTransport: QUIC on ngtcp2');
      else if (server.quicStackWhy === 'POLYCAST_QUIC=quiche') this.o.log.info({ quic: 'quiche' }, 'WebTransport: QUIC on quiche, as POLYCAST_QUIC asks');
      else this.o.log.warn({ quic: 'quiche', why: server.quicStackWhy }, 'WebTransport: QUIC on quiche, which costs nearly twice the CPU per viewer of ngtcp2');
      // Less than asked (Linux reports double what it grants) means net.core.rmem_max capped it.
      if (server.receiveBufferSize < server.requestedReceiveBufferSize) {
        this.o.log.warn(
          { granted: server.receiveBufferSize, asked: server.requestedReceiveBufferSize },
          'WebTransport: UDP receive buffer smaller than asked; a burst of handshakes may lose packets (raise net.core.rmem_max)',
        );
      }
      return { port: addr.port };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const where = `${this.o.host || '*'}:${port}/udp`;
      throw new Error(
        e.code === 'EADDRINUSE'
          ? `WebTransport listener: address ${where} is already in use (set webTransportAddress, or webTransport: no)`
          : `WebTransport listener on ${where}: ${e.message}`,
      );
    }
  }

  async stop(): Promise<void> {
    if (this.rotateTimer) clearTimeout(this.rotateTimer);
    await this.server?.close();
  }

  private decide(path: string, origin: string | undefined, headers: Readonly<Record<string, string>>): { status: number; headers?: Record<string, string> } {
    if (!originAllowed(origin, this.o.allowOrigins)) return { status: 403 };
    const found = this.find(path, headers);
    if (found === undefined) return { status: 404 };
    if (found.pathName !== undefined && !this.o.pathExists(found.pathName)) return { status: 404 };
    const protocol = protocolFor(found.route, headers);
    return protocol === undefined ? { status: 200 } : { status: 200, headers: { 'wt-protocol': `"${protocol}"` } };
  }

  private find(rawPath: string, headers: Readonly<Record<string, string>>): { route: WebTransportRoute; pathName: string | undefined } | undefined {
    let path: string;
    try {
      path = decodeURIComponent(new URL(rawPath, 'https://x').pathname);
    } catch {
      return undefined;
    }
    for (const route of this.routes) {
      if (route.kind === 'exact' && path === `/${route.path}`) return { route, pathName: undefined };
      if (route.kind === 'suffix' && path.endsWith(`/${route.path}`)) {
        const pathName = path.slice(1, -route.path.length - 1);
        if (pathName !== '') return { route, pathName };
      }
    }
    // `/<path>` itself: only for a client offering a subprotocol such a route speaks (MediaMTX's moqt clients).
    const pathName = path.slice(1).replace(/\/+$/, '');
    if (pathName === '') return undefined;
    for (const route of this.routes) {
      if (route.kind === 'path' && protocolFor(route, headers) !== undefined) return { route, pathName };
    }
    return undefined;
  }

  private route(session: WebTransportSession): void {
    const found = this.find(session.path, session.request.headers);
    if (found === undefined) {
      session.close(404, 'no such endpoint');
      return;
    }
    // The same choice the response announced: it depends on the request headers only.
    found.route.handleSession(session, found.pathName, protocolFor(found.route, session.request.headers));
  }

  private loadOrGenerate(): { cert: string; key: string } {
    const shared = this.o.certificates;
    if (shared !== undefined) {
      this.sha256Hex = shared.current.sha256;
      shared.onChange((c) => {
        this.sha256Hex = c.sha256;
        this.server?.setCertificate(c.cert, c.key);
        this.o.log.info({ sha256: c.sha256, selfSigned: c.selfSigned }, 'WebTransport: certificate replaced (the web port\'s)');
      });
      return { cert: shared.current.cert, key: shared.current.key };
    }
    if (this.o.certFile !== '' && this.o.keyFile !== '') {
      const cert = readFileSync(this.o.certFile, 'utf8');
      const key = readFileSync(this.o.keyFile, 'utf8');
      this.sha256Hex = createHash('sha256').update(new X509Certificate(cert).raw).digest('hex');
      return { cert, key };
    }
    return this.generate();
  }

  private generate(): { cert: string; key: string } {
    const made = generateSelfSignedCertificate({ validDays: GENERATED_VALID_DAYS });
    this.sha256Hex = Buffer.from(made.sha256).toString('hex');
    const rotateIn = Math.max(60_000, made.notAfter.getTime() - Date.now() - ROTATE_BEFORE_MS);
    this.rotateTimer = setTimeout(() => this.rotate(), Math.min(rotateIn, 2 ** 31 - 1));
    this.rotateTimer.unref();
    this.o.log.info({ sha256: this.sha256Hex, notAfter: made.notAfter.toISOString() }, 'WebTransport: generated a self-signed certificate');
    return { cert: made.certPem, key: made.keyPem };
  }

  /** Exposed for tests: swap in a fresh generated certificate now. */
  rotate(): void {
    if (this.o.certificates !== undefined) return; // The web port's certificate source renews it.
    if (this.rotateTimer) clearTimeout(this.rotateTimer);
    const { cert, key } = this.generate();
    this.server?.setCertificate(cert, key);
  }
}

/** The route's pick among the client's `wt-available-protocols`, if any. */
function protocolFor(route: WebTransportRoute, headers: Readonly<Record<string, string>>): string | undefined {
  if (route.selectProtocol === undefined) return undefined;
  const offered = parseStringList(headers['wt-available-protocols'] ?? '');
  if (offered.length === 0) return undefined;
  const chosen = route.selectProtocol(offered);
  return chosen !== undefined && offered.includes(chosen) ? chosen : undefined;
}

/**
 * The strings of an RFC 8941 list (`"moq-lite-04", "moql"`), parameters
 * ignored. Members that are not strings are skipped, and a malformed header
 * yields what parsed before the fault: an offer is only ever narrowed.
 */
export function parseStringList(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (value[i] === ' ' || value[i] === '\t') i++;
  };
  const readString = (): string | undefined => {
    let s = '';
    for (i++; i < value.length; i++) {
      const c = value[i]!;
      if (c === '"') {
        i++;
        return s;
      }
      if (c === '\\') {
        const next = value[++i];
        if (next !== '"' && next !== '\\') return undefined;
        s += next;
      } else if (c < ' ' || c > '~') return undefined;
      else s += c;
    }
    return undefined;
  };
  while (i < value.length) {
    skipSpace();
    if (value[i] === '"') {
      const s = readString();
      if (s === undefined) return out;
      out.push(s);
    }
    // Skip the rest of the member (a token, parameters with possibly quoted values) up to the next comma.
    while (i < value.length && value[i] !== ',') {
      if (value[i] === '"') {
        if (readString() === undefined) return out;
      } else i++;
    }
    i++;
  }
  return out;
}
