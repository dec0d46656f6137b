import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { PathConf } from './config/schema.js';
import type { Path } from './stream/path.js';
import type { Reader } from './stream/reader.js';

export interface HookOptions {
  /** Shell command, as in MediaMTX's runOn* keys. */
  command: string;
  env: Record<string, string>;
  restart: boolean;
  log: Logger;
  /** Name for logs, e.g. `runOnInit`. */
  name: string;
}

const RESTART_PAUSE_MS = 2000;
const KILL_GRACE_MS = 3000;

/**
 * A command run for a path or a connection (runOnInit and friends): started
 * through the shell with MediaMTX's environment variables, optionally
 * restarted when it exits, and stopped like MediaMTX does, with SIGINT to its
 * whole process group (SIGKILL if it lingers) so no ffmpeg outlives it.
 */
export class Hook {
  private child: ChildProcess | null = null;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private exitListeners: Array<() => void> = [];

  constructor(private readonly o: HookOptions) {}

  get name(): string {
    return this.o.name;
  }

  /** Started, not stopped, and either running or about to be restarted. */
  get alive(): boolean {
    return !this.stopped && (this.child !== null || this.restartTimer !== null);
  }

  /** Called once when the command is over for good (exited without restart, or stopped). */
  onDone(listener: () => void): void {
    this.exitListeners.push(listener);
  }

  start(): void {
    if (this.stopped) return;
    this.restartTimer = null;
    const child = spawn('/bin/sh', ['-c', this.o.command], {
      env: { ...process.env, ...this.o.env },
      stdio: ['ignore', 'inherit', 'pipe'],
      detached: true,
    });
    this.child = child;
    this.o.log.info({ hook: this.o.name, pid: child.pid, command: this.o.command }, 'hook started');
    let stderrTail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString()).slice(-2000);
    });
    child.on('error', (err) => this.o.log.error({ hook: this.o.name, err: err.message }, 'hook failed to start'));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.stopped) return;
      const stderr = stderrTail.trim().split('\n').slice(-5).join('\n');
      if (code === 0 && !this.o.restart) this.o.log.info({ hook: this.o.name, code }, 'hook exited');
      else this.o.log.warn({ hook: this.o.name, code, signal, stderr }, 'hook exited');
      if (this.o.restart) {
        this.restartTimer = setTimeout(() => this.start(), RESTART_PAUSE_MS);
        this.restartTimer.unref();
      } else {
        this.done();
      }
    });
  }

  /** Stops the command (SIGINT to its process group, SIGKILL after a grace period). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (child !== null && child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const kill = (signal: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // Already gone.
        }
      };
      kill('SIGINT');
      const timer = setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS);
      await exited;
      clearTimeout(timer);
      // Background jobs of a non-interactive shell ignore SIGINT: whatever
      // is left of the group once the command itself is gone goes now.
      kill('SIGKILL');
      this.o.log.info({ hook: this.o.name }, 'hook stopped');
    }
    this.done();
  }

  private done(): void {
    const listeners = this.exitListeners;
    this.exitListeners = [];
    for (const listener of listeners) listener();
  }
}

/**
 * Every hook command of a server, so that shutdown stops them all, the
 * one-shot ones (runOnUnDemand, runOnUnread, ...) included.
 */
export class HookPool {
  private readonly hooks = new Set<Hook>();
  private closed = false;

  constructor(private readonly log: Logger) {}

  /** Starts `command` unless it is empty; returns the hook (undefined for none). */
  run(name: string, command: string, env: Record<string, string>, restart: boolean, log: Logger = this.log): Hook | undefined {
    if (command === '' || this.closed) return undefined;
    const hook = new Hook({ name, command, env: withPolycastNames(env), restart, log });
    this.hooks.add(hook);
    hook.onDone(() => this.hooks.delete(hook));
    hook.start();
    return hook;
  }

  get running(): number {
    return this.hooks.size;
  }

  async stopAll(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.hooks].map((hook) => hook.stop()));
  }
}

/** Every MediaMTX `MTX_X` variable is also given as `POLYCAST_X`. */
export function withPolycastNames(env: Record<string, string>): Record<string, string> {
  const out = { ...env };
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('MTX_')) out[`POLYCAST_${key.slice(4)}`] ??= value;
  }
  return out;
}

