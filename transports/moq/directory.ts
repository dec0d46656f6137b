import { EventEmitter } from 'node:events';
import type { Path } from '../../src/stream/path.js';
import type { PathManager } from '../../src/stream/path-manager.js';

export interface DirectoryEvents {
  /** A broadcast went live (`true`) or ended (`false`). */
  change: [name: string, live: boolean];
}

/**
 * Which Polycast paths are live broadcasts right now, for ANNOUNCE: a path
 * is live from its stream's first frame (`ready`) until its publisher goes
 * (`notReady`) or the path is removed.
 */
export class BroadcastDirectory extends EventEmitter<DirectoryEvents> {
  private readonly live = new Set<string>();
  private readonly watched = new Map<Path, { ready: () => void; notReady: () => void }>();
  private readonly onCreated = (path: Path): void => this.watch(path);
  private readonly onRemoved = (path: Path): void => this.unwatch(path);

  constructor(private readonly paths: PathManager) {
    super();
    // Every session's announce stream listens here.
    this.setMaxListeners(0);
    paths.on('pathCreated', this.onCreated);
    paths.on('pathRemoved', this.onRemoved);
    for (const path of paths.list()) this.watch(path);
  }

  /** Live broadcast names, sorted. */
  list(): string[] {
    return [...this.live].sort();
  }

  isLive(name: string): boolean {
    return this.live.has(name);
  }

  close(): void {
    this.paths.off('pathCreated', this.onCreated);
    this.paths.off('pathRemoved', this.onRemoved);
    for (const path of [...this.watched.keys()]) this.unwatch(path);
    this.removeAllListeners();
  }

  private watch(path: Path): void {
    if (this.watched.has(path)) return;
    const handlers = { ready: () => this.set(path.name, true), notReady: () => this.set(path.name, false) };
    path.on('ready', handlers.ready);
    path.on('notReady', handlers.notReady);
    this.watched.set(path, handlers);
    if (path.stream?.ready) this.set(path.name, true);
  }

  private unwatch(path: Path): void {
    const handlers = this.watched.get(path);
    if (handlers === undefined) return;
    path.off('ready', handlers.ready);
    path.off('notReady', handlers.notReady);
    this.watched.delete(path);
    this.set(path.name, false);
  }

  private set(name: string, live: boolean): void {
    if (this.live.has(name) === live) return;
    if (live) this.live.add(name);
    else this.live.delete(name);
    this.emit('change', name, live);
  }
}
