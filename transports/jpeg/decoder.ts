import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { Path } from '../../src/stream/path.js';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import type { Frame, StreamDescription, VideoTrackInfo } from '../../src/stream/types.js';
import { decoderInputFor, type DecoderInput } from './decoder-input.js';

/** A decoded picture: RGB, 8 bits per channel. */
export interface Picture {
  readonly seq: number;
  readonly width: number;
  readonly height: number;
  readonly rgb: Buffer;
  /** Server receive time of the frame it came from (ms since epoch). */
  readonly receivedAt: number;
}

/** Bytes the decoder's stdin may hold before frames wait in the reader queue. */
const STDIN_HIGH_WATER = 2 * 1024 * 1024;

/**
 * One ffmpeg per path turning its video (H.264, HEVC, AV1, VP9) into the newest picture, started when
 * someone asks for a snapshot and stopped when nobody has for a while. Every
 * poller of the path shares it. It reads the path like any transport: as a
 * `Reader`.
 */
export class SnapshotDecoder implements ReaderSink {
  readonly reader: Reader;
  latest: Picture | undefined;
  lastUsed = performance.now();
  private child: ChildProcess | null = null;
  private input: DecoderInput | undefined;
  private frameBytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private seq = 0;
  private readonly receivedAts: number[] = [];
  private waiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly path: Path,
    private readonly ffmpeg: string,
    private readonly log: Logger,
    queueSize: number,
  ) {
    this.reader = new Reader({ id: `snapshot:${path.name}`, protocol: 'jpeg', remoteAddress: 'internal' }, this, queueSize);
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Resolves when a picture exists (true) or after `timeoutMs` (false). */
  waitForPicture(timeoutMs: number): Promise<boolean> {
    if (this.latest !== undefined) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.latest !== undefined), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  stop(): void {
    this.stopped = true;
    this.kill();
  }

  // ReaderSink

  writable(): boolean {
    const stdin = this.child?.stdin;
    return stdin != null && stdin.writableLength < STDIN_HIGH_WATER;
  }

  write(frame: Frame): void {
    if (frame.kind !== 'video' || this.input === undefined) return;
    const stdin = this.child?.stdin;
    if (stdin == null || stdin.destroyed) return;
    this.receivedAts.push(frame.receivedAt);
    if (this.receivedAts.length > 256) this.receivedAts.shift();
    stdin.write(this.input.frame(frame));
  }

  describe(desc: StreamDescription): void {
    this.kill();
    this.latest = undefined;
    this.input = desc.video && decoderInputFor(desc.video);
    if (desc.video !== undefined && this.input !== undefined && !this.stopped) this.spawn(desc.video, this.input);
  }

  offline(): void {
    this.kill();
    this.input = undefined;
    this.latest = undefined;
  }

  private spawn(video: VideoTrackInfo, input: DecoderInput): void {
    const { width, height } = video;
    this.frameBytes = width * height * 3;
    // No analysis, no input buffering (the input's own flags in decoder-input.ts), slice threads only
    // (frame threads would hold pictures back), and every decoded picture out exactly once (-vsync 0):
    // raw H.264 has no timestamps, so ffmpeg would otherwise drop or repeat pictures to hit an assumed 25 fps.
    const args = ['-hide_banner', '-loglevel', 'error', '-analyzeduration', '0', '-fflags', 'nobuffer', '-flags', 'low_delay', '-thread_type', 'slice', ...input.args, '-i', 'pipe:0', '-an', '-vsync', '0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
    const child = spawn(this.ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.pending = [];
    this.pendingBytes = 0;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-1000)));
    child.stdin!.on('drain', () => this.reader.resume());
    child.stdin!.on('error', () => undefined);
    child.stdout!.on('data', (chunk: Buffer) => this.onOutput(chunk, width, height));
    if (input.header !== undefined) child.stdin!.write(input.header);
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (!this.stopped && signal === null) this.log.warn({ path: this.path.name, code, stderr: stderr.trim() }, 'snapshot decoder exited');
    });
    child.on('error', (err) => this.log.error({ path: this.path.name, err: err.message }, 'snapshot decoder failed to start'));
    this.log.debug({ path: this.path.name, pid: child.pid }, 'snapshot decoder started');
  }

  private onOutput(chunk: Buffer, width: number, height: number): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= this.frameBytes) {
      const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      // Only the newest complete picture matters; older ones in the same read are skipped.
      const whole = Math.floor(all.length / this.frameBytes);
      const start = (whole - 1) * this.frameBytes;
      const rgb = Buffer.from(all.subarray(start, start + this.frameBytes));
      const rest = all.subarray(whole * this.frameBytes);
      this.pending = rest.length > 0 ? [Buffer.from(rest)] : [];
      this.pendingBytes = rest.length;
      // ffmpeg swallows its first ~30 packets while it sets itself up and then
      // emits each picture one packet behind the newest input: so the picture
      // is the second-newest frame written, not the next in a FIFO.
      const n = this.receivedAts.length;
      const receivedAt = this.receivedAts[Math.max(0, n - 2)] ?? Date.now();
      this.receivedAts.splice(0, Math.max(0, n - 2));
      this.latest = { seq: ++this.seq, width, height, rgb, receivedAt };
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  private kill(): void {
    const child = this.child;
    this.child = null;
    if (child !== null && child.exitCode === null) child.kill('SIGKILL');
  }
}
