/**
 * Outgoing QUIC packets of one flush, handed to the kernel together.
 *
 * With the native helper (`native/udp-batch`, built by `npm run build`), the
 * packets a connection has ready are laid back to back in one reusable buffer
 * and leave in a single `sendmmsg(2)`, runs of equal-sized packets as one
 * UDP GSO message. Node's `dgram` costs a JavaScript send request, an address
 * check and a syscall per packet, about a fifth of the server's time per
 * session (docs/webtransport-egress.md). Without the helper (not built,
 * another OS, `POLYCAST_UDP_OUTPUT=dgram`), every packet goes through `dgram`
 * as before.
 */
import type { Socket } from 'node:dgram';
import { PacketSlab } from './packet-slab.js';
import { nativeUdpBatch, socketFd, type NativeUdpBatch } from './native-udp-batch.js';

export interface PacketDestination {
  readonly host: string;
  readonly port: number;
}

export interface PacketOutput {
  /** `sendmmsg+gso`, `sendmmsg` or `dgram`: what the server reports at start. */
  readonly mode: string;
  /** Room for the next packet (at least the packet size). */
  next(): Buffer;
  /** The last `next()` region holds a `len`-byte packet for `to`. */
  commit(len: number, to: PacketDestination): void;
  /**
   * Lets `source` write its packets for `to` straight into the batch, as
   * many as it has (native/quic-ngtcp2 connections do: one call per batch
   * instead of one per packet). Returns how many it wrote.
   */
  fill(to: PacketDestination, source: PacketSource): number;
  /** Call at the end of every flush: what is held leaves by the end of this turn of the event loop. */
  end(): void;
  readonly counters: OutputCounters;
}

export interface PacketSource {
  /**
   * Writes up to `room` packets back to back into `bytes` from `pos`, their
   * sizes into `lengths` from `index`; returns how many. Fewer than `room`
   * means it has nothing more to send now.
   */
  writePackets(bytes: Buffer, pos: number, lengths: Uint32Array, index: number, room: number, addresses?: Buffer): number;
}

export interface OutputCounters {
  packets: number;
  /** System calls that carried them (sendmmsg calls, or one per packet through dgram). */
  sends: number;
  /** Packets the kernel would not take at once (full send buffer), queued through dgram instead. */
  deferred: number;
}

/** Packets per batch: a keyframe's worth for one connection (~50 at 1350 B), in one buffer. */
const BATCH_PACKETS = 64;

/** Chooses the output for a bound socket: batched when the helper loads, `dgram` otherwise. */
export function packetOutput(socket: Socket, packetSize: number, env: NodeJS.ProcessEnv = process.env): { output: PacketOutput; why?: string } {
  if (env['POLYCAST_UDP_OUTPUT'] === 'dgram') return { output: new DgramOutput(socket, packetSize), why: 'POLYCAST_UDP_OUTPUT=dgram' };
  const native = nativeUdpBatch();
  if ('error' in native) return { output: new DgramOutput(socket, packetSize), why: native.error };
  const fd = socketFd(socket);
  if (fd === undefined) return { output: new DgramOutput(socket, packetSize), why: "this Node's dgram socket does not expose its descriptor" };
  if (env['POLYCAST_UDP_GSO'] === '0') native.binding.setGso(false);
  return { output: new BatchOutput(socket, fd, packetSize, native.binding) };
}

/** One `dgram` send per packet, from regions of a slab the socket keeps until sent. */
class DgramOutput implements PacketOutput {
  readonly mode = 'dgram';
  readonly counters: OutputCounters = { packets: 0, sends: 0, deferred: 0 };
  private readonly slab: PacketSlab;
  private region: Buffer | undefined;
  private readonly scratch: Buffer;
  private readonly scratchLengths = new Uint32Array(BATCH_PACKETS);

  constructor(
    private readonly socket: Socket,
    packetSize: number,
  ) {
    this.slab = new PacketSlab(packetSize);
    this.scratch = Buffer.allocUnsafe(BATCH_PACKETS * packetSize);
  }

  next(): Buffer {
    this.region = this.slab.next();
    return this.region;
  }

  commit(len: number, to: PacketDestination): void {
    this.socket.send(this.region!, 0, len, to.port, to.host);
    this.slab.commit(len);
    this.counters.packets++;
    this.counters.sends++;
  }

