/**
 * QUIC connections on ngtcp2 (`native/quic-ngtcp2`, built by `npm run build`
 * against Debian's libngtcp2 and GnuTLS). Why a second stack beside quiche:
 * quiche's binding costs about 5 µs per packet sent before a byte reaches a
 * socket, most of it the N-API crossing and the result objects of one
 * `send` call per packet (docs/webtransport-egress.md). Here a flush writes
 * all of a connection's packets in one call.
 */
import { randomBytes } from 'node:crypto';
import type { RecvInfo } from '@matrixai/quic/native/types.js';
import { loadAddon } from '../native-addon.js';
import { nativeUdpBatch } from '../udp/native-udp-batch.js';
import type { QuicConnection } from './quic-connection.js';
import { isSerializedFrame } from '../../stream/types.js';

/** What the addon does with a connection, beyond quiche's methods (`QuicConnection`) or in another form. */
type ConnectionCalls = Pick<
  QuicConnection,
  | 'onTimeout'
  | 'streamRecv'
  | 'streamShutdown'
  | 'streamPriority'
  | 'peerStreamsLeftUni'
  | 'peerStreamsLeftBidi'
  | 'dgramMaxWritableLen'
  | 'isDgramSendQueueFull'
  | 'dgramSend'
  | 'dgramRecvVec'
  | 'close'
> & {
  /** A Uint8Array is copied; a payload from `share` is referenced. */
  streamSend(id: number, data: Uint8Array | SharedPayload, fin: boolean): number | null;
  /** `remote` only when the peer's address changed. */
  recv(packet: Uint8Array, remote?: Buffer): void;
  writePackets(bytes: Buffer, pos: number, lengths: Uint32Array, index: number, room: number, addresses?: Buffer): number;
  readable(): number[];
  peerError(): { isApp: boolean; errorCode: number; reason: Uint8Array } | null;
  takeConnectionIds(): string[] | null;
  /** DER of the peer's leaf certificate (what a client checks against a published hash). */
  peerCertificate(): Buffer | null;
  /** Client: reads `fd` itself from now on; `onInput` after every `batch` packets at most. */
  attach(fd: number, batch: number, onInput: ClientInputHandler): void;
  /** Client: sends what is ready on the attached socket; returns the packets sent. */
  flushOut(): number;
  /** Client: stops reading and closes the socket. */
  detach(): void;
  destroy(): void;
  /** Streams the connection still keeps state for. */
  streamCount(): number;
};

/**
 * The addon's functions take the connection's handle first (a number, read
 * from its view), not the connection as `this`: looking a wrapped object's
 * pointer up on every call cost 3.5 % of the server's time.
 */
type ByHandle<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (handle: number, ...args: A) => R : never };
type NativeCalls = ByHandle<ConnectionCalls>;

/** Every function of `ConnectionCalls`, for `callsOf`: a record, so the compiler says when one is missing. */
const CALLS: Record<keyof ConnectionCalls, true> = {
  onTimeout: true, streamRecv: true, streamShutdown: true, streamPriority: true, peerStreamsLeftUni: true, peerStreamsLeftBidi: true,
  dgramMaxWritableLen: true, isDgramSendQueueFull: true, dgramSend: true, dgramRecvVec: true, close: true, streamSend: true, recv: true,
  writePackets: true, readable: true, peerError: true, takeConnectionIds: true, peerCertificate: true, attach: true, flushOut: true,
  detach: true, destroy: true, streamCount: true,
};

declare const connectionBrand: unique symbol;
/** The addon's connection object: held for as long as its handle is used (the handle is freed when it is collected). */
type NativeConnection = { readonly [connectionBrand]: true };

declare const contextBrand: unique symbol;
/** Certificate, TLS priorities and transport settings shared by the connections accepted with it. */
export type Ngtcp2Context = { readonly [contextBrand]: true };

/**
 * What a client's own socket delivered since the last call: packets, their
 * bytes, and the datagrams they came in (fewer than packets when the kernel
 * coalesced a GSO send, which the client's socket accepts with UDP_GRO).
 */
export type ClientInputHandler = (packets: number, bytes: number, datagrams: number) => void;

declare const payloadBrand: unique symbol;
/** Bytes copied to native memory once, which any connection's streams can queue by reference. */
type SharedPayload = { readonly [payloadBrand]: true };

interface NativeQuic extends NativeCalls {
  share(bytes: Uint8Array): SharedPayload;
  /** A UDP socket connected to `remote` (a sockaddr): its descriptor and local sockaddr. */
  clientSocket(remote: Buffer): [number, Buffer];
  /** A server's context; with `null` certificate and key, a client's (no certificate of its own, the server's not verified: check its hash). */
  createContext(cert: string | null, key: string | null, options: Ngtcp2Options): Ngtcp2Context;
  Connection: new (
    ctx: Ngtcp2Context,
    /** The client's first Initial (server); null for a client, which then sends its own. */
    initial: Uint8Array | null,
    scid: Uint8Array,
    /** Server: the client's original destination id after a Retry, else null. Client: the destination id it starts with. */
    odcid: Uint8Array | null,
    local: Buffer,
    remote: Buffer,
    view: Float64Array,
  ) => NativeConnection;
}

