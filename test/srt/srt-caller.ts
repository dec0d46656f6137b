/** Real SRT callers for the tests: ffmpeg (libsrt) pushing MPEG-TS, and Debian's srt-live-transmit. */
import { spawn } from 'node:child_process';
import { tracked, type Publisher } from '../helpers/ffmpeg.js';

export interface SrtCallerOptions {
  /** `publish:live/x`, `#!::r=live/x,m=publish`, ... */
  streamId: string;
  passphrase?: string;
  /** ms (ffmpeg takes µs; converted here). */
  latencyMs?: number;
  /** Seconds of media; default: until stopped. */
  duration?: number;
  video?: 'h264' | 'hevc' | 'none';
  audio?: 'aac' | 'opus' | 'none';
  /** Where ffmpeg sends, when not the server (a lossy relay). */
  host?: string;
  /** More URL options, e.g. `kmrefreshrate=100&kmpreannounce=40`. */
  urlOptions?: string;
}

export type SrtCaller = Publisher;

export function srtUrl(port: number, o: SrtCallerOptions): string {
  // ffmpeg 5.1 passes the stream id on without URL-decoding it: it goes in as written.
  const passphrase = o.passphrase === undefined ? '' : `&passphrase=${o.passphrase}`;
  const more = o.urlOptions === undefined ? '' : `&${o.urlOptions}`;
  return `srt://${o.host ?? '127.0.0.1'}:${port}?streamid=${o.streamId}&latency=${(o.latencyMs ?? 200) * 1000}&pkt_size=1316${passphrase}${more}`;
}

export function ffmpegSrtArgs(url: string, o: SrtCallerOptions): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-re'];
  const video = o.video ?? 'h264';
  const audio = o.audio ?? 'aac';
  if (video !== 'none') args.push('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25');
  if (audio !== 'none') args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  if (o.duration !== undefined) args.push('-t', String(o.duration));
  if (video === 'h264') args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '25');
  if (video === 'hevc') args.push('-c:v', 'libx265', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '25', '-x265-params', 'log-level=error');
  if (audio === 'aac') args.push('-c:a', 'aac', '-b:a', '96k');
  if (audio === 'opus') args.push('-c:a', 'libopus', '-b:a', '64k');
  args.push('-f', 'mpegts', url);
  return args;
}

export function ffmpegSrt(port: number, o: SrtCallerOptions): SrtCaller {
  return tracked(spawn('ffmpeg', ffmpegSrtArgs(srtUrl(port, o), o), { stdio: ['ignore', 'ignore', 'pipe'] }));
}

/** ffmpeg writes MPEG-TS to stdout; srt-live-transmit (libsrt's own tool) carries it to the server. */
export function srtLiveTransmit(port: number, o: SrtCallerOptions): SrtCaller {
  const url = srtUrl(port, o).replace(/latency=(\d+)/, (_m, us: string) => `latency=${Number(us) / 1000}`);
  const encoder = spawn('ffmpeg', ffmpegSrtArgs('pipe:1', o), { stdio: ['ignore', 'pipe', 'ignore'] });
  const transmit = spawn('srt-live-transmit', ['-q', 'file://con', url], { stdio: ['pipe', 'ignore', 'pipe'] });
  encoder.stdout!.pipe(transmit.stdin!);
  transmit.stdin!.on('error', () => undefined);
  transmit.on('exit', () => encoder.kill('SIGKILL'));
  const caller = tracked(transmit);
  return {
    ...caller,
    stop: async () => {
      encoder.kill('SIGKILL');
      await caller.stop();
    },
  };
}
