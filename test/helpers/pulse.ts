/**
 * Real sound for browser tests: a private PulseAudio daemon with one null
 * sink, whose monitor `parec` records, and a tone detector for what it
 * recorded. Browsers launched with `env` play into the null sink; nothing
 * reaches the machine's own audio (there is none on CI).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { terminate } from './process.js';

export const SAMPLE_RATE = 48_000;
/** Analysis window: 4800 samples, so 440 Hz falls exactly on a Goertzel bin (44) and leaks nothing. */
export const WINDOW_MS = 100;
const SINK = 'polycast_test';

export interface PulseServer {
  /** For every browser (and its helpers) that should play here. */
  readonly env: Record<string, string>;
  readonly sink: string;
  /** Starts `parec` on the sink's monitor; stop it with `Recording.stop()`. */
  record(): Promise<Recording>;
  stop(): Promise<void>;
}

export interface ToneWindow {
  /** Start of the window, ms of recording. */
  readonly atMs: number;
  /** RMS level, dBFS (−Infinity for digital silence). */
  readonly dbfs: number;
  /** Share of the window's energy at the tone's frequency, 0–1. */
  readonly share: number;
  readonly tone: boolean;
}

export interface ToneOptions {
  readonly frequency?: number;
  /** Quieter windows are silence whatever their spectrum (dither, rounding). */
  readonly minDbfs?: number;
  /** A window holds the tone when at least this share of its energy is at the frequency. */
  readonly minShare?: number;
}

const TONE_DEFAULTS = { frequency: 440, minDbfs: -50, minShare: 0.5 } as const;

/**
 * One `ToneWindow` per whole 100 ms window. Goertzel at `frequency` gives the
 * energy in that bin; a pure sine puts all of its energy there (share 1),
 * silence none, music or noise little. AAC and resampling keep a sine above 0.9.
 */
export function toneWindows(samples: Int16Array, options: ToneOptions = {}, offsetMs = 0): ToneWindow[] {
  const { frequency, minDbfs, minShare } = { ...TONE_DEFAULTS, ...options };
  const n = (SAMPLE_RATE * WINDOW_MS) / 1000;
  const coeff = 2 * Math.cos((2 * Math.PI * frequency) / SAMPLE_RATE);
  const windows: ToneWindow[] = [];
  for (let start = 0; start + n <= samples.length; start += n) {
    let s1 = 0;
    let s2 = 0;
    let energy = 0;
    for (let i = start; i < start + n; i++) {
      const x = samples[i]! / 32768;
      energy += x * x;
      const s0 = x + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    const share = energy > 0 ? Math.min(1, (2 * power) / (n * energy)) : 0;
    const dbfs = 10 * Math.log10(energy / n) + 3.01; // RMS relative to a full-scale sine
    windows.push({ atMs: offsetMs + (start / SAMPLE_RATE) * 1000, dbfs, share, tone: dbfs >= minDbfs && share >= minShare });
  }
  return windows;
}

/**
 * Where the tone starts after `fromMs`: the first window that begins a run of
 * `run` tone windows, or null. A run, so that a click or one lucky window
 * does not count as sound.
 */
export function toneOnset(windows: readonly ToneWindow[], fromMs = 0, run = 5): number | null {
  let count = 0;
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    if (w.atMs < fromMs || !w.tone) {
      count = 0;
      continue;
    }
    if (++count >= run) return windows[i - run + 1]!.atMs;
  }
  return null;
}

/** For failure messages: per window `+` tone, `.` silence, `~` other sound; a space every second. */
export function toneStrip(windows: readonly ToneWindow[], fromMs = 0, toMs = Infinity): string {
  const picked = windows.filter((w) => w.atMs >= fromMs && w.atMs < toMs);
  return picked
    .map((w, i) => (i > 0 && i % 10 === 0 ? ' ' : '') + (w.tone ? '+' : w.dbfs < TONE_DEFAULTS.minDbfs ? '.' : '~'))
    .join('');
}

