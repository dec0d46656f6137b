/**
 * Loads the batched-UDP helper built from `native/udp-batch` (node-gyp, at
 * `npm run build`). Optional: the server runs without it, more slowly.
 */
import { existsSync } from 'node:fs';
import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeUdpBatch {
  /** A peer's sockaddr, for `send`. */
  address(host: string, port: number): Buffer;
  /** Packets sent (0..count), or −errno when none could go. */
  send(fd: number, bytes: Uint8Array, lengths: Uint32Array, count: number, address: Buffer): number;
  gso(): boolean;
  setGso(on: boolean): void;
}

const ADDON = join('native', 'udp-batch', 'build', 'Release', 'udp_batch.node');

let loaded: { binding: NativeUdpBatch } | { error: string } | undefined;

/** The repository root: the nearest folder above this module holding `native/`. (Source and dist/ sit at different depths.) */
function addonPath(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export function nativeUdpBatch(): { binding: NativeUdpBatch } | { error: string } {
  if (loaded !== undefined) return loaded;
  if (process.platform !== 'linux') return (loaded = { error: `sendmmsg batching is Linux-only (this is ${process.platform})` });
  const path = addonPath();
  if (path === undefined) return (loaded = { error: `${ADDON} is not built (npm run build builds it; it needs g++, make and python3)` });
  try {
    loaded = { binding: createRequire(import.meta.url)(path) as NativeUdpBatch };
  } catch (e) {
    loaded = { error: `${ADDON} did not load: ${e instanceof Error ? e.message : String(e)}` };
  }
  return loaded;
}

/**
 * The descriptor of a bound dgram socket. Node keeps its handle behind a
 * private symbol; the public `_handle` accessor is deprecated and warns.
 */
export function socketFd(socket: Socket): number | undefined {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (state === undefined) return undefined;
  const handle = (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[state]?.handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
