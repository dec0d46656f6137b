/** What every pull client (src/ingest/rtmp, src/ingest/ws-nal) offers the source that runs it. */
import type { Logger } from 'pino';
import type { PathFeed } from './path-feed.js';

export interface PullEvents {
  /** The origin took us as a reader: it streams, or waits for its publisher with us attached. */
  established(): void;
  /** The connection is over, and why; called once, and not after `close`. */
  closed(reason: string): void;
}

export interface PullConnection {
  /** Ends the connection from this side. */
  close(): void;
}

export interface PullOptions {
  /** Nothing from the origin for this long ends the connection (readTimeout). */
  readonly readTimeoutMs: number;
  /** Largest message the origin may send (rtmpMaxMessageSize). */
  readonly maxMessageSize: number;
  readonly log: Logger;
}

/** Opens one connection to the origin, feeding what it serves into `feed`. */
export type Puller = (feed: PathFeed, events: PullEvents, options: PullOptions) => PullConnection;