export interface Ngtcp2Options {
  readonly maxUdpPayloadSize: number;
  /** Largest DATAGRAM frame accepted (default 65535). */
  readonly maxDatagramFrameSize?: number;
  readonly idleTimeoutMs: number;
  readonly initialMaxData: number;
  readonly initialMaxStreamData: number;
  readonly initialMaxStreams: number;
  /** PING after this long without sending; 0 never. */
  readonly keepAliveMs?: number;
}

const ADDON = 'native/quic-ngtcp2/build/Release/quic_ngtcp2.node';
let loaded: { binding: NativeQuic } | { error: string } | undefined;

/** The ngtcp2 stack, or why it is not there (not built: Debian's libngtcp2-dev, libngtcp2-crypto-gnutls-dev and libgnutls28-dev are missing). */
export function nativeQuic(): { binding: NativeQuic } | { error: string } {
  loaded ??= loadAddon<NativeQuic>(ADDON, 'libngtcp2-dev, libngtcp2-crypto-gnutls-dev and libgnutls28-dev');
  return loaded;
}

function sockaddr(host: string, port: number): Buffer {
  const udp = nativeUdpBatch();
  if ('error' in udp) throw new Error(`ngtcp2 connections need native/udp-batch too: ${udp.error}`);
  return udp.binding.address(host, port);
}

/**
 * Slots of the state the native connection refreshes after every call that
 * changes it (native/quic-ngtcp2/quic_conn.c, update_view), so the questions
 * the server asks after each packet cost no call.
 */
const STATE = 0;
export const ESTABLISHED = 1;
const READABLE = 2;
const IDS_CHANGED = 3;
const DATAGRAMS = 4;
export const TIMEOUT_MS = 5;
const HANDLE = 6;
export const VIEW_SLOTS = 7;
const CLOSED = 3;

/**
 * A media frame fanned out to N sessions was copied N times into native
 * memory (and malloc'd and freed N times); a frame serialized once for every
 * reader (`serializeOnce`) is now copied once and referenced by each
 * stream. Below this size the lookup costs more than the copy it saves.
 */
const SHARE_FROM = 512;
const payloads = new WeakMap<Uint8Array, SharedPayload>();

function sharedPayload(bytes: Uint8Array): SharedPayload {
  let p = payloads.get(bytes);
  if (p === undefined) {
    const quic = nativeQuic();
    if ('error' in quic) throw new Error(quic.error);
    p = quic.binding.share(bytes);
    payloads.set(bytes, p);
  }
  return p;
}

/**
 * A raw connection's calls as methods (its handle bound), for code that
 * drives the addon directly: the in-memory pairs of the addon's tests and
 * the bench's floor. The object keeps the connection alive.
 */
export function callsOf(binding: NativeQuic, view: Float64Array, connection: NativeConnection): ConnectionCalls & { readonly connection: NativeConnection } {
  const h = view[HANDLE]!;
  const calls: Record<string, unknown> = { connection };
  for (const name of Object.keys(CALLS) as Array<keyof ConnectionCalls>) {
    const call = binding[name] as (handle: number, ...args: unknown[]) => unknown;
    calls[name] = (...args: unknown[]) => call(h, ...args);
  }
  return calls as unknown as ConnectionCalls & { readonly connection: NativeConnection };
}

/** What a server's and a client's connection share: the native connection, and the state view it refreshes. */
abstract class Ngtcp2Base {
  protected readonly view = new Float64Array(VIEW_SLOTS);
  /** Keeps the addon's connection, and with it `h`, alive. */
  protected readonly native: NativeConnection;
  protected readonly h: number;
  protected readonly q: NativeCalls;

  protected constructor(binding: NativeQuic, create: (view: Float64Array) => NativeConnection) {
    this.q = binding;
    this.native = create(this.view);
    // A small integer, so V8 keeps it unboxed (a double field would box it for every call).
    this.h = this.view[HANDLE]! | 0;
  }

  /** As of the last call (the flush that precedes every arming of the timer). */
  timeout(): number | null {
    const ms = this.view[TIMEOUT_MS]!;
    return ms < 0 ? null : ms;
  }

  onTimeout(): void {
    this.q.onTimeout(this.h);
  }

  /** Streams the connection still keeps state for (tests check that finished ones are let go). */
  streamCount(): number {
    return this.q.streamCount(this.h);
  }

  isEstablished(): boolean {
    return this.view[ESTABLISHED] === 1;
  }

  isClosed(): boolean {
    return this.view[STATE] === CLOSED;
  }

  isReadable(): boolean {
    return this.view[READABLE] === 1;
  }

  readable(): number[] {
    return this.q.readable(this.h);
  }

  streamSend(id: number, data: Uint8Array, fin: boolean): number | null {
    return this.q.streamSend(this.h, id, data.length >= SHARE_FROM && isSerializedFrame(data) ? sharedPayload(data) : data, fin);
  }

