import { EventEmitter } from 'node:events';
import type { KickCode, Reader, SendObserver, SinkMethod } from './reader.js';
import { Stream } from './stream.js';

/** The per-path settings the core needs (a subset of the config's path entry). */
export interface PathSettings {
  readonly maxReaders: number;
  readonly overridePublisher: boolean;
}

export interface PublisherInfo {
  readonly id: string;
  /** Ingest protocol, e.g. `rtmp`. */
  readonly protocol: string;
  readonly remoteAddress: string;
  /** The publisher's query string without `?` (credentials removed), for hooks. */
  readonly query?: string;
  /** Ends the publisher's connection (used when another publisher takes over). */
  kick(reason: string): void;
}

/** A server the path pulls its stream from (its `source` is a URL): the only publisher it takes. */
export interface SourceInfo {
  /** The publisher id its pull connections use. */
  readonly id: string;
  /** Pull protocol, e.g. `rtmp`, `ws-nal`. */
  readonly protocol: string;
  /** The URL without credentials or query, for messages. */
  readonly url: string;
}

export interface PathEvents {
  /** A publisher started and the stream has tracks. */
  ready: [stream: Stream];
  /** The publisher went away. */
  notReady: [reason: string];
  readerAdded: [reader: Reader];
  readerRemoved: [reader: Reader, reason: string];
  /** The publisher sent a frame whose bytes do not frame as its track says: dropped before any reader saw it. */
  frameRefused: [publisher: PublisherInfo, reason: string];
  /** A reader's sink threw (a transport bug or a client that broke it); the reader is being ended. */
  readerFailed: [reader: Reader, method: SinkMethod, error: unknown];
}

export class PathError extends Error {
  constructor(
    message: string,
    /** Stable code transports map to their protocol's way of refusing. */
    readonly code: 'publisher-exists' | 'too-many-readers' | 'path-closed' | 'has-source',
  ) {
    super(message);
    this.name = 'PathError';
  }
}

/**
 * A named place streams are published to and read from. Readers attach to the
 * path, not to a publish session, so they survive a publisher restart and
 * pick up the next stream by themselves.
 */
export class Path extends EventEmitter<PathEvents> {
  private current: { stream: Stream; publisher: PublisherInfo } | null = null;
  private pulledFrom: SourceInfo | undefined;
  private readonly readerSet = new Set<Reader>();
  private closed = false;
  private observer: SendObserver | undefined;

  constructor(
    readonly name: string,
    public settings: PathSettings,
    /** Paths created for a `~regex` or `all_others` entry are removed when idle (a reload may change it). */
    public dynamic: boolean,
  ) {
    super();
  }

  /** Observes what readers send (metrics); applies to current and future readers. */
  setSendObserver(observer: SendObserver | undefined): void {
    this.observer = observer;
    for (const reader of this.readerSet) reader.observer = observer;
  }

  /** Ends every reader's session (through its transport when it can), e.g. when the path leaves the configuration. */
  kickReaders(reason: string, code: KickCode): void {
    for (const reader of [...this.readerSet]) this.kickReader(reader, reason, code);
  }

  /** Ends one reader through its transport; a kick that throws still leaves the path without it. */
  private kickReader(reader: Reader, reason: string, code: KickCode): void {
    if (reader.kick !== undefined) {
      try {
        reader.kick(reason, code);
        return;
      } catch {
        // The transport's session is beyond saving; the path at least lets go of its reader.
      }
    }
    this.removeReader(reader, reason);
  }

  /** The server this path pulls from, if its source is a URL. */
  get source(): SourceInfo | undefined {
    return this.pulledFrom;
  }

  /**
   * The path now takes its stream from `source` (undefined: from publishers
   * again). A publisher other than the source is ended: it was allowed under
   * the settings a reload just replaced.
   */
  setSource(source: SourceInfo | undefined): void {
    this.pulledFrom = source;
    const current = this.current;
    if (source === undefined || current === null || current.publisher.id === source.id) return;
    const reason = `path '${this.name}' now takes its stream from ${source.url}`;
    this.endPublish(current.stream, reason);
    current.publisher.kick(reason);
  }