  fill(to: PacketDestination, source: PacketSource): number {
    let total = 0;
    for (;;) {
      const n = source.writePackets(this.scratch, 0, this.scratchLengths, 0, BATCH_PACKETS);
      let off = 0;
      for (let i = 0; i < n; i++) {
        const len = this.scratchLengths[i]!;
        this.scratch.copy(this.next(), 0, off, off + len);
        this.commit(len, to);
        off += len;
      }
      total += n;
      if (n < BATCH_PACKETS) return total;
    }
  }

  end(): void {}
}

/**
 * Packets of every connection that flushed in this turn of the event loop,
 * each with its destination, leaving together when the turn's microtasks
 * are done (or when the batch is full): a frame fanned out to N sessions
 * costs a few sendmmsg calls, not N.
 */
class BatchOutput implements PacketOutput {
  readonly counters: OutputCounters = { packets: 0, sends: 0, deferred: 0 };
  private readonly bytes: Buffer;
  private readonly lengths = new Uint32Array(BATCH_PACKETS);
  /** Each packet's sockaddr (native/common/address.h), side by side. */
  private readonly addressSlab: Buffer;
  private readonly addressBytes: number;
  /** Each packet's destination, for the dgram fallback when the kernel takes only part. */
  private readonly destinations: PacketDestination[] = new Array<PacketDestination>(BATCH_PACKETS);
  private count = 0;
  private pos = 0;
  private sendQueued = false;
  private readonly sendQueuedBatch = (): void => {
    this.sendQueued = false;
    this.send();
  };
  /** Recent peers' sockaddrs (quiche's path names its peer per packet). */
  private readonly addresses = new Map<string, Buffer>();

  constructor(
    private readonly socket: Socket,
    private readonly fd: number,
    private readonly packetSize: number,
    private readonly native: NativeUdpBatch,
  ) {
    this.bytes = Buffer.allocUnsafe(BATCH_PACKETS * packetSize);
    this.addressBytes = native.address('127.0.0.1', 1).length;
    this.addressSlab = Buffer.alloc(BATCH_PACKETS * this.addressBytes);
  }

  get mode(): string {
    return this.native.gso() ? 'sendmmsg+gso' : 'sendmmsg';
  }

  next(): Buffer {
    if (this.count === BATCH_PACKETS) this.send();
    return this.bytes.subarray(this.pos, this.pos + this.packetSize);
  }

  commit(len: number, to: PacketDestination): void {
    this.address(to).copy(this.addressSlab, this.count * this.addressBytes);
    this.destinations[this.count] = to;
    this.lengths[this.count++] = len;
    this.pos += len;
  }

  fill(to: PacketDestination, source: PacketSource): number {
    let total = 0;
    for (;;) {
      if (this.count === BATCH_PACKETS) this.send();
      const room = BATCH_PACKETS - this.count;
      const n = source.writePackets(this.bytes, this.pos, this.lengths, this.count, room, this.addressSlab);
      for (let i = 0; i < n; i++) {
        this.pos += this.lengths[this.count + i]!;
        this.destinations[this.count + i] = to;
      }
      this.count += n;
      total += n;
      if (n < room) return total;
    }
  }

  end(): void {
    if (this.count === 0 || this.sendQueued) return;
    this.sendQueued = true;
    queueMicrotask(this.sendQueuedBatch);
  }

  private send(): void {
    const n = this.count;
    if (n === 0) return;
    this.count = 0;
    this.pos = 0;
    const sent = this.native.send(this.fd, this.bytes, this.lengths, n, this.addressSlab);
    this.counters.packets += n;
    this.counters.sends++;
    const taken = sent < 0 ? 0 : sent;
    if (taken === n) return;
    // The send buffer is full (or the socket is closing): dgram queues the rest in libuv, from copies, since `bytes` is reused.
    let off = 0;
    for (let i = 0; i < taken; i++) off += this.lengths[i]!;
    for (let i = taken; i < n; i++) {
      const len = this.lengths[i]!;
      const d = this.destinations[i]!;
      this.counters.deferred++;
      try {
        this.socket.send(Buffer.from(this.bytes.subarray(off, off + len)), d.port, d.host);
      } catch {
        return; // Closed: the connections go with the socket.
      }
      off += len;
    }
  }

  private address(to: PacketDestination): Buffer {
    const key = `${to.host}|${to.port}`;
    let a = this.addresses.get(key);
    if (a === undefined) {
      if (this.addresses.size >= 4096) this.addresses.clear();
      a = this.native.address(to.host, to.port);
      this.addresses.set(key, a);
    }
    return a;
  }
}
