/**
 * The bench clip and its publisher. The clip is encoded once (cached under
 * bench/.cache/, named by a hash of the encoder arguments) and pushed looped
 * with `-c copy`, so both servers get the same bytes and the bench's CPU is
 * not spent encoding.
 *
 * A band across the top of the picture carries a colour per second of media
 * time: index floor(t) mod 8, bits → R, G, B at 0 or 255. With a keyframe
 * every 30 frames the keyframe is the first frame of each new colour, so a
 * browser's painted picture can be tied back to the sink's keyframe stamp.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const CLIP_SECONDS = 40;
export const CLIP_WIDTH = 1280;
export const CLIP_HEIGHT = 720;
export const CLIP_FPS = 30;
/** Rows 0..BAND_HEIGHT-1 hold the colour code. */
export const BAND_HEIGHT = 120;
export const COLOURS = 8;

/** The colour index a keyframe stamped with this FLV timestamp shows. */
export function colourOfTimestamp(ms: number): number {
  return Math.floor(ms / 1000) % COLOURS;
}

function hex(index: number): string {
  const c = (bit: number): string => ((index >> bit) & 1 ? 'ff' : '00');
  return `0x${c(2)}${c(1)}${c(0)}`;
}

/** The bench stream's video rate; other rates make other clips (the single-session egress phase uses a 4K-class rate). */
export const CLIP_VIDEO_KBPS = 2500;

export interface ClipOptions {
  /** Video rate (the buffer is half a second of it). */
  videoKbps?: number;
  /** Length; a multiple of 8 s keeps the colour cycle and a whole number of 48 kHz AAC frames. */
  seconds?: number;
}

function encoderArgs(out: string, o: ClipOptions = {}): string[] {
  const kbps = o.videoKbps ?? CLIP_VIDEO_KBPS;
  // `enable` is a timeline expression, so eight fixed-colour boxes give one colour per second without geq.
  const bands = Array.from(
    { length: COLOURS },
    (_, i) => `drawbox=x=0:y=0:w=iw:h=${BAND_HEIGHT}:t=fill:color=${hex(i)}:enable='eq(mod(floor(t),${COLOURS}),${i})'`,
  );
  // Temporal noise keeps every frame expensive to code, so the rate control really spends 2.5 Mbit/s.
  const video = [`testsrc2=size=${CLIP_WIDTH}x${CLIP_HEIGHT}:rate=${CLIP_FPS}`, 'noise=alls=24:allf=t+u', ...bands, 'format=yuv420p'].join(',');
  return [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', video,
    // 48 kHz: 40 s is a whole number of AAC frames, so each loop moves the timestamps by 1 ms at most.
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(o.seconds ?? CLIP_SECONDS),
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high',
    '-g', String(CLIP_FPS), '-keyint_min', String(CLIP_FPS), '-sc_threshold', '0', '-bf', '0',
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps / 2}k`,
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-f', 'flv', out,
  ];
}

/** Path of the cached clip, encoding it first if needed (about half a minute on two cores). */
export function ensureClip(cacheDir: string, log: (line: string) => void, o: ClipOptions = {}): string {
  mkdirSync(cacheDir, { recursive: true });
  const key = createHash('sha256').update(encoderArgs('', o).join('\0')).digest('hex').slice(0, 12);
  const clip = join(cacheDir, `clip-${key}.flv`);
  if (existsSync(clip)) return clip;
  log(`encoding the bench clip (once) → ${clip}`);
  const partial = `${clip}.partial.flv`;
  const result = spawnSync('ffmpeg', encoderArgs(partial, o), { encoding: 'utf8', timeout: 600_000 });
  if (result.status !== 0) {
    rmSync(partial, { force: true });
    throw new Error(`ffmpeg could not encode the clip: ${result.error?.message ?? result.stderr.slice(-800)}`);
  }
  renameSync(partial, clip);
  return clip;
}

export interface Publisher {
  child: ChildProcess;
  alive(): boolean;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * ffmpeg pushes the clip in real time to the server and, through the same tee,
 * to the reference sink. The sink comes first in the tee so its stamp is
 * never later than the server's receipt: latencies are measured from the
 * earlier of the two writes.
 */
export function publish(clip: string, rtmpUrl: string, sinkPort: number): Publisher {
  const tee = `[f=flv:flvflags=no_duration_filesize]tcp://127.0.0.1:${sinkPort}?tcp_nodelay=1|[f=flv:flvflags=no_duration_filesize]${rtmpUrl}`;
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-stream_loop', '-1', '-re', '-i', clip, '-c', 'copy', '-map', '0', '-f', 'tee', tee];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    child,
    alive,
    stderr: () => err,
    stop: async () => {
      if (alive()) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
