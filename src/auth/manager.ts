import type { IncomingHttpHeaders } from 'node:http';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import type { AuthInternalUser, AuthPermission, ResolvedConfig } from '../config/schema.js';
import { IpNetworks, ipOf, unmapIp } from './address.js';
import { credentialsOf, hasCredentials, type Credentials } from './credentials.js';
import { FailureLimiter } from './limiter.js';
import { credentialMatches } from './password.js';
import { parsePermissionsClaim, permits, type RequestAction } from './permissions.js';

/** One thing a client wants to do, with what it presented. */
export interface AuthRequest {
  readonly action: RequestAction;
  /** The stream path for publish and read; '' for api and metrics. */
  readonly path: string;
  /** `rtmp`, `ws-nal`, `ws-fmp4`, `jpeg`, ...; '' for api and metrics. */
  readonly protocol: string;
  /** Raw query string, without `?`. */
  readonly query: string;
  readonly credentials: Credentials;
  /** The client's IP (no port). */
  readonly ip: string;
  /** Connection id when there is one (MediaMTX's `id`). */
  readonly id?: string;
}

export type AuthResult =
  | { readonly ok: true; readonly user: string }
  | {
      readonly ok: false;
      /** Safe to log and to tell the client. */
      readonly reason: string;
      /** The client presented nothing: HTTP answers 401 with WWW-Authenticate (a browser then prompts). */
      readonly askCredentials: boolean;
    };

type AuthSettings = Pick<
  ResolvedConfig,
  | 'authMethod'
  | 'authInternalUsers'
  | 'authHTTPAddress'
  | 'authHTTPExclude'
  | 'authJWTJWKS'
  | 'authJWTClaimKey'
  | 'authJWTExclude'
  | 'authJWTIssuer'
  | 'authJWTAudience'
  | 'authMaxFailures'
  | 'authFailureWindow'
  | 'authBlockDuration'
  | 'readTimeout'
>;

interface CompiledUser {
  readonly conf: AuthInternalUser;
  readonly ips: IpNetworks;
}

/** JWKS keys are fetched again after this long (MediaMTX refreshes hourly), or at once for an unknown key id. */
const JWKS_MAX_AGE_MS = 3_600_000;

/**
 * Decides every publish, read, API and metrics request with MediaMTX's
 * three methods (internal users, an HTTP endpoint, JWTs from a JWKS), and
 * blocks IPs that keep failing.
 */
export class AuthManager {
  private settings!: AuthSettings;
  private users: CompiledUser[] = [];
  private jwks: JWTVerifyGetKey | undefined;
  private jwksUrl = '';
  readonly limiter = new FailureLimiter(0, 0, 0);
  /** Failed authentications by action, for metrics. */
  readonly failures = { publish: 0, read: 0, api: 0, metrics: 0 };

  constructor(
    settings: AuthSettings,
    private readonly log: Logger,
  ) {
    this.update(settings);
  }

  /** A reload: new users and methods apply to the next request; the JWKS cache survives unless its URL changed. */
  update(settings: AuthSettings): void {
    this.settings = settings;
    this.users = settings.authInternalUsers.map((conf) => ({ conf, ips: new IpNetworks(conf.ips) }));
    if (settings.authJWTJWKS !== this.jwksUrl) {
      this.jwksUrl = settings.authJWTJWKS;
      this.jwks = undefined;
    }
    this.limiter.maxFailures = settings.authMaxFailures;
    this.limiter.windowMs = settings.authFailureWindow;
    this.limiter.blockMs = settings.authBlockDuration;
  }

  /** `POST /v3/auth/jwks/refresh`: forget the cached keys. */
  refreshJwks(): void {
    this.jwks = undefined;
  }

  async authenticate(req: AuthRequest): Promise<AuthResult> {
    const blocked = this.limiter.blockedFor(req.ip);
    if (blocked > 0) {
      return { ok: false, reason: `too many failed authentication attempts from ${req.ip}; retry in ${Math.ceil(blocked / 1000)}s`, askCredentials: false };
    }
    let result: AuthResult;
    try {
      result = await this.decide(req);
    } catch (err) {
      result = { ok: false, reason: `authentication failed: ${(err as Error).message}`, askCredentials: false };
    }
    if (!result.ok) {
      this.failures[req.action]++;
      // Asking without credentials is how clients discover they need some, not a guess.
      if (hasCredentials(req.credentials) && this.limiter.fail(req.ip)) {
        this.log.warn(
          { ip: req.ip, failures: this.settings.authMaxFailures, windowMs: this.settings.authFailureWindow, blockMs: this.settings.authBlockDuration },
          `blocking ${req.ip}: too many failed authentication attempts`,
        );
      }
    }
    return result;
  }

