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
  /**
   * Reads `fd` (a dup of it) with recvmmsg from now on: datagram i at
   * bytes[i*slot], its length in lengths[i] (0 when it did not fit), its
   * sender in addresses[i*addressBytes]; `onBatch(count)` once per batch.
   */
  receive(fd: number, bytes: Buffer, lengths: Uint32Array, addresses: Buffer, slot: number, onBatch: (count: number) => void): ReceiveHandle;
  stopReceiving(handle: ReceiveHandle): void;
}

declare const receiveBrand: unique symbol;
export type ReceiveHandle = { readonly [receiveBrand]: true };

const ADDON = 'native/udp-batch/build/Release/udp_batch.node';

let loaded: { binding: NativeUdpBatch } | { error: string } | undefined;

export function nativeUdpBatch(): { binding: NativeUdpBatch } | { error: string } {
  loaded ??= loadAddon<NativeUdpBatch>(ADDON, 'g++, make and python3');
  return loaded;
}

/** Node's handle of a dgram socket, behind a private symbol (the public `_handle` accessor is deprecated and warns). */
function dgramHandle(socket: Socket): { fd?: unknown; recvStop?: () => number } | undefined {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (state === undefined) return undefined;
  return (socket as unknown as Record<symbol, { handle?: { fd?: unknown; recvStop?: () => number } } | undefined>)[state]?.handle;
}

/** Stops dgram's own reading of a bound socket (its 'message' events), for a reader of our own; false when this Node does not allow it. */
export function stopDgramReading(socket: Socket): boolean {
  const handle = dgramHandle(socket);
  if (typeof handle?.recvStop !== 'function') return false;
  return handle.recvStop() === 0;
}

/**
 * The descriptor of a bound dgram socket. Node keeps its handle behind a
 * private symbol; the public `_handle` accessor is deprecated and warns.
 */
export function socketFd(socket: Socket): number | undefined {
  const fd = dgramHandle(socket)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