export interface Recording {
  /** Ms of sound recorded so far: "now" on the recording's clock. */
  mark(): number;
  /** The recording from `fromMs` (rounded down to a window) on. */
  samples(fromMs?: number): Int16Array;
  windows(fromMs?: number, options?: ToneOptions): ToneWindow[];
  /** Waits until the tone has started after `fromMs`; returns its onset, or null after `timeoutMs`. */
  waitForTone(fromMs: number, timeoutMs: number, options?: ToneOptions): Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * We run as root and want no system-wide daemon: `--system=false` keeps it a
 * per-user daemon (it only warns about root), `-n` skips default.pa so only
 * the two modules below exist (no suspend-on-idle: the null sink runs, and its
 * monitor yields silence, even with no stream), HOME and XDG_RUNTIME_DIR in a
 * temp dir keep it off the real user's config and sockets.
 */
export async function startPulse(timeoutMs = 10_000): Promise<PulseServer> {
  const dir = mkdtempSync(join(tmpdir(), 'polycast-pulse-'));
  const runtime = join(dir, 'run');
  const socket = join(runtime, 'pulse', 'native');
  mkdirSync(join(runtime, 'pulse'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'home'));
  const daemonEnv = { ...process.env, HOME: join(dir, 'home'), XDG_RUNTIME_DIR: runtime, XDG_CONFIG_HOME: join(dir, 'home', '.config') };
  const daemon = spawn(
    'pulseaudio',
    [
      '-n',
      '--daemonize=no',
      '--system=false',
      '--exit-idle-time=-1',
      '--disallow-exit',
      '--use-pid-file=no',
      '--log-target=stderr',
      '--log-level=error',
      '-L',
      `module-native-protocol-unix socket=${socket} auth-anonymous=1`,
      '-L',
      `module-null-sink sink_name=${SINK} rate=${SAMPLE_RATE} channels=2`,
    ],
    { env: daemonEnv, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  daemon.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  // Clients get the server's address and a cookie-less, autospawn-less config.
  const env: Record<string, string> = { PULSE_SERVER: `unix:${socket}`, PULSE_COOKIE: join(dir, 'cookie') };
  const children = new Set<ChildProcess>();
  const stop = async (): Promise<void> => {
    await Promise.all([...children].map((c) => terminate(c)));
    await terminate(daemon);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (daemon.exitCode !== null) {
      await stop();
      throw new Error(`pulseaudio exited with ${daemon.exitCode}: ${log}`);
    }
    const info = spawnSync('pactl', ['info'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 2000 });
    if (info.status === 0 && info.stdout.includes(`Default Sink: ${SINK}`)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pulseaudio did not come up within ${timeoutMs} ms: ${log} ${info.stderr ?? ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    env,
    sink: SINK,
    stop,
    record: async () => {
      const parec = spawn(
        'parec',
        ['--raw', '--format=s16le', `--rate=${SAMPLE_RATE}`, '--channels=1', '--latency-msec=20', '-d', `${SINK}.monitor`],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.add(parec);
      let errors = '';
      parec.stderr!.on('data', (d: Buffer) => (errors = (errors + d.toString()).slice(-2000)));
      // Grown by doubling: a minute of mono 16-bit sound is under 6 MB.
      let buffer = Buffer.alloc(SAMPLE_RATE * 2 * 10);
      let length = 0;
      parec.stdout!.on('data', (d: Buffer) => {
        if (length + d.length > buffer.length) {
          const bigger = Buffer.alloc(Math.max(buffer.length * 2, length + d.length));
          buffer.copy(bigger, 0, 0, length);
          buffer = bigger;
        }
        d.copy(buffer, length);
        length += d.length;
      });
      const windowSamples = (SAMPLE_RATE * WINDOW_MS) / 1000;
      const firstSample = (fromMs: number): number => Math.max(0, Math.floor((fromMs * SAMPLE_RATE) / 1000 / windowSamples) * windowSamples);
      const samples = (fromMs = 0): Int16Array => {
        const from = firstSample(fromMs);
        const count = Math.max(0, (length >> 1) - from);
        const copy = new Int16Array(count);
        for (let i = 0; i < count; i++) copy[i] = buffer.readInt16LE((from + i) * 2);
        return copy;
      };
      // The monitor streams silence from the start: the first bytes say parec is connected.
      const deadline = Date.now() + 5000;
      while (length === 0) {
        if (parec.exitCode !== null || Date.now() > deadline) {
          await terminate(parec);
          throw new Error(`parec recorded nothing (exit ${parec.exitCode}): ${errors}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const recording: Recording = {
        mark: () => ((length >> 1) / SAMPLE_RATE) * 1000,
        samples,
        windows: (fromMs = 0, options) => toneWindows(samples(fromMs), options, (firstSample(fromMs) / SAMPLE_RATE) * 1000),
        waitForTone: async (fromMs, timeoutMs, options) => {
          const until = Date.now() + timeoutMs;
          for (;;) {
            const onset = toneOnset(recording.windows(fromMs, options), fromMs);
            if (onset !== null || Date.now() > until) return onset;
            if (parec.exitCode !== null) throw new Error(`parec exited with ${parec.exitCode}: ${errors}`);
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        },
        stop: async () => {
          await terminate(parec);
          children.delete(parec);
        },
      };
      return recording;
    },
  };
}
