/**
 * Loads the batched-UDP helper built from `native/udp-batch` (node-gyp, at
 * `npm run build`). Optional: the server runs without it, more slowly.
 */
import type { Socket } from 'node:dgram';
import { loadAddon } from '../native-addon.js';

export interface NativeUdpBatch {
  /** A peer's sockaddr, for `send`. */
  address(host: string, port: number): Buffer;
  /** Packets sent (0..count), or −errno when none could go. `address`: one sockaddr for all, or one per packet side by side. */
  send(fd: number, bytes: Uint8Array, lengths: Uint32Array, count: number, address: Buffer): number;
  gso(): boolean;
  setGso(on: boolean): void;
}

const ADDON = 'native/udp-batch/build/Release/udp_batch.node';

let loaded: { binding: NativeUdpBatch } | { error: string } | undefined;

export function nativeUdpBatch(): { binding: NativeUdpBatch } | { error: string } {
  loaded ??= loadAddon<NativeUdpBatch>(ADDON, 'g++, make and python3');
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
