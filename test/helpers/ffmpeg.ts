import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface PublishOptions {
  size?: string;
  rate?: number;
  gop?: number;
  /** Extra video encoder options, e.g. ['-bf', '2'] for B-frames. */
  videoArgs?: string[];
  audio?: boolean;
  video?: boolean;
  /** Seconds of media; default: until stopped. */
  duration?: number;
  /** Override input (e.g. a file); default: lavfi test pattern and tone. */
  inputArgs?: string[];
  /** How to start ffmpeg, e.g. inside a network namespace (`Namespace.spawn`). */
  spawn?: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
}

export interface Publisher {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Publishes a real H.264/AAC test stream with the system ffmpeg. */
export function publish(url: string, o: PublishOptions = {}): Publisher {
  const size = o.size ?? '640x360';
  const rate = o.rate ?? 30;
  const video = o.video ?? true;
  const audio = o.audio ?? true;
  const args = ['-hide_banner', '-loglevel', 'error', '-re'];
  if (o.inputArgs) args.push(...o.inputArgs);
  else {
    if (video) args.push('-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${rate}`);
    if (audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  }
  if (o.duration !== undefined) args.push('-t', String(o.duration));
  if (video) {
    args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', String(o.gop ?? rate));
    args.push(...(o.videoArgs ?? []));
  } else args.push('-vn');
  if (audio) args.push('-c:a', 'aac', '-b:a', '96k');
  else args.push('-an');
  args.push('-f', 'flv', url);
  return tracked((o.spawn ?? spawn)('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] }));
}

/** A spawned publisher process: the tail of its stderr, its exit, and a stop that kills it. */
export function tracked(child: ChildProcess): Publisher {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
