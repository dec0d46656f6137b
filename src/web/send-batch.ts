/**
 * The writes of one turn of the event loop to every WebSocket viewer, made
 * together: a frame fanned out to 1,200 viewers was 1,200 `sendmsg` calls on
 * the event loop's thread, about 30 ms of the kernel's TCP send path for a
 * keyframe, during which no ingest was read and the last viewers waited.
 * `SocketOutput` holds each write until the end of the turn; this sends all
 * that is held in one native call (`native/tcp-direct`, `sendMany`) that
 * spreads the viewers over helper threads besides the caller's and returns
 * when all are done. Each output then settles its own count as after a
 * direct write, so what the kernel did not take goes through Node in order.
 */
import { availableParallelism } from 'node:os';

export interface NativeSendMany {
  /** Returns how many threads sent, the caller's included. */
  sendMany(fds: Int32Array, first: Uint32Array, counts: Uint32Array, order: Uint32Array, chunks: readonly Uint8Array[], n: number, results: Float64Array): number;
  /** Helper threads besides the caller's (0: the caller's alone); returns the number set. */
  sendThreads(helpers: number): number;
}

/** What the batch needs of an output (SocketOutput). */
export interface BatchedOutput {
  /** Moves the held chunks to `into`; their descriptor, or -1 when there is nothing to send past Node. */
  takeHeld(into: Uint8Array[]): number;
  settle(chunks: Uint8Array[], total: number, sent: number): void;
  /** Something threw while sending for it: it goes, the other outputs of the batch do not. */
  fail(err: unknown): void;
}

/**
 * Helper threads for the sends: one fewer than the cores, at most 3 (the
 * kernel's send path scales until the receivers' side and the NIC queue
 * contend), or `POLYCAST_SEND_THREADS`.
 */
export function sendHelperThreads(env: NodeJS.ProcessEnv = process.env): number {
  const asked = env['POLYCAST_SEND_THREADS'];
  if (asked !== undefined && /^\d+$/.test(asked)) return Math.min(Number(asked), 7);
  return Math.max(0, Math.min(availableParallelism() - 1, 3));
}

/** Viewers per native call: enough for the helpers to share, few enough that the first ones get their bytes early. */
const SLICE = 128;

export class SendBatch {
  private queue: BatchedOutput[] = [];
  private scheduled = false;
  private fds = new Int32Array(256);
  private first = new Uint32Array(256);
  private counts = new Uint32Array(256);
  private results = new Float64Array(256);
  private order = new Uint32Array(1024);
  /** Distinct chunks of this batch: a frame serialized once is one entry, however many viewers get it. */
  private readonly chunks: Uint8Array[] = [];
  private readonly chunkIndex = new Map<Uint8Array, number>();
  private readonly run = (): void => {
    this.scheduled = false;
    this.send();
  };
  /** Batches sent, and those that more than one thread sent (helpers took part). */
  readonly counters = { batches: 0, parallel: 0 };

  constructor(
    private readonly native: NativeSendMany,
    helpers = sendHelperThreads(),
  ) {
    native.sendThreads(helpers);
  }

  add(output: BatchedOutput): void {
    this.queue.push(output);
    // A slice leaves at once: the first viewers need not wait for the whole fan-out's JavaScript.
    if (this.queue.length >= SLICE) {
      this.send();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.run);
  }

  private send(): void {
    const outputs = this.queue;
    this.queue = [];
    const held: Uint8Array[][] = [];
    const taken: BatchedOutput[] = [];
    const totals: number[] = [];
    let n = 0;
    let ordered = 0;
    for (const output of outputs) {
      const chunks: Uint8Array[] = [];
      let fd: number;
      try {
        fd = output.takeHeld(chunks);
      } catch (err) {
        output.fail(err);
        continue;
      }
      if (fd < 0) continue;
      this.room(n + 1, ordered + chunks.length);
      this.fds[n] = fd;
      this.first[n] = ordered;
      this.counts[n] = chunks.length;
      let total = 0;
      for (const chunk of chunks) {
        let index = this.chunkIndex.get(chunk);
        if (index === undefined) {
          index = this.chunks.length;
          this.chunks.push(chunk);
          this.chunkIndex.set(chunk, index);
        }
        this.order[ordered++] = index;
        total += chunk.byteLength;
      }
      held.push(chunks);
      taken.push(output);
      totals.push(total);
      n++;
    }
    if (n > 0) {
      try {
        const threads = this.native.sendMany(this.fds, this.first, this.counts, this.order, this.chunks, n, this.results);
        this.counters.batches++;
        if (threads > 1) this.counters.parallel++;
      } catch {
        // Nothing was sent (the arguments were refused): everything goes through Node instead.
        this.results.fill(0, 0, n);
      } finally {
        this.chunks.length = 0;
        this.chunkIndex.clear();
      }
    }
    for (let i = 0; i < n; i++) {
      try {
        taken[i]!.settle(held[i]!, totals[i]!, this.results[i]!);
      } catch (err) {
        taken[i]!.fail(err);
      }
    }
  }

  /** Grows the arrays to hold `entries` viewers and `chunks` chunk references. */
  private room(entries: number, chunks: number): void {
    if (entries > this.fds.length) {
      const size = Math.max(entries, this.fds.length * 2);
      this.fds = grow(this.fds, new Int32Array(size));
      this.first = grow(this.first, new Uint32Array(size));
      this.counts = grow(this.counts, new Uint32Array(size));
      this.results = new Float64Array(size);
    }
    if (chunks > this.order.length) this.order = grow(this.order, new Uint32Array(Math.max(chunks, this.order.length * 2)));
  }
}

function grow<T extends Int32Array | Uint32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
