/**
 * `webTLS: local`: HTTPS on a network without a public name. Polycast makes
 * its own certification authority once (ECDSA P-256, ten years, kept 0600
 * in the cache folder) and issues the web port's certificate from it for
 * `webTLSDomains` (names and IPv4 addresses). Viewers install the CA's root,
 * served at `/polycast-root-ca.crt`, once per device (docs/https.md).
 *
 * Leaves are valid 10 days and renewed at 2/3 of that: Chromium takes a
 * QUIC certificate only under a publicly trusted root, so WebTransport gets
 * there by hash pinning, which browsers allow for certificates valid at
 * most 14 days.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { generateSelfSignedCertificate } from '../protocols/webtransport/cert.js';
import {
  CertificateHolder,
  describeCertificate,
  readOrUndefined,
  writeSecret,
  type CertificateListener,
  type CertificateSource,
  type TlsCredentials,
} from './certificates.js';

/** Where the root is served, on the web port and on webTLSHTTPAddress (plain HTTP, before a device trusts it). */
export const LOCAL_CA_ROOT_PATH = '/polycast-root-ca.crt';

const CA_VALID_DAYS = 3650;
const LEAF_VALID_DAYS = 10;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LocalCaOptions {
  /** DNS names and IPv4 addresses the certificate covers. */
  readonly names: readonly string[];
  readonly cacheDirectory: string;
  readonly log: Logger;
  /** Fraction of a leaf's lifetime after which it is replaced. Default 2/3. */
  readonly renewAt?: number;
}

export class LocalCaCertificates implements CertificateSource {
  /** The root to install on viewing devices, PEM. */
  readonly rootPem: string;
  private readonly caKeyPem: string;
  private readonly holder: CertificateHolder;
  private readonly folder: string;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: LocalCaOptions) {
    this.log = o.log.child({ module: 'local-ca' });
    this.folder = join(o.cacheDirectory, 'local-ca');
    mkdirSync(this.folder, { recursive: true, mode: 0o700 });
    const caCert = readOrUndefined(join(this.folder, 'root-ca.crt'));
    const caKey = readOrUndefined(join(this.folder, 'root-ca.key'));
    if (caCert !== undefined && caKey !== undefined && new Date(new X509Certificate(caCert).validTo).getTime() > Date.now() + 30 * 86_400_000) {
      this.rootPem = caCert;
      this.caKeyPem = caKey;
    } else {
      const made = generateSelfSignedCertificate({ commonName: `Polycast local CA (${hostname()})`, dnsNames: [], ipAddresses: [], validDays: CA_VALID_DAYS, ca: true });
      writeSecret(join(this.folder, 'root-ca.key'), made.keyPem);
      writeSecret(join(this.folder, 'root-ca.crt'), made.certPem);
      this.rootPem = made.certPem;
      this.caKeyPem = made.keyPem;
      this.log.warn(
        { file: join(this.folder, 'root-ca.crt') },
        `TLS: created a local certification authority; install its root on each viewing device (from ${LOCAL_CA_ROOT_PATH}, docs/https.md)`,
      );
    }
    this.holder = new CertificateHolder(this.loadLeaf() ?? this.issue());
  }

  get current(): TlsCredentials {
    return this.holder.current;
  }

  onChange(listener: CertificateListener): void {
    this.holder.onChange(listener);
  }

  /** Where the CA and the leaf are kept. */
  get directory(): string {
    return this.folder;
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Issues a new leaf now and swaps it in (tests; also what the timer does). */
  renewNow(): void {
    this.holder.set(this.issue());
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const c = this.current;
    const due = c.notBefore.getTime() + (c.notAfter.getTime() - c.notBefore.getTime()) * (this.o.renewAt ?? 2 / 3) - Date.now();
    this.timer = setTimeout(() => (due > MAX_TIMER_MS ? this.schedule() : this.renewNow()), Math.min(Math.max(0, due), MAX_TIMER_MS));
    this.timer.unref();
  }

  private issue(): TlsCredentials {
    const dnsNames = this.o.names.filter((n) => isIP(n) === 0);
    const ipAddresses = this.o.names.filter((n) => isIP(n) !== 0);
    const made = generateSelfSignedCertificate({
      commonName: this.o.names[0] ?? 'polycast',
      dnsNames,
      ipAddresses,
      validDays: LEAF_VALID_DAYS,
      issuer: { certPem: this.rootPem, keyPem: this.caKeyPem },
    });
    // The chain browsers get: the leaf, then the root (harmless, and lets a client that pins the root build the path).
    const chain = made.certPem + this.rootPem;
    writeSecret(join(this.folder, 'leaf.key'), made.keyPem);
    writeSecret(join(this.folder, 'leaf.crt'), chain);
    const c = describeCertificate(chain, made.keyPem, false);
    this.log.info({ names: this.o.names, notAfter: c.notAfter.toISOString(), sha256: c.sha256 }, `TLS: issued a certificate for ${this.o.names.join(', ')} from the local CA`);
    return c;
  }

  /** The kept leaf, if the current CA issued it for these names and it is not due for renewal. */
  private loadLeaf(): TlsCredentials | undefined {
    const cert = readOrUndefined(join(this.folder, 'leaf.crt'));
    const key = readOrUndefined(join(this.folder, 'leaf.key'));
    if (cert === undefined || key === undefined) return undefined;
    try {
      const leaf = new X509Certificate(cert);
      if (!leaf.checkIssued(new X509Certificate(this.rootPem)) || !leaf.verify(new X509Certificate(this.rootPem).publicKey)) return undefined;
      const covered = this.o.names.every((n) => (isIP(n) === 0 ? leaf.checkHost(n, { wildcards: false }) !== undefined : leaf.checkIP(n) !== undefined));
      if (!covered) return undefined;
      const c = describeCertificate(cert, key, false);
      const due = c.notBefore.getTime() + (c.notAfter.getTime() - c.notBefore.getTime()) * (this.o.renewAt ?? 2 / 3);
      return due > Date.now() ? c : undefined;
    } catch {
      return undefined;
    }
  }
}