  get stream(): Stream | null {
    return this.current?.stream ?? null;
  }

  get publisher(): PublisherInfo | null {
    return this.current?.publisher ?? null;
  }

  get readers(): ReadonlySet<Reader> {
    return this.readerSet;
  }

  get idle(): boolean {
    return this.current === null && this.readerSet.size === 0;
  }

  /** Claims the path for a publisher; the returned stream is where its frames go. */
  startPublish(publisher: PublisherInfo): Stream {
    if (this.closed) throw new PathError(`path '${this.name}' is being removed`, 'path-closed');
    if (this.pulledFrom !== undefined && publisher.id !== this.pulledFrom.id) {
      throw new PathError(`path '${this.name}' takes its stream from ${this.pulledFrom.url} (its source): it accepts no publisher`, 'has-source');
    }
    if (this.current !== null) {
      if (!this.settings.overridePublisher) {
        throw new PathError(
          `path '${this.name}' already has a publisher (${this.current.publisher.protocol} from ${this.current.publisher.remoteAddress})`,
          'publisher-exists',
        );
      }
      const old = this.current;
      this.endPublish(old.stream, 'replaced by another publisher');
      old.publisher.kick('replaced by another publisher');
    }
    const stream = new Stream(this.name, (reason) => this.emit('frameRefused', publisher, reason));
    this.current = { stream, publisher };
    for (const reader of this.readerSet) stream.attach(reader);
    return stream;
  }

  /** Announces readiness once the stream knows its tracks (the ingest calls this). */
  markReady(stream: Stream): void {
    if (this.current?.stream === stream) this.emit('ready', stream);
  }

  endPublish(stream: Stream, reason: string): void {
    if (this.current?.stream !== stream) return;
    this.current = null;
    stream.end(reason);
    this.emit('notReady', reason);
  }

  addReader(reader: Reader): void {
    if (this.closed) throw new PathError(`path '${this.name}' is being removed`, 'path-closed');
    const max = this.settings.maxReaders;
    if (max > 0 && this.readerSet.size >= max) {
      throw new PathError(`path '${this.name}' has reached maxReaders (${max})`, 'too-many-readers');
    }
    reader.observer = this.observer;
    reader.onSinkFault = this.onSinkFault;
    this.readerSet.add(reader);
    this.emit('readerAdded', reader);
    const stream = this.current?.stream;
    if (stream !== undefined) stream.attach(reader);
    else reader.offline('no publisher yet');
  }

  removeReader(reader: Reader, reason: string): void {
    if (!this.readerSet.delete(reader)) return;
    this.current?.stream.detach(reader);
    reader.close();
    this.emit('readerRemoved', reader, reason);
  }

  /**
   * A reader's sink threw, maybe in the middle of the ingest's fan-out. The
   * reader already stopped; its session is ended a microtask later, outside
   * the stream's loop over its readers and outside the publisher's call stack.
   */
  private readonly onSinkFault = (reader: Reader, method: SinkMethod, error: unknown): void => {
    const message = error instanceof Error ? error.message : String(error);
    const reason = `internal error: ${method} failed: ${message}`.slice(0, 120);
    queueMicrotask(() => {
      if (!this.readerSet.has(reader)) return;
      try {
        this.emit('readerFailed', reader, method, error);
      } catch {
        // A listener's failure must not keep the reader on the path.
      }
      this.kickReader(reader, reason, 1011);
    });
  };

  /** The path left the configuration or the server is stopping. */
  close(reason: string): void {
    this.closed = true;
    if (this.current !== null) {
      const { stream, publisher } = this.current;
      this.endPublish(stream, reason);
      publisher.kick(reason);
    }
  }
}
