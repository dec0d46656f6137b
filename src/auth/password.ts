import { createHash, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Checks a presented user name or password against a configured one, in
 * MediaMTX's three forms: `sha256:<base64 digest>`, `argon2:<PHC string>`, or
 * plain text. An empty configured value accepts anything, as in MediaMTX.
 */
export async function credentialMatches(configured: string, presented: string): Promise<boolean> {
  if (configured === '') return true;
  if (configured.startsWith('sha256:')) {
    return equal(configured.slice(7), createHash('sha256').update(presented).digest('base64'));
  }
  if (configured.startsWith('argon2:')) {
    try {
      return await argon2.verify(configured.slice(7), presented);
    } catch {
      return false;
    }
  }
  return equal(configured, presented);
}
