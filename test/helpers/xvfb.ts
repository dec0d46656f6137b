/**
 * A private X display for browsers that need one (WebKitGTK's MiniBrowser
 * has no headless mode). `-displayfd` lets Xvfb pick a free display number
 * itself and tell us, so parallel runs never race for `:99`.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { terminate } from './process.js';

export interface Xvfb {
  /** `:N`, for DISPLAY. */
  readonly display: string;
  stop(): Promise<void>;
}

export async function startXvfb(timeoutMs = 10_000): Promise<Xvfb> {
  const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-nolisten', 'tcp', '-noreset'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
  const fd3 = child.stdio[3] as Readable;
  const display = await new Promise<string>((resolve, reject) => {
    let text = '';
    const fail = (why: string): void => {
      clearTimeout(timer);
      void terminate(child).then(() => reject(new Error(`Xvfb: ${why}: ${log}`)));
    };
    const timer = setTimeout(() => fail(`no display number within ${timeoutMs} ms`), timeoutMs);
    fd3.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(`:${text.trim()}`);
      }
    });
    child.once('exit', (code) => fail(`exited with ${code}`));
    child.once('error', (err) => fail(err.message));
  });
  return { display, stop: () => terminate(child) };
}
