import { EventEmitter } from 'node:events';
import { Path, type PathSettings } from './path.js';

/** What the configuration says about a path name: its settings, or why it does not exist. */
export type PathLookup<C extends PathSettings> =
  | { ok: true; conf: C; /** true when matched by a `~regex` or `all_others` entry */ dynamic: boolean }
  | { ok: false; reason: string };

export interface PathManagerEvents<C extends PathSettings> {
  pathCreated: [path: Path, conf: C];
  pathRemoved: [path: Path];
  /** A reload gave an existing path new settings (already applied to `path.settings`). */
  pathReconfigured: [path: Path, previous: C, conf: C];
}

/**
 * Owns every path: creates the configured ones up front, creates
 * regex-matched ones on first use and removes those again when nobody
 * publishes or reads them.
 */
export class PathManager<C extends PathSettings = PathSettings> extends EventEmitter<PathManagerEvents<C>> {
  private readonly paths = new Map<string, Path>();
  private readonly confs = new Map<Path, C>();

  constructor(private lookup: (name: string) => PathLookup<C>) {
    super();
  }

  /** Creates the statically named paths (those with hooks such as runOnInit). */
  createStatic(names: Iterable<string>): void {
    for (const name of names) this.acquire(name);
  }

  /** The path for a name, created if the configuration allows it. */
  acquire(name: string): Path | { error: string } {
    const existing = this.paths.get(name);
    if (existing !== undefined) return existing;
    const found = this.lookup(name);
    if (!found.ok) return { error: found.reason };
    const path = new Path(name, found.conf, found.dynamic);
    this.paths.set(name, path);
    this.confs.set(path, found.conf);
    this.emit('pathCreated', path, found.conf);
    return path;
  }

  get(name: string): Path | undefined {
    return this.paths.get(name);
  }

  confOf(path: Path): C | undefined {
    return this.confs.get(path);
  }

  /** Removes a dynamic path once it has neither publisher nor readers. */
  release(path: Path): void {
    if (!path.dynamic || !path.idle || this.paths.get(path.name) !== path) return;
    this.remove(path, 'idle');
  }

  list(): Path[] {
    return [...this.paths.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  closeAll(reason: string): void {
    for (const path of [...this.paths.values()]) this.remove(path, reason);
  }

  /**
   * A new configuration: existing paths keep their streams and readers and
   * take their new settings in place; paths it no longer allows are removed,
   * their publisher and readers ended with `removedReason`.
   */
  reconfigure(lookup: (name: string) => PathLookup<C>, removedReason: (name: string, why: string) => string): void {
    this.lookup = lookup;
    for (const path of [...this.paths.values()]) {
      const found = lookup(path.name);
      if (!found.ok) {
        const reason = removedReason(path.name, found.reason);
        path.kickReaders(reason, 4404);
        // The last reader leaving may already have released a dynamic path.
        if (this.paths.get(path.name) === path) this.remove(path, reason);
        continue;
      }
      const previous = this.confs.get(path)!;
      path.dynamic = found.dynamic;
      path.settings = found.conf;
      this.confs.set(path, found.conf);
      if (!sameSettings(previous, found.conf)) this.emit('pathReconfigured', path, previous, found.conf);
    }
  }

  private remove(path: Path, reason: string): void {
    this.paths.delete(path.name);
    this.confs.delete(path);
    path.close(reason);
    this.emit('pathRemoved', path);
  }
}

/** Path settings are flat records of primitives. */
function sameSettings(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((key) => Object.is(x[key], y[key]));
}
