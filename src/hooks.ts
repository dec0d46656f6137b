import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';

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

/**
 * A command run for a path (runOnInit and friends): started through the
 * shell with MediaMTX's environment variables, optionally restarted when it
 * exits, and killed with its whole process group when stopped so no ffmpeg
 * outlives the server.
 */
export class Hook {
  private child: ChildProcess | null = null;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: HookOptions) {}

  start(): void {
    if (this.stopped) return;
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
      this.child = null;
      if (this.stopped) return;
      this.o.log.warn({ hook: this.o.name, code, signal, stderr: stderrTail.trim().split('\n').slice(-5).join('\n') }, 'hook exited');
      if (this.o.restart) {
        this.restartTimer = setTimeout(() => this.start(), RESTART_PAUSE_MS);
        this.restartTimer.unref();
      }
    });
  }

  /** Stops the command (SIGTERM to its process group, SIGKILL after a grace period). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child === null || child.pid === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // Already gone.
      }
    };
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}
