/**
 * What a WebSocket viewer writes to its socket, media frames above all.
 *
 * A frame goes to hundreds of viewers, and through Node's net.Socket each
 * write costs a write request, the Writable's bookkeeping and a completion
 * callback besides the syscall: about a third of the server's time per
 * viewer at 800 viewers (docs/webtransport-egress.md). With the native
 * helper (`native/tcp-direct`, built by `npm run build`), a write that finds
 * nothing queued in Node goes to the kernel as one non-blocking `sendmsg`;
 * what the kernel does not take, and every write while Node holds data, goes
 * through `socket.write`, so bytes leave in the order they were written.
 * Without the helper (not built, another OS, TLS, `POLYCAST_TCP_DIRECT=0`),
 * everything goes through `socket.write`.
 *
 * A write is held until the end of the current turn of the event loop, when
 * every viewer's held bytes leave together (`SendBatch`, one native call
 * spread over helper threads), so the event loop's thread does not make the
 * kernel's TCP send for each of them in turn.
 *
 * Writes between `cork` and `uncork` leave as one gather write. Whoever else
 * writes on the socket (the `ws` library's pings, text messages and close
 * frames) calls `beforeOtherWrite` first, so nothing overtakes held media
 * and the byte count takes those bytes in.
 *
 * A writer that found no room (`hasRoom`) hears once there is (`onDrain`):
 * from Node's 'drain', or after held bytes went to the kernel past Node,
 * which Node never sees.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { loadAddon } from '../protocols/native-addon.js';
import { SendBatch, type BatchedOutput, type NativeSendMany } from './send-batch.js';

interface NativeTcpDirect extends NativeSendMany {
  /** Bytes the kernel took (0 when its buffer is full), or −errno. */
  sendv(fd: number, chunks: Uint8Array | readonly Uint8Array[]): number;
}

const ADDON = 'native/tcp-direct/build/Release/tcp_direct.node';

let loaded: { binding: NativeTcpDirect } | { error: string } | undefined;

/** The helper, or why there is none. */
export function tcpDirect(): { binding: NativeTcpDirect } | { error: string } {
  if (process.env['POLYCAST_TCP_DIRECT'] === '0') return { error: 'POLYCAST_TCP_DIRECT=0' };
  loaded ??= loadAddon<NativeTcpDirect>(ADDON, 'g++, make and python3');
  return loaded;
}

let batch: SendBatch | undefined;

/** The process's batch of held writes, started with the helper; undefined without it. */
export function sendBatch(native: NativeTcpDirect | undefined = helperBinding()): SendBatch | undefined {
  if (native === undefined) return undefined;
  batch ??= new SendBatch(native);
  return batch;
}

function helperBinding(): NativeTcpDirect | undefined {
  const helper = tcpDirect();
  return 'binding' in helper ? helper.binding : undefined;
}

type NodeSocket = Duplex & { bytesWritten?: number; _handle?: { fd?: unknown } | null };

export class SocketOutput implements BatchedOutput {
  private readonly native: NativeTcpDirect | undefined;
  private readonly batch: SendBatch | undefined;
  /** Waiting in this turn's batch. */
  private queued = false;
  /** The handle whose descriptor `fd` is: a socket that lost it has no descriptor of ours any more. */
  private readonly handle: unknown;
  private readonly fd: number;
  /** Bytes that went to the kernel past Node. */
  private direct = 0;
  /** Bytes Node was given: its `bytesWritten` when last read, plus what went through `write` since. */
  private viaNode = 0;
  /** Others may have written on the socket since Node's count was read. */
  private stale = true;
  private corks = 0;
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  /** The limit a writer found no room under, 0 when nobody waits. */
  private waitingFor = 0;
  private drained: (() => void) | undefined;

  constructor(readonly socket: Duplex) {
    const helper = socket instanceof Socket && !(socket instanceof TLSSocket) ? tcpDirect() : undefined;
    this.native = helper !== undefined && 'binding' in helper ? helper.binding : undefined;
    this.batch = sendBatch(this.native);
    this.handle = (socket as NodeSocket)._handle;
    const fd = (socket as NodeSocket)._handle?.fd;
    this.fd = typeof fd === 'number' ? fd : -1;
  }

  /** True when writes can bypass Node's stream (the helper is there and the socket is plain TCP or a Unix socket). */
  get bypasses(): boolean {
    return this.native !== undefined;
  }

  /** Everything written so far, held bytes included, as `net.Socket.bytesWritten` counts what it buffers. */
  get bytesWritten(): number {
    this.viaNode = (this.socket as NodeSocket).bytesWritten ?? this.viaNode;
    this.stale = false;
    return this.viaNode + this.direct + this.heldBytes;
  }

  /**
   * `bytesWritten` without asking Node when nobody else wrote since it was
   * last asked: Node's count is a native call and a copy of its write queue,
   * too dear for every frame and viewer. Exact as long as others announce
   * their writes (`beforeOtherWrite`).
   */
  get counted(): number {
    return this.stale ? this.bytesWritten : this.viaNode + this.direct + this.heldBytes;
  }

  /** Someone else (the `ws` library) is about to write on the socket, or may have (its own answers to the peer). */
  beforeOtherWrite(): void {
    this.flush();
    this.stale = true;
  }

