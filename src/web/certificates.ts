/**
 * The web port's certificate, one for HTTPS (TCP) and WebTransport (UDP):
 * read from webServerCert/webServerKey (`webTLS: files`), or obtained and
 * renewed over ACME (`webTLS: auto`, src/web/acme.ts). Whoever serves with
 * it subscribes with `onChange` and swaps it in without dropping anyone.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { generateSelfSignedCertificate } from '../protocols/webtransport/cert.js';

export interface TlsCredentials {
  /** PEM: the leaf first, then any intermediates. */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
  /** Generated here (no CA vouches for it): browsers reach WebTransport only by pinning its hash. */
  readonly selfSigned: boolean;
  /** SHA-256 of the leaf's DER, hex: what `/certificate.sha256` serves. */
  readonly sha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A self-signed stand-in is valid this long (≤ 14 days, so browsers pin it by hash)… */
export const SELF_SIGNED_VALID_DAYS = 10;

/** Leaf facts of a PEM chain; throws on a PEM that is not a certificate. */
export function describeCertificate(cert: string, key: string, selfSigned: boolean): TlsCredentials {
  const leaf = new X509Certificate(cert);
  return {
    cert,
    key,
    selfSigned,
    sha256: createHash('sha256').update(leaf.raw).digest('hex'),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}

/** An ECDSA P-256 certificate made here for `names` (and localhost), valid `SELF_SIGNED_VALID_DAYS`. */
export function selfSignedCredentials(names: readonly string[] = []): TlsCredentials {
  const made = generateSelfSignedCertificate({
    commonName: names[0] ?? 'polycast',
    dnsNames: [...new Set([...names, 'localhost'])],
    validDays: SELF_SIGNED_VALID_DAYS,
  });
  return describeCertificate(made.certPem, made.keyPem, true);
}

/** Writes a secret: created 0600 under a temporary name, then renamed over the old one (never half-written). */
export function writeSecret(file: string, data: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600); // `mode` is masked by the umask, and ignored if the file existed.
  renameSync(tmp, file);
}

export function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export type CertificateListener = (credentials: TlsCredentials) => void;

/** What the web server and the WebTransport listener take their certificate from. */
export interface CertificateSource {
  readonly current: TlsCredentials;
  onChange(listener: CertificateListener): void;
  /** Begins any background work (ordering, renewing). */
  start(): void;
  stop(): void;
}

/** `webTLS: files`: the operator's PEM files, read once at startup. */
export class FileCertificates implements CertificateSource {
  readonly current: TlsCredentials;

  constructor(certFile: string, keyFile: string, log: Logger) {
    let cert: string;
    let key: string;
    try {
      cert = readFileSync(certFile, 'utf8');
      key = readFileSync(keyFile, 'utf8');
    } catch (err) {
      throw new Error(`webServerCert/webServerKey: ${(err as Error).message}`);
    }
    try {
      this.current = describeCertificate(cert, key, false);
    } catch (err) {
      throw new Error(`webServerCert ${certFile}: not a PEM certificate (${(err as Error).message})`);
    }
    log.info({ certFile, notAfter: this.current.notAfter.toISOString(), sha256: this.current.sha256 }, `TLS: serving the certificate from ${certFile}`);
  }

  onChange(): void {}
  start(): void {}
  stop(): void {}
}

/** Fan-out helper for sources whose certificate changes. */
export class CertificateHolder {
  private listeners: CertificateListener[] = [];

  constructor(private credentials: TlsCredentials) {}

  get current(): TlsCredentials {
    return this.credentials;
  }

  onChange(listener: CertificateListener): void {
    this.listeners.push(listener);
  }

  set(credentials: TlsCredentials): void {
    this.credentials = credentials;
    for (const listener of this.listeners) listener(credentials);
  }
}
