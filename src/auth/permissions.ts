import type { AuthAction, AuthPermission } from '../config/schema.js';

/** The actions a request can ask for. */
export type RequestAction = Extract<AuthAction, 'publish' | 'read' | 'api' | 'metrics'>;

/**
 * MediaMTX's rule: a permission grants its action; for publish and read its
 * path is empty (any path), `~regex` (matched unanchored) or an exact name.
 */
export function permits(permissions: readonly AuthPermission[], action: RequestAction, path: string): boolean {
  for (const p of permissions) {
    if (p.action !== action) continue;
    if (action !== 'publish' && action !== 'read') return true;
    if (p.path === '' || p.path === path) return true;
    if (p.path.startsWith('~')) {
      try {
        if (new RegExp(p.path.slice(1)).test(path)) return true;
      } catch {
        // A JWT's permissions are not validated in advance: a bad regex grants nothing.
      }
    }
  }
  return false;
}

/** Permissions as a JWT claim carries them: a list, or that list as a JSON string. */
export function parsePermissionsClaim(claim: unknown): AuthPermission[] | undefined {
  let value = claim;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (!Array.isArray(value)) return undefined;
  const out: AuthPermission[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { action, path } = item as { action?: unknown; path?: unknown };
    if (typeof action !== 'string') return undefined;
    out.push({ action: action as AuthAction, path: typeof path === 'string' ? path : '' });
  }
  return out;
}
