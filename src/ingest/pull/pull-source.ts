import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Path } from '../../stream/path.js';
import type { Reader } from '../../stream/reader.js';
import { Backoff } from './backoff.js';
import { PathFeed } from './path-feed.js';
import type { PullConnection, PullOptions, Puller } from './puller.js';

export interface OnDemand {
  /** Readers wait this long for the first frame before they are closed (1013). */
  readonly startTimeoutMs: number;
  /** The source is closed this long after the last reader left. */
  readonly closeAfterMs: number;
}

export interface PullSourceOptions {
  readonly path: Path;
  /** `rtmp`, `ws-nal` or `moqt`: how the API names the source (`rtmpSource`, `wsNalSource`, `moqtSource`). */
  readonly protocol: string;
  /** The origin's URL without credentials, and its host:port, for logs, the API and refusals. */
  readonly display: string;
  readonly remoteAddress: string;
  readonly puller: Puller;
  /** Undefined: pull for as long as the path exists. */
  readonly onDemand: OnDemand | undefined;
  /** Read at each connection, so a reload's timeouts apply to the next one. */
  options(): PullOptions;
  log: Logger;
  /** An on-demand source stopped for want of readers: a path matched by a ~regex may go now. */
  idle(path: Path): void;
}

/**
 * A path whose `source` is a URL (MediaMTX's static source): keeps one
 * connection to the origin while it should (always, or while someone reads
 * with sourceOnDemand), reconnects with exponential back-off when the origin
 * goes away, and feeds the path as its only publisher. Readers stay on the
 * path across reconnections; each new stream describes itself to them anew.
 */
export class PullSource {
  readonly id = randomBytes(4).toString('hex');
  private readonly feed: PathFeed;
  private readonly backoff = new Backoff();
  private connection: PullConnection | undefined;
  private running = false;
  private closed = false;
  /** False from a failed or lost connection until one works again: one warning per outage. */
  private reached = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly unlisten: Array<() => void> = [];

  constructor(private readonly o: PullSourceOptions) {
    const { path } = o;
    this.feed = new PathFeed(path, { id: this.id, protocol: o.protocol, remoteAddress: o.remoteAddress, query: '', kick: (reason) => this.stop(reason) });
    path.setSource({ id: this.id, protocol: o.protocol, url: o.display });
    if (o.onDemand === undefined) {
      this.start();
      return;
    }
    const on = <E extends 'readerAdded' | 'readerRemoved' | 'ready'>(event: E, fn: (reader: Reader) => void) => {
      path.on(event, fn as never);
      this.unlisten.push(() => path.off(event, fn as never));
    };
    on('readerAdded', () => this.demanded());
    on('readerRemoved', () => this.maybeUndemanded());
    on('ready', () => this.delivered());
    if (path.readers.size > 0) this.demanded();
  }

  /** For good: the path is gone, or its source settings changed. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.unlisten) off();
    this.stop(reason);
    if (this.o.path.source?.id === this.id) this.o.path.setSource(undefined);
  }

  private start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.o.log.info({ path: this.o.path.name, source: this.o.display, onDemand: this.o.onDemand !== undefined }, 'pulling the path from its source');
    this.connect();
  }

  private stop(reason: string): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.startTimer);
    clearTimeout(this.closeTimer);
    this.retryTimer = this.startTimer = this.closeTimer = undefined;
    const wasRunning = this.running;
    this.running = false;
    this.connection?.close();
    this.connection = undefined;
    this.feed.end(reason);
    if (wasRunning) this.o.log.info({ path: this.o.path.name, source: this.o.display, reason }, 'stopped pulling the path');
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (!this.running) return;
    const log = this.o.log;
    const path = this.o.path.name;
    const source = this.o.display;
    let established = false;
    const events = {
      established: () => {
        if (established) return;
        established = true;
        this.backoff.reset();
        log.info({ path, source }, this.reached ? 'source connected' : 'source reached again');
        this.reached = true;
      },
      closed: (reason: string) => {
        this.connection = undefined;
        this.feed.end(`source lost: ${reason}`);
        if (!this.running) return;
        const delay = this.backoff.next();
        // A loss, or the first failure after a working connection, is news; the retries that follow are not.
        if (established) log.warn({ path, source, reason, retryInMs: delay }, 'source lost, reconnecting');
        else if (this.reached) log.warn({ path, source, reason, retryInMs: delay }, 'source unreachable, retrying');
        else log.debug({ path, source, reason, retryInMs: delay }, 'source still unreachable');
        this.reached = false;
        this.retryTimer = setTimeout(() => this.connect(), delay);
      },
    };
    try {
      this.connection = this.o.puller(this.feed, events, this.o.options());
    } catch (err) {
      queueMicrotask(() => events.closed((err as Error).message));
    }
  }

  // sourceOnDemand

  private demanded(): void {
    clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    if (this.running) return;
    this.start();
    const { startTimeoutMs } = this.o.onDemand!;
    this.startTimer = setTimeout(() => this.timedOut(startTimeoutMs), startTimeoutMs);
  }

  private delivered(): void {
    clearTimeout(this.startTimer);
    this.startTimer = undefined;
  }

  private timedOut(ms: number): void {
    this.startTimer = undefined;
    if (this.o.path.stream?.ready === true) return;
    const reason = `the source did not deliver within ${ms / 1000}s (sourceOnDemandStartTimeout)`;
    this.o.log.warn({ path: this.o.path.name, source: this.o.display, reason }, 'sourceOnDemand: timed out');
    this.stop(reason);
    this.o.path.kickReaders(reason, 1013);
  }

  private maybeUndemanded(): void {
    if (this.o.path.readers.size > 0 || !this.running || this.closeTimer !== undefined) return;
    this.closeTimer = setTimeout(() => {
      this.closeTimer = undefined;
      if (this.o.path.readers.size > 0) return;
      this.stop('no readers for sourceOnDemandCloseAfter');
      this.o.idle(this.o.path);
    }, this.o.onDemand!.closeAfterMs);
  }
}