  streamRecv(id: number, buf: Uint8Array): [number, boolean] | null {
    return this.q.streamRecv(this.h, id, buf);
  }

  close(app: boolean, code: number, reason: Uint8Array): void {
    this.q.close(this.h, app, code, reason);
  }

  peerError(): { isApp: boolean; errorCode: number; reason: Uint8Array } | null {
    return this.q.peerError(this.h);
  }
}

/** An accepted connection, with quiche's method names (see `QuicConnection`). */
export class Ngtcp2Connection extends Ngtcp2Base implements QuicConnection {
  readonly sendsHalfRtt = true;
  private host: string;
  private port: number;

  constructor(binding: NativeQuic, ctx: Ngtcp2Context, initial: Uint8Array, scid: Uint8Array, odcid: Uint8Array | null, info: RecvInfo) {
    super(binding, (view) => new binding.Connection(ctx, initial, scid, odcid, sockaddr(info.to.host, info.to.port), sockaddr(info.from.host, info.from.port), view));
    this.host = info.from.host;
    this.port = info.from.port;
  }

  recv(packet: Uint8Array, info: RecvInfo): void {
    const from = info.from;
    if (from.port === this.port && from.host === this.host) {
      this.q.recv(this.h, packet);
      return;
    }
    this.host = from.host;
    this.port = from.port;
    this.q.recv(this.h, packet, sockaddr(from.host, from.port));
  }

  writePackets(bytes: Buffer, pos: number, lengths: Uint32Array, index: number, room: number, addresses?: Buffer): number {
    return this.q.writePackets(this.h, bytes, pos, lengths, index, room, addresses);
  }

  streamShutdown(id: number, direction: number, code: number): void | null {
    return this.q.streamShutdown(this.h, id, direction, code);
  }

  streamPriority(id: number, urgency: number, incremental: boolean): void {
    this.q.streamPriority(this.h, id, urgency, incremental);
  }

  peerStreamsLeftUni(): number {
    return this.q.peerStreamsLeftUni(this.h);
  }

  peerStreamsLeftBidi(): number {
    return this.q.peerStreamsLeftBidi(this.h);
  }

  dgramMaxWritableLen(): number | null {
    return this.q.dgramMaxWritableLen(this.h);
  }

  isDgramSendQueueFull(): boolean {
    return this.q.isDgramSendQueueFull(this.h);
  }

  dgramSend(data: Uint8Array): void {
    this.q.dgramSend(this.h, data);
  }

  dgramRecvVec(): Uint8Array | null {
    return this.view[DATAGRAMS]! > 0 ? this.q.dgramRecvVec(this.h) : null;
  }

  /** ngtcp2 sends its own PINGs after `keepAliveMs` without output, set when the connection was accepted. */
  sendAckEliciting(): void {}

  takeConnectionIds(): string[] | null {
    return this.view[IDS_CHANGED] === 1 ? this.q.takeConnectionIds(this.h) : null;
  }

  destroy(): void {
    this.q.destroy(this.h);
  }
}

/**
 * A client connection on ngtcp2 that reads and writes its own UDP socket
 * (native/quic-ngtcp2 recvmmsg/sendmmsg), with the quiche `Connection`
 * methods a lean client drives (bench/wt-client.ts). Through Node's dgram,
 * every received datagram costs a 64 KiB allocation, an address string and
 * an event, more than decrypting it; here JavaScript hears once per batch.
 */
export class Ngtcp2ClientConnection extends Ngtcp2Base {

  /** Connects to `remote`; `onInput` after every `batch` packets read at most. */
  constructor(
    binding: NativeQuic,
    ctx: Ngtcp2Context,
    remote: { host: string; port: number },
    batch: number,
    onInput: ClientInputHandler,
  ) {
    const to = sockaddr(remote.host, remote.port);
    const [fd, local] = binding.clientSocket(to);
    super(binding, (view) => new binding.Connection(ctx, null, randomBytes(16), randomBytes(16), local, to, view));
    this.q.attach(this.h, fd, batch, onInput);
  }

  /** A client's context: one serves every connection of a process. */
  static context(binding: NativeQuic, options: Ngtcp2Options): Ngtcp2Context {
    return binding.createContext(null, null, options);
  }

  /** Sends every packet that is ready. */
  flush(): void {
    this.q.flushOut(this.h);
  }

  /** Drops a datagram that arrived (the lean clients read none); null once there are none. */
  dgramRecv(_buf: Uint8Array): number | null {
    const d = this.view[DATAGRAMS]! > 0 ? this.q.dgramRecvVec(this.h) : null;
    return d === null ? null : d.length;
  }

  peerCertChain(): Uint8Array[] | null {
    const leaf = this.q.peerCertificate(this.h);
    return leaf === null ? null : [leaf];
  }

  /** Sends a pending CONNECTION_CLOSE, closes the socket and frees the connection. */
  destroy(): void {
    try {
      this.q.flushOut(this.h);
    } finally {
      this.q.detach(this.h);
      this.q.destroy(this.h);
    }
  }
}