/** Go's url.QueryEscape, which MediaMTX applies to MTX_QUERY: all but A-Z a-z 0-9 - _ . ~ escaped, spaces as +. */
export function queryEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** MediaMTX's reader and source types: `ws-nal` → `wsNalSession`; RTMP publishers are `rtmpConn`. */
export function apiTypeOf(protocol: string, suffix = 'Session'): string {
  const camel = protocol.replace(/[^A-Za-z0-9]+([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '');
  return `${camel}${suffix}`;
}

/**
 * Where a path's stream comes from, as MediaMTX's API and hooks name it: a
 * publisher's connection (`rtmpConn`), or the server the path pulls from
 * (`rtmpSource`, `wsNalSource`), even between its connections.
 */
export function sourceOf(path: Path): { type: string; id: string } | null {
  const pulled = path.source;
  if (pulled !== undefined) return { type: apiTypeOf(pulled.protocol, 'Source'), id: pulled.id };
  const publisher = path.publisher;
  return publisher === null ? null : { type: apiTypeOf(publisher.protocol, 'Conn'), id: publisher.id };
}

export interface PathHooksOptions {
  path: Path;
  conf: PathConf;
  pool: HookPool;
  /** MTX_PATH, G1..., RTMP_PORT, ... for this path. */
  env: () => Record<string, string>;
  log: Logger;
}

/**
 * The per-path hooks of MediaMTX: runOnDemand (with its start timeout and
 * close delay) and runOnUnDemand, runOnAvailable / runOnUnavailable (and
 * runOnOnline / runOnOffline, the same moments here), runOnRead /
 * runOnUnread. runOnInit belongs to the server (it runs for configured
 * names whether or not anything happens on the path).
 */
export class PathHooks {
  private conf: PathConf;
  private available: Hook[] = [];
  private availableEnv: Record<string, string> | undefined;
  private readonly reading = new Map<Reader, { hook: Hook | undefined; env: Record<string, string> }>();
  private demand: { hook: Hook | undefined; env: Record<string, string>; published: boolean } | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly o: PathHooksOptions) {
    this.conf = o.conf;
    const { path } = o;
    const on = <E extends 'ready' | 'notReady' | 'readerAdded' | 'readerRemoved'>(event: E, fn: (...args: never[]) => void) => {
      path.on(event, fn as never);
      this.listeners.push(() => path.off(event, fn as never));
    };
    on('ready', () => this.onAvailable());
    on('notReady', () => this.onUnavailable());
    on('readerAdded', (reader: Reader) => this.onReaderAdded(reader));
    on('readerRemoved', (reader: Reader) => this.onReaderRemoved(reader));
    if (path.stream?.ready === true) this.onAvailable();
  }

  /** A reload changed the path's settings: later events use them; a changed on-demand command is restarted if needed. */
  reconfigure(conf: PathConf): void {
    const previous = this.conf;
    this.conf = conf;
    if (this.demand !== undefined && (conf.runOnDemand !== previous.runOnDemand || conf.runOnDemandRestart !== previous.runOnDemandRestart)) {
      this.stopDemand('runOnDemand changed');
      const waiting = this.o.path.publisher === null ? [...this.o.path.readers][0] : undefined;
      if (waiting !== undefined) this.startDemand(waiting);
    }
  }

  /** The path is gone or the server stops. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.listeners) off();
    this.stopDemand('path closed');
    void Promise.all(this.available.map((hook) => hook.stop()));
    this.available = [];
    for (const { hook } of this.reading.values()) void hook?.stop();
    this.reading.clear();
  }

  private onAvailable(): void {
    const publisher = this.o.path.publisher;
    const source = sourceOf(this.o.path);
    const env = {
      ...this.o.env(),
      MTX_QUERY: queryEscape(publisher?.query ?? ''),
      MTX_SOURCE_TYPE: source?.type ?? '',
      MTX_SOURCE_ID: source?.id ?? '',
    };
    this.availableEnv = env;
    const c = this.conf;
    const log = this.o.log;
    this.available = [
      this.o.pool.run('runOnAvailable', c.runOnAvailable, env, c.runOnAvailableRestart, log),
      this.o.pool.run('runOnOnline', c.runOnOnline, env, c.runOnOnlineRestart, log),
    ].filter((hook): hook is Hook => hook !== undefined);
    if (this.demand !== undefined) {
      this.demand.published = true;
      clearTimeout(this.startTimer);
      this.startTimer = undefined;
      if (this.o.path.readers.size === 0) this.scheduleDemandClose();
    }
  }

  private onUnavailable(): void {
    const env = this.availableEnv;
    if (env === undefined) return;
    this.availableEnv = undefined;
    for (const hook of this.available) void hook.stop();
    this.available = [];
    const c = this.conf;
    this.o.pool.run('runOnUnavailable', c.runOnUnavailable, env, false, this.o.log);
    this.o.pool.run('runOnOffline', c.runOnOffline, env, false, this.o.log);
  }

  private onReaderAdded(reader: Reader): void {
    const c = this.conf;
    if (c.runOnRead !== '' || c.runOnUnread !== '') {
      const env = { ...this.o.env(), MTX_QUERY: queryEscape(reader.query), MTX_READER_TYPE: apiTypeOf(reader.info.protocol), MTX_READER_ID: reader.info.id };
      this.reading.set(reader, { hook: this.o.pool.run('runOnRead', c.runOnRead, env, c.runOnReadRestart, this.o.log), env });
    }
    if (this.closeTimer !== undefined) {
      clearTimeout(this.closeTimer);
      this.closeTimer = undefined;
    }
    if (c.runOnDemand !== '' && this.o.path.publisher === null && !(this.demand?.hook?.alive ?? false)) {
      this.stopDemand('its command exited');
      this.startDemand(reader);
    }
  }

  private onReaderRemoved(reader: Reader): void {
    const entry = this.reading.get(reader);
    if (entry !== undefined) {
      this.reading.delete(reader);
      void entry.hook?.stop();
      this.o.pool.run('runOnUnread', this.conf.runOnUnread, entry.env, false, this.o.log);
    }
    if (this.demand !== undefined && this.o.path.readers.size === 0) this.scheduleDemandClose();
  }

  private startDemand(firstReader: Reader): void {
    const c = this.conf;
    const env = { ...this.o.env(), MTX_QUERY: queryEscape(firstReader.query) };
    this.o.log.info({ path: this.o.path.name }, 'runOnDemand: a reader is waiting, starting the command');
    const hook = this.o.pool.run('runOnDemand', c.runOnDemand, env, c.runOnDemandRestart, this.o.log);
    this.demand = { hook, env, published: false };
    this.startTimer = setTimeout(() => this.demandTimedOut(), c.runOnDemandStartTimeout);
    this.startTimer.unref();
  }

  private demandTimedOut(): void {
    this.startTimer = undefined;
    if (this.demand === undefined || this.demand.published) return;
    const seconds = this.conf.runOnDemandStartTimeout / 1000;
    const reason = `no publisher within ${seconds}s (runOnDemandStartTimeout)`;
    this.o.log.warn({ path: this.o.path.name, reason }, 'runOnDemand: timed out');
    this.stopDemand('timed out');
    this.o.path.kickReaders(reason, 1013);
  }

  private scheduleDemandClose(): void {
    if (this.closeTimer !== undefined) return;
    this.closeTimer = setTimeout(() => {
      this.closeTimer = undefined;
      if (this.o.path.readers.size === 0) this.stopDemand('no readers');
    }, this.conf.runOnDemandCloseAfter);
    this.closeTimer.unref();
  }

  private stopDemand(reason: string): void {
    clearTimeout(this.startTimer);
    clearTimeout(this.closeTimer);
    this.startTimer = undefined;
    this.closeTimer = undefined;
    const demand = this.demand;
    if (demand === undefined) return;
    this.demand = undefined;
    this.o.log.info({ path: this.o.path.name, reason }, 'runOnDemand: stopping the command');
    const after = () => this.o.pool.run('runOnUnDemand', this.conf.runOnUnDemand, demand.env, false, this.o.log);
    if (demand.hook === undefined) after();
    else void demand.hook.stop().then(after);
  }
}