  /** Bytes written but not yet handed to the kernel. */
  get writableLength(): number {
    return this.socket.writableLength + this.heldBytes;
  }

  /** True while less than `limit` bytes are unsent; false arranges for `onDrain`'s listener to hear when that changes. */
  hasRoom(limit: number): boolean {
    if (this.writableLength < limit) return true;
    this.waitingFor = limit;
    return false;
  }

  onDrain(listener: () => void): void {
    this.drained = listener;
    this.socket.on('drain', () => {
      this.waitingFor = 0;
      listener();
    });
  }

  write(chunk: Uint8Array): void {
    if (this.corks > 0 || this.batch !== undefined) {
      this.held.push(chunk);
      this.heldBytes += chunk.byteLength;
      if (this.corks === 0) this.release();
      return;
    }
    this.send(chunk, chunk.byteLength);
  }

  /** Holds writes until the matching `uncork` (nested corks count). */
  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks === 0) return;
    if (--this.corks === 0) this.release();
  }

  /** What is held leaves with this turn's batch, or now when there is none. */
  private release(): void {
    if (this.batch === undefined) {
      this.flush();
      return;
    }
    if (this.queued) return;
    this.queued = true;
    this.batch.add(this);
  }

  /**
   * @internal SendBatch, at the end of the turn: the descriptor the held
   * bytes can go to past Node, having moved them to `into`; -1 when there is
   * nothing to send (corked again, or sent already) or they went through Node.
   */
  takeHeld(into: Uint8Array[]): number {
    this.queued = false;
    if (this.corks > 0 || this.held.length === 0) return -1;
    if (!this.socket.writable) {
      // Ended or destroyed since the write: nothing can reach the peer any more.
      this.held = [];
      this.heldBytes = 0;
      return -1;
    }
    const fd = this.idleFd();
    if (fd === undefined) {
      this.flush();
      return -1;
    }
    for (const chunk of this.held) into.push(chunk);
    this.held = [];
    this.heldBytes = 0;
    return fd;
  }

  /** @internal SendBatch: the kernel took `sent` of the `total` bytes of `chunks` (−errno when it failed). */
  settle(chunks: Uint8Array[], total: number, sent: number): void {
    this.afterDirect(chunks, total, sent);
    this.notifyRoom();
  }

  /** @internal SendBatch: sending for this socket threw; the viewer goes, as after a socket error. */
  fail(err: unknown): void {
    this.held = [];
    this.heldBytes = 0;
    this.socket.destroy(err instanceof Error ? err : new Error(String(err)));
  }

  /** Sends what is held now (someone else is about to write on the socket); a cork stays in place. */
  flush(): void {
    if (this.held.length === 0) return;
    const chunks = this.held;
    const total = this.heldBytes;
    this.held = [];
    this.heldBytes = 0;
    this.send(chunks.length === 1 ? chunks[0]! : chunks, total);
    this.notifyRoom();
  }

  private notifyRoom(): void {
    if (this.waitingFor > 0 && this.writableLength < this.waitingFor) {
      this.waitingFor = 0;
      // Later, as Node's own 'drain' is: the writer may be in the middle of the burst that filled it.
      const listener = this.drained;
      if (listener !== undefined) queueMicrotask(listener);
    }
  }

  private send(chunks: Uint8Array | Uint8Array[], total: number): void {
    const fd = this.idleFd();
    if (fd !== undefined) this.afterDirect(chunks, total, this.native!.sendv(fd, chunks));
    else this.throughNode(chunks);
  }

  /** After a direct write of `total` bytes that the kernel took `sent` of (−errno when it failed). */
  private afterDirect(chunks: Uint8Array | Uint8Array[], total: number, sent: number): void {
    if (sent === total) {
      this.direct += sent;
      return;
    }
    // The kernel's buffer is full (or the peer is gone): Node queues the rest, waits for room and reports errors as usual.
    if (sent > 0) {
      this.direct += sent;
      chunks = rest(chunks, sent);
    }
    this.throughNode(chunks);
  }

  private throughNode(chunks: Uint8Array | Uint8Array[]): void {
    if (!Array.isArray(chunks)) {
      this.viaNode += chunks.byteLength;
      this.socket.write(chunks);
      return;
    }
    this.socket.cork();
    for (const chunk of chunks) {
      this.viaNode += chunk.byteLength;
      this.socket.write(chunk);
    }
    this.socket.uncork();
  }

  /** The socket's descriptor while Node holds nothing to write on it, so a direct write keeps the byte order. */
  private idleFd(): number | undefined {
    if (this.native === undefined || this.fd < 0) return undefined;
    const s = this.socket as NodeSocket;
    // A destroyed socket's descriptor may already belong to another connection: `writable` and the live handle say it is ours.
    if (!s.writable || s._handle !== this.handle || s.writableLength !== 0 || s.writableCorked !== 0) return undefined;
    return this.fd;
  }
}

/** What is left of `chunks` after the first `sent` bytes. */
function rest(chunks: Uint8Array | Uint8Array[], sent: number): Uint8Array | Uint8Array[] {
  if (!Array.isArray(chunks)) return chunks.subarray(sent);
  const out: Uint8Array[] = [];
  let skip = sent;
  for (const chunk of chunks) {
    if (skip >= chunk.byteLength) {
      skip -= chunk.byteLength;
      continue;
    }
    out.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return out;
}
