/**
 * `webTLS: auto`: certificates from an ACME CA (RFC 8555; Let's Encrypt by
 * default) over HTTP-01 or TLS-ALPN-01 (RFC 8737, on the web port), through
 * `acme-client`. The account key and the
 * certificate live on disk (0600, in a 0700 folder per directory URL), are
 * renewed at 2/3 of their lifetime, and a failed order is retried with
 * back-off while the server goes on serving what it has: the last
 * certificate, or before the first one a self-signed stand-in (said so in
 * the log). docs/https.md tells the whole story.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';
import type { Logger } from 'pino';
import {
  CertificateHolder,
  describeCertificate,
  readOrUndefined,
  selfSignedCredentials,
  writeSecret,
  type CertificateListener,
  type CertificateSource,
  type TlsCredentials,
} from './certificates.js';

export interface AcmeOptions {
  readonly domains: readonly string[];
  /** Contact of the account; '' for none. */
  readonly email: string;
  readonly directoryUrl: string;
  /** PEM file of roots trusted for the directory besides the system's; '' for none. */
  readonly rootCaFile: string;
  /** Resolved folder (see `defaultCacheDirectory`). */
  readonly cacheDirectory: string;
  readonly log: Logger;
  /**
   * Whether the plain-HTTP listener (webTLSHTTPAddress) is up, asked at each order: HTTP-01 is tried first when
   * it is, TLS-ALPN-01 on the web port otherwise. Default: never (TLS-ALPN-01 only).
   */
  readonly httpChallengeReady?: () => boolean;
  /** Fraction of a certificate's lifetime after which it is renewed. Default 2/3. */
  readonly renewAt?: number;
  /** First retry delay after a failed order, doubled each time up to `retryMaxMs`. Defaults 1 min and 1 h. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

/** A self-signed stand-in is replaced when it has less than this left (the CA has been failing for a week). */
const SELF_SIGNED_REFRESH_MS = 3 * 86_400_000;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `webTLSCacheDirectory` when empty: `$XDG_DATA_HOME/polycast/acme`, else `~/.local/share/polycast/acme`. */
export function defaultCacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const data = env['XDG_DATA_HOME'] !== undefined && env['XDG_DATA_HOME'] !== '' ? env['XDG_DATA_HOME'] : join(homedir(), '.local', 'share');
  return join(data, 'polycast', 'acme');
}

export class AcmeCertificates implements CertificateSource {
  /** HTTP-01 answers being asked for: token → key authorization. */
  readonly challenges = new Map<string, string>();
  /** TLS-ALPN-01 certificates being asked for: domain (lower case) → its acmeIdentifier certificate. */
  readonly alpnChallenges = new Map<string, { cert: string; key: string }>();
  private readonly holder: CertificateHolder;
  private readonly folder: string;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private ordering: Promise<boolean> | undefined;
  private failures = 0;
  private stopped = false;
  /** Orders completed since start (tests, logs). */
  orders = 0;

  constructor(private readonly o: AcmeOptions) {
    this.log = o.log.child({ module: 'acme' });
    const url = new URL(o.directoryUrl);
    // One folder per directory: a staging account or certificate is never taken for a production one.
    const tag = `${url.host.replace(/[^A-Za-z0-9.-]/g, '_')}-${createHash('sha256').update(o.directoryUrl).digest('hex').slice(0, 8)}`;
    this.folder = join(o.cacheDirectory, tag);
    this.holder = new CertificateHolder(this.loadCached() ?? this.standIn());
  }

  get current(): TlsCredentials {
    return this.holder.current;
  }

  onChange(listener: CertificateListener): void {
    this.holder.onChange(listener);
  }

