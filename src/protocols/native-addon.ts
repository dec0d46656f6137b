/**
 * Loads an optional native addon built by `npm run build` (node-gyp, from
 * `native/`). The server runs without any of them, more slowly, and says why.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root's `native/…` file: the nearest folder above this module holding it. (Source and dist/ sit at different depths.) */
function addonPath(relative: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** `relative` is the built file, e.g. `native/udp-batch/build/Release/udp_batch.node`; `needs` says what building it takes. */
export function loadAddon<T>(relative: string, needs: string): { binding: T } | { error: string } {
  if (process.platform !== 'linux') return { error: `the native helpers are built for Linux only (this is ${process.platform})` };
  const path = addonPath(relative);
  if (path === undefined) return { error: `${relative} is not built (npm run build builds it; it needs ${needs})` };
  try {
    return { binding: createRequire(import.meta.url)(path) as T };
  } catch (e) {
    return { error: `${relative} did not load: ${e instanceof Error ? e.message : String(e)}` };
  }
}
