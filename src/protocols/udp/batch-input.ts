/**
 * Incoming datagrams of the QUIC server, read in batches by the native
 * helper (`native/udp-batch`, recvmmsg) instead of one dgram 'message' event
 * each. dgram allocates a zeroed 64 KiB buffer, formats the sender's address
 * and emits an event per datagram; at 200 sessions the server reads several
 * thousand ACKs a second. Without the helper (not built, or a Node whose
 * dgram handle cannot stop reading, or POLYCAST_UDP_INPUT=dgram), dgram's
 * events are used as before.
 *
 * A datagram handed to `onPacket` is a view of a buffer the next batch
 * reuses: it must be consumed before the call returns (QUIC stacks decrypt
 * and copy what they keep).
 */
import type { Socket } from 'node:dgram';
import { nativeUdpBatch, socketFd, stopDgramReading, type NativeUdpBatch, type ReceiveHandle } from './native-udp-batch.js';

/** The sender of a datagram, one object per peer (cached), as the server routes by it. */
export interface Peer {
  readonly address: string;
  readonly port: number;
}

export type PacketHandler = (msg: Buffer, from: Peer) => void;

/** Datagrams per batch, and the room for each (clients send at most the server's max_udp_payload_size, ~1,350 B). */
const SLOTS = 64;
const SLOT_BYTES = 2048;
/** Senders remembered by their raw address; a server sees a few thousand peers at most at once. */
const MAX_PEERS = 8192;
const AF_INET = 2;
const AF_INET6 = 10;

export interface PacketInput {
  /** `recvmmsg` or `dgram`: what the server reports at start. */
  readonly mode: string;
  stop(): void;
}

/** Starts reading `socket`, batched where the helper allows, else through dgram's events. */
export function packetInput(socket: Socket, onPacket: PacketHandler, env: NodeJS.ProcessEnv = process.env): { input: PacketInput; why?: string } {
  const dgram = (why: string): { input: PacketInput; why: string } => {
    socket.on('message', (msg, rinfo) => onPacket(msg, rinfo));
    return { input: { mode: 'dgram', stop: () => {} }, why };
  };
  if (env['POLYCAST_UDP_INPUT'] === 'dgram') return dgram('POLYCAST_UDP_INPUT=dgram');
  const native = nativeUdpBatch();
  if ('error' in native) return dgram(native.error);
  const fd = socketFd(socket);
  if (fd === undefined) return dgram("this Node's dgram socket does not expose its descriptor");
  if (!stopDgramReading(socket)) return dgram("this Node's dgram socket cannot stop its own reading");
  return { input: new BatchInput(fd, native.binding, onPacket) };
}

class BatchInput implements PacketInput {
  readonly mode = 'recvmmsg';
  private readonly bytes = Buffer.allocUnsafe(SLOTS * SLOT_BYTES);
  private readonly lengths = new Uint32Array(SLOTS);
  private readonly addressBytes: number;
  private readonly addresses: Buffer;
  private readonly handle: ReceiveHandle;
  private readonly peers = new Map<number | string, Peer>();
  private stopped = false;
  /** The batch being handed on: its size, and the next datagram. */
  private count = 0;
  private next = 0;

  constructor(
    fd: number,
    private readonly native: NativeUdpBatch,
    private readonly onPacket: PacketHandler,
  ) {
    this.addressBytes = native.address('127.0.0.1', 1).length;
    this.addresses = Buffer.alloc(SLOTS * this.addressBytes);
    this.handle = native.receive(fd, this.bytes, this.lengths, this.addresses, SLOT_BYTES, (n) => this.onBatch(n));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.native.stopReceiving(this.handle);
  }

  private onBatch(count: number): void {
    this.count = count;
    this.next = 0;
    this.step();
  }

  /**
   * One datagram, then the next in a microtask: what the previous one set
   * going (a writer's continuation after its bytes were taken) runs first,
   * as between dgram's events. Read in one go, a batch of ACKs would hand
   * the new credit to whatever was queued before any writer could answer,
   * and a less urgent stream could finish first. The whole batch is done
   * before the native side reads into the buffer again: a callback returns
   * only once its microtasks have run.
   */
  private readonly step = (): void => {
    while (this.next < this.count && !this.stopped) {
      const i = this.next++;
      const len = this.lengths[i]!;
      if (len === 0) continue;
      const from = this.peer(i * this.addressBytes);
      if (from === undefined) continue;
      const at = i * SLOT_BYTES;
      this.onPacket(this.bytes.subarray(at, at + len), from);
      if (this.next < this.count) {
        queueMicrotask(this.step);
        return;
      }
    }
  };

  /** The sender at `off` in the address slab (a sockaddr_in or sockaddr_in6), from the cache when seen before. */
  private peer(off: number): Peer | undefined {
    const a = this.addresses;
    const family = a.readUInt16LE(off);
    const port = a.readUInt16BE(off + 2);
    let key: number | string;
    if (family === AF_INET) key = a.readUInt32BE(off + 4) * 65536 + port;
    else if (family === AF_INET6) key = a.toString('hex', off + 8, off + 24) + port;
    else return undefined;
    let p = this.peers.get(key);
    if (p === undefined) {
      if (this.peers.size >= MAX_PEERS) this.peers.clear();
      p = { address: family === AF_INET ? `${a[off + 4]}.${a[off + 5]}.${a[off + 6]}.${a[off + 7]}` : ipv6(a, off + 8), port };
      this.peers.set(key, p);
    }
    return p;
  }
}

/** An IPv6 address as Node's dgram names it (RFC 5952: the longest run of zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`). */
export function ipv6(a: Buffer, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(a.readUInt16BE(off + i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${a[off + 12]}.${a[off + 13]}.${a[off + 14]}.${a[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
