/**
 * `webAllowOrigins` semantics: `*` allows any origin; otherwise the Origin
 * header must equal one entry (scheme://host[:port]). Requests without an
 * Origin header (non-browser clients) are allowed: origin checks protect
 * browsers' users from other sites, not the server from tools.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || allowed.includes('*')) return true;
  const normalized = origin.replace(/\/$/, '').toLowerCase();
  return allowed.some((a) => a.replace(/\/$/, '').toLowerCase() === normalized);
}
