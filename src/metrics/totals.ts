import type { PathManager } from '../stream/path-manager.js';
import type { Reader } from '../stream/reader.js';

export interface ReaderTotal {
  readonly path: string;
  /** Reader protocol: `ws-nal`, `ws-fmp4`, `jpeg`, ... */
  readonly transport: string;
  bytes: number;
  frames: number;
  discarded: number;
}

/**
 * Bytes and frames sent, and frames discarded for slow readers, per path and
 * transport over the server's life: readers that left are folded into a
 * running total when they leave, live ones are read at scrape time, so the
 * counters never go backwards.
 */
export class ReaderTotals {
  private readonly retired = new Map<string, ReaderTotal>();

  constructor(private readonly paths: PathManager) {
    paths.on('pathCreated', (path) => path.on('readerRemoved', (reader) => this.add(this.retired, path.name, reader)));
  }

  snapshot(): ReaderTotal[] {
    const all = new Map<string, ReaderTotal>();
    for (const t of this.retired.values()) all.set(key(t.path, t.transport), { ...t });
    for (const path of this.paths.list()) for (const reader of path.readers) this.add(all, path.name, reader);
    return [...all.values()];
  }

  private add(into: Map<string, ReaderTotal>, path: string, reader: Reader): void {
    const k = key(path, reader.info.protocol);
    let t = into.get(k);
    if (t === undefined) {
      t = { path, transport: reader.info.protocol, bytes: 0, frames: 0, discarded: 0 };
      into.set(k, t);
    }
    t.bytes += reader.stats.bytesSent;
    t.frames += reader.stats.framesSent;
    t.discarded += reader.stats.framesDropped;
  }
}

const key = (path: string, transport: string) => `${path}\u0000${transport}`;
