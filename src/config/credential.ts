/**
 * User names and passwords of `authInternalUsers`, in MediaMTX's forms: plain
 * text from a restricted alphabet (so it survives URLs and shells),
 * `sha256:<base64 of the SHA-256 digest>`, or `argon2:<PHC string>` as the
 * `argon2` CLI prints it.
 */

const PLAIN = /^[a-zA-Z0-9!$()*+.;<=>[\]^_\-{}@#&]+$/;
const SHA256 = /^sha256:[a-zA-Z0-9+/=]+$/;
const ARGON2 = /^argon2:\$argon2(?:id|i|d)\$(?:v=\d+\$)?[a-z]=\d+(?:,[a-z]=\d+)*\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;
const PLAIN_CHARS = 'A-Z a-z 0-9 ! $ ( ) * + . ; < = > [ ] ^ _ - { } @ # &';

/** Why `credential` is not acceptable, or undefined. An empty one is fine (no password). */
export function checkCredential(credential: string): string | undefined {
  if (credential === '') return undefined;
  if (credential.startsWith('sha256:')) {
    return SHA256.test(credential) ? undefined : 'a sha256 hash must be base64 encoded (sha256:<base64>)';
  }
  if (credential.startsWith('argon2:')) {
    return ARGON2.test(credential) ? undefined : 'not an argon2 hash (expected argon2:$argon2id$v=19$m=...,t=...,p=...$salt$hash)';
  }
  return PLAIN.test(credential) ? undefined : `contains characters that are not supported; use ${PLAIN_CHARS}, or a sha256: or argon2: hash`;
}
