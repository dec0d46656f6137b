/**
 * ACME TLS-ALPN-01 (RFC 8737) on the web port itself: for a handshake that
 * offers only `acme-tls/1` for a name with a challenge under way, the server
 * presents that challenge's certificate instead of its own. It lets
 * `webTLS: auto` work where port 80 is closed or cannot be bound.
 *
 * Node picks the certificate in `SNICallback`, which does not see the
 * client's ALPN list; `ALPNCallback`, which does, runs just before it in the
 * same handshake step (one synchronous call from OpenSSL, so no other
 * handshake can come between), and hands over what it saw.
 */
import { createSecureContext, type SecureContext, type TlsOptions } from 'node:tls';

export const ACME_TLS_ALPN = 'acme-tls/1';

/** Challenge certificates by lower-case domain name, PEM; entries come and go while orders run. */
export type AlpnChallenges = ReadonlyMap<string, { readonly cert: string; readonly key: string }>;

export function tlsAlpnChallengeOptions(challenges: AlpnChallenges): Pick<TlsOptions, 'ALPNCallback' | 'SNICallback'> {
  let challengedName: string | undefined;
  return {
    ALPNCallback: ({ servername, protocols }) => {
      challengedName = undefined;
      const name = servername?.toLowerCase();
      if (name !== undefined && protocols.includes(ACME_TLS_ALPN) && challenges.has(name)) {
        challengedName = name;
        return ACME_TLS_ALPN;
      }
      // What https.Server offers by itself: HTTP/1.1 only (the same refusal as before for a client without it).
      return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
    },
    SNICallback: (servername, done) => {
      const name = challengedName;
      challengedName = undefined;
      const challenge = name !== undefined && name === servername.toLowerCase() ? challenges.get(name) : undefined;
      let context: SecureContext | undefined;
      try {
        context = challenge === undefined ? undefined : createSecureContext({ cert: challenge.cert, key: challenge.key });
      } catch (err) {
        done(err as Error, undefined);
        return;
      }
      // undefined: the server's own certificate.
      done(null, context);
    },
  };
}