  /**
   * For transports: reads credentials from the headers and query, returns a
   * refusal reason or undefined.
   */
  async authorize(args: {
    action: RequestAction;
    path: string;
    protocol: string;
    query: URLSearchParams | string;
    headers?: IncomingHttpHeaders;
    remoteAddress: string;
    /** The bare client IP, when the caller has it. */
    ip?: string;
    id?: string;
  }): Promise<AuthResult> {
    const query = typeof args.query === 'string' ? new URLSearchParams(args.query) : args.query;
    return this.authenticate({
      action: args.action,
      path: args.path,
      protocol: args.protocol,
      query: query.toString(),
      credentials: credentialsOf(args.headers, query),
      ip: args.ip !== undefined && args.ip !== '' ? unmapIp(args.ip) : ipOf(args.remoteAddress),
      id: args.id,
    });
  }

  /**
   * Whether anyone at `ip` may do `action` on `path` without presenting anything: only internal users can say so
   * without a request to someone else (an HTTP endpoint or a JWT could admit some anonymous requests and not others).
   */
  anyoneMay(action: RequestAction, path: string, ip: string): boolean {
    if (this.settings.authMethod !== 'internal' || this.limiter.blockedFor(ip) > 0) return false;
    return this.users.some((u) => u.conf.user === 'any' && (u.ips.empty || u.ips.contains(ip)) && permits(u.conf.permissions, action, path));
  }

  private decide(req: AuthRequest): Promise<AuthResult> {
    switch (this.settings.authMethod) {
      case 'internal':
        return this.internal(req);
      case 'http':
        return this.http(req);
      case 'jwt':
        return this.jwt(req);
    }
  }

  private async internal(req: AuthRequest): Promise<AuthResult> {
    const { user, pass } = req.credentials;
    for (const u of this.users) {
      if (!u.ips.empty && !u.ips.contains(req.ip)) continue;
      if (!permits(u.conf.permissions, req.action, req.path)) continue;
      if (u.conf.user === 'any') return { ok: true, user };
      if ((await credentialMatches(u.conf.user, user)) && (await credentialMatches(u.conf.pass, pass))) return { ok: true, user };
    }
    const what = describe(req);
    return hasCredentials(req.credentials)
      ? { ok: false, reason: `authentication failed: wrong credentials, or no permission to ${what}`, askCredentials: false }
      : { ok: false, reason: `authentication required to ${what}`, askCredentials: true };
  }

  private async http(req: AuthRequest): Promise<AuthResult> {
    if (permits(this.settings.authHTTPExclude, req.action, req.path)) return { ok: true, user: req.credentials.user };
    const body = {
      user: req.credentials.user,
      password: req.credentials.pass,
      token: req.credentials.token,
      ip: req.ip,
      action: req.action,
      path: req.path,
      protocol: req.protocol,
      id: req.id ?? null,
      query: req.query,
    };
    let res: Response;
    try {
      res = await fetch(this.settings.authHTTPAddress, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.settings.readTimeout),
      });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      return { ok: false, reason: `authentication failed: the HTTP authentication server did not answer (${cause})`, askCredentials: false };
    }
    // Drain the body so the connection can be reused; only the status matters.
    const text = (await res.text().catch(() => '')).slice(0, 200).trim();
    if (res.status >= 200 && res.status <= 299) return { ok: true, user: req.credentials.user };
    return {
      ok: false,
      reason: `authentication failed: the HTTP authentication server answered ${res.status}${text ? ` (${text})` : ''}`,
      askCredentials: !hasCredentials(req.credentials),
    };
  }

  private async jwt(req: AuthRequest): Promise<AuthResult> {
    if (permits(this.settings.authJWTExclude, req.action, req.path)) return { ok: true, user: '' };
    // MediaMTX also takes the JWT as a password, for clients that only have user/pass fields.
    const token = req.credentials.token || req.credentials.pass;
    if (token === '') return { ok: false, reason: `a JWT is required to ${describe(req)}`, askCredentials: true };
    this.jwks ??= createRemoteJWKSet(new URL(this.settings.authJWTJWKS), {
      timeoutDuration: this.settings.readTimeout,
      cacheMaxAge: JWKS_MAX_AGE_MS,
    });
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: this.settings.authJWTIssuer || undefined,
        audience: this.settings.authJWTAudience || undefined,
      }));
    } catch (err) {
      return { ok: false, reason: `invalid JWT: ${jwtError(err)}`, askCredentials: false };
    }
    const claimKey = this.settings.authJWTClaimKey;
    const permissions: AuthPermission[] | undefined = parsePermissionsClaim(payload[claimKey]);
    if (permissions === undefined) return { ok: false, reason: `invalid JWT: claim '${claimKey}' is missing or not a list of permissions`, askCredentials: false };
    if (!permits(permissions, req.action, req.path)) return { ok: false, reason: `the JWT does not allow to ${describe(req)}`, askCredentials: false };
    return { ok: true, user: typeof payload.sub === 'string' ? payload.sub : '' };
  }
}

function describe(req: AuthRequest): string {
  return req.action === 'publish' || req.action === 'read' ? `${req.action} '${req.path}'` : `use the ${req.action === 'api' ? 'API' : 'metrics'}`;
}

function jwtError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'signed by a key the JWKS does not have';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof joseErrors.JWKSTimeout) return 'the JWKS did not answer in time';
  return (err as Error).message;
}