  /** Where the account key and certificates are. */
  get directory(): string {
    return this.folder;
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.current.selfSigned ? 0 : this.renewDelay(this.current));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Orders a certificate now (tests; an operator's forced renewal). Resolves true when one was installed. */
  renewNow(): Promise<boolean> {
    clearTimeout(this.timer);
    return this.order();
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const wait = Math.max(0, delayMs);
    // Long waits are taken in steps: setTimeout cannot wait past ~24.8 days.
    this.timer = setTimeout(() => (wait > MAX_TIMER_MS ? this.schedule(wait - MAX_TIMER_MS) : void this.order()), Math.min(wait, MAX_TIMER_MS));
    this.timer.unref();
  }

  private renewDelay(c: TlsCredentials): number {
    const lifetime = c.notAfter.getTime() - c.notBefore.getTime();
    return c.notBefore.getTime() + lifetime * (this.o.renewAt ?? 2 / 3) - Date.now();
  }

  private order(): Promise<boolean> {
    this.ordering ??= this.obtain().finally(() => (this.ordering = undefined));
    return this.ordering;
  }

  private async obtain(): Promise<boolean> {
    const domains = this.o.domains.join(', ');
    const renewing = !this.current.selfSigned;
    this.log.info({ domains: this.o.domains, directory: this.o.directoryUrl }, `ACME: ${renewing ? 'renewing' : 'ordering'} a certificate for ${domains}`);
    try {
      const credentials = await this.requestCertificate();
      if (this.stopped) return false;
      this.save(credentials);
      this.failures = 0;
      this.orders++;
      this.holder.set(credentials);
      this.log.info(
        { domains: this.o.domains, notAfter: credentials.notAfter.toISOString(), sha256: credentials.sha256 },
        `ACME: certificate for ${domains} installed, valid until ${credentials.notAfter.toISOString()}`,
      );
      this.schedule(this.renewDelay(credentials));
      return true;
    } catch (err) {
      if (this.stopped) return false;
      this.failures++;
      const retryMs = Math.min(this.o.retryMaxMs ?? 3600_000, (this.o.retryMinMs ?? 60_000) * 2 ** (this.failures - 1));
      const serving = this.current.selfSigned ? 'the self-signed certificate' : `the current certificate (valid until ${this.current.notAfter.toISOString()})`;
      this.log.error(
        { domains: this.o.domains, directory: this.o.directoryUrl, err: describeError(err), attempt: this.failures, retryInMs: retryMs },
        `ACME: could not obtain a certificate for ${domains}: ${describeError(err)}; retrying in ${Math.round(retryMs / 1000)}s, serving ${serving} meanwhile`,
      );
      if (this.current.selfSigned && this.current.notAfter.getTime() - Date.now() < SELF_SIGNED_REFRESH_MS) this.holder.set(this.standIn());
      this.schedule(retryMs);
      return false;
    }
  }

  private async requestCertificate(): Promise<TlsCredentials> {
    mkdirSync(this.folder, { recursive: true, mode: 0o700 });
    const accountFile = join(this.folder, 'account.key');
    let accountKey = readOrUndefined(accountFile);
    if (accountKey === undefined) {
      accountKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      writeSecret(accountFile, accountKey);
      this.log.info({ file: accountFile }, 'ACME: created an account key');
    }
    this.configureHttp();
    // The account's URL, once known, is kept: without it every order re-registers, and an existing account is then
    // "updated" with nothing when there is no contact email, which pebble (rightly) refuses.
    const accountUrlFile = join(this.folder, 'account.url');
    const accountUrl = readOrUndefined(accountUrlFile)?.trim() || undefined;
    const client = new acme.Client({ directoryUrl: this.o.directoryUrl, accountKey, accountUrl, backoffAttempts: 10, backoffMin: 1000, backoffMax: 10_000 });
    if (accountUrl === undefined) {
      await client.createAccount({ termsOfServiceAgreed: true, ...(this.o.email === '' ? {} : { contact: [`mailto:${this.o.email}`] }) });
      writeSecret(accountUrlFile, client.getAccountUrl());
    }
    // ECDSA P-256: what WebTransport's QUIC stack and every browser take, and the cheapest handshake.
    const [key, csr] = await acme.crypto.createCsr({ commonName: this.o.domains[0], altNames: [...this.o.domains] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
    const cert = await client.auto({
      csr,
      email: this.o.email === '' ? undefined : this.o.email,
      termsOfServiceAgreed: true,
      // acme-client's type names only HTTP-01 and DNS-01, but its client answers TLS-ALPN-01 too.
      challengePriority: this.challengeTypes() as Array<'http-01'>,
      // The CA checks; a check from here would fail behind NAT without hairpinning and prove nothing.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        this.log.info({ type: challenge.type, domain: authz.identifier.value }, `ACME: answering a ${challenge.type} challenge for ${authz.identifier.value}`);
        if ((challenge.type as string) === 'tls-alpn-01') {
          // ECDSA like the served certificate: Node keeps the key type of the server's own context when SNI swaps in
          // another, and a challenge certificate with an RSA key (acme-client's default) is then never presented.
          const [challengeKey, challengeCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey('P-256'));
          this.alpnChallenges.set(authz.identifier.value.toLowerCase(), { cert: challengeCert.toString(), key: challengeKey.toString() });
        } else {
          this.challenges.set(challenge.token, keyAuthorization);
        }
      },
      challengeRemoveFn: async (authz, challenge) => {
        if ((challenge.type as string) === 'tls-alpn-01') this.alpnChallenges.delete(authz.identifier.value.toLowerCase());
        else this.challenges.delete(challenge.token);
      },
    });
    return describeCertificate(cert, key.toString(), false);
  }

  /**
   * HTTP-01 first while the plain-HTTP listener is up; after a failure the other way round (port 80 may be bound
   * here yet closed by a firewall), as Caddy does; TLS-ALPN-01 alone without that listener.
   */
  private challengeTypes(): Array<'http-01' | 'tls-alpn-01'> {
    if (!(this.o.httpChallengeReady?.() ?? false)) return ['tls-alpn-01'];
    return this.failures % 2 === 1 ? ['tls-alpn-01', 'http-01'] : ['http-01', 'tls-alpn-01'];
  }

  /** acme-client talks through its own axios instance: give it a timeout, and any extra roots. */
  private configureHttp(): void {
    acme.axios.defaults.timeout = 30_000;
    if (this.o.rootCaFile !== '') {
      let extra: string;
      try {
        extra = readFileSync(this.o.rootCaFile, 'utf8');
      } catch (err) {
        throw new Error(`webTLSACMERootCA: ${(err as Error).message}`);
      }
      acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, extra] });
    }
    acme.setLogger((message) => this.log.debug(`acme-client: ${message}`));
  }

  private certFiles(): { cert: string; key: string } {
    const base = join(this.folder, this.o.domains[0]!);
    return { cert: `${base}.crt`, key: `${base}.key` };
  }

  private save(c: TlsCredentials): void {
    const files = this.certFiles();
    writeSecret(files.key, c.key);
    writeSecret(files.cert, c.cert);
  }

  /** The cached certificate, if it covers every domain and has not expired. */
  private loadCached(): TlsCredentials | undefined {
    const files = this.certFiles();
    const cert = readOrUndefined(files.cert);
    const key = readOrUndefined(files.key);
    if (cert === undefined || key === undefined) return undefined;
    try {
      const leaf = new X509Certificate(cert);
      const missing = this.o.domains.filter((d) => leaf.checkHost(d, { wildcards: false }) === undefined);
      const c = describeCertificate(cert, key, false);
      if (missing.length > 0) {
        this.log.info({ missing }, `ACME: the cached certificate does not cover ${missing.join(', ')}; ordering a new one`);
        return undefined;
      }
      if (c.notAfter.getTime() <= Date.now()) {
        this.log.info({ notAfter: c.notAfter.toISOString() }, 'ACME: the cached certificate has expired; ordering a new one');
        return undefined;
      }
      this.log.info({ file: files.cert, notAfter: c.notAfter.toISOString(), sha256: c.sha256 }, `ACME: serving the cached certificate for ${this.o.domains.join(', ')}`);
      return c;
    } catch (err) {
      this.log.warn({ file: files.cert, err: (err as Error).message }, 'ACME: the cached certificate cannot be read; ordering a new one');
      return undefined;
    }
  }

  private standIn(): TlsCredentials {
    const c = selfSignedCredentials(this.o.domains);
    this.log.warn(
      { domains: this.o.domains, sha256: c.sha256, notAfter: c.notAfter.toISOString() },
      `TLS: no CA certificate for ${this.o.domains.join(', ')} yet; serving a self-signed one until the ACME order succeeds (browsers warn about it)`,
    );
    return c;
  }
}

/** An ACME problem's detail, or the error's message, on one line. */
function describeError(err: unknown): string {
  const e = err as { message?: string; response?: { data?: { detail?: string } } };
  const text = e.response?.data?.detail ?? e.message ?? String(err);
  return text.replace(/\s+/g, ' ').trim();
}
