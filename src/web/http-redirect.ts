/**
 * The plain-HTTP side while TLS is on (`webTLSHTTPAddress`, :80 by default):
 * answers ACME HTTP-01 challenges and sends everything else to the same URL
 * on HTTPS, as Caddy does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { applyReadTimeout, httpServerOptions, limitPendingPerIp } from './http-limits.js';

export interface HttpRedirectOptions {
  host: string;
  port: number;
  /** The HTTPS port to send browsers to (its number as bound, so an ephemeral one works). */
  httpsPort: () => number;
  /** HTTP-01 answers: token → key authorization. */
  challenges: ReadonlyMap<string, string> | undefined;
  /** Files served here as they are instead of redirected (the local CA's root, which a device fetches before it trusts HTTPS). */
  files?: ReadonlyMap<string, { type: string; body: string }>;
  readTimeoutMs: number;
  log: Logger;
}

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
/** A Host header's name part we are willing to put into a Location: a DNS name, IPv4, or a bracketed IPv6. */
const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])$/;

/** `host[:port]` of a Host header → the name alone, or undefined when it is not a plausible name. */
export function hostName(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d*$/, '');
  return HOST_PATTERN.test(name) ? name : undefined;
}

export class HttpRedirect {
  private readonly server: Server;

  constructor(private readonly o: HttpRedirectOptions) {
    this.server = createServer(httpServerOptions(), (req, res) => {
      const url = req.url ?? '/';
      if (url.startsWith(CHALLENGE_PREFIX)) {
        const answer = o.challenges?.get(url.slice(CHALLENGE_PREFIX.length).split('?')[0]!);
        // Anyone may ask for any token: only the CA's requests for a live challenge are worth an info line.
        o.log[answer === undefined ? 'debug' : 'info']({ url, answered: answer !== undefined, remoteAddress: req.socket.remoteAddress }, 'ACME HTTP-01 challenge request');
        res.writeHead(answer === undefined ? 404 : 200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
        res.end(answer ?? 'no such challenge\n');
        return;
      }
      const file = o.files?.get(url.split('?')[0]!);
      if (file !== undefined) {
        res.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-cache' });
        res.end(req.method === 'HEAD' ? undefined : file.body);
        return;
      }
      const name = hostName(req.headers.host);
      // Only an origin-form target keeps the redirect on this site (`//evil` or an absolute URL would not).
      if (name === undefined || !url.startsWith('/') || url.startsWith('//')) {
        res.writeHead(400, { 'Content-Type': 'text/plain', Connection: 'close' });
        res.end('Bad Request: this port only redirects to HTTPS\n');
        return;
      }
      const port = o.httpsPort();
      // 308 keeps the method and body, as Caddy's redirect does.
      res.writeHead(308, { Location: `https://${name}${port === 443 ? '' : `:${port}`}${url}`, 'Content-Length': '0', Connection: 'close' });
      res.end();
    });
    applyReadTimeout(this.server, o.readTimeoutMs);
    limitPendingPerIp(this.server, o.log, 'http-redirect');
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  async start(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.o.host || '::', port: this.o.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
