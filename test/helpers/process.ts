/** Ending what a test helper started, and only that, within bounded time. */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * SIGTERM, then SIGKILL if it is still there after `graceMs`. With `group`,
 * the signals go to the child's whole process group (spawned `detached`),
 * which takes the browsers a driver started with it.
 */
export async function terminate(child: ChildProcess | null | undefined, options: { graceMs?: number; group?: boolean } = {}): Promise<void> {
  if (!child || child.pid === undefined) return;
  const { graceMs = 2000, group = false } = options;
  const signal = (name: NodeJS.Signals): void => {
    try {
      if (group) process.kill(-child.pid!, name);
      else child.kill(name);
    } catch {
      // Already gone.
    }
  };
  if (!group && exited(child)) return;
  signal('SIGTERM');
  if ((await waitExit(child, graceMs)) && !group) return;
  // Whatever of the group outlived its leader (or ignored SIGTERM).
  signal('SIGKILL');
  await waitExit(child, graceMs);
}

/** Rejects with `what` after `ms`; the work itself is left to settle on its own. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * SIGKILLs every process whose command line contains `marker`, a path only
 * this run made (a temp profile dir): for browsers whose driver hides their
 * process and did not close them in time.
 */
export function killByArgument(marker: string): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // gone, or not ours to read
    }
    if (!cmdline.includes(marker)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
      killed++;
    } catch {
      // Exited meanwhile.
    }
  }
  return killed;
}
