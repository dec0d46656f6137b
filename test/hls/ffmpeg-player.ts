import { spawn } from 'node:child_process';

/** ffmpeg reads an HLS URL through its demuxer for `seconds` and decodes video and audio; its exit code and log. */
export function ffmpegPlay(url: string, seconds: number): Promise<{ code: number | null; log: string }> {
  return new Promise((resolve) => {
    const args = ['-n', '19', 'ffmpeg', '-hide_banner', '-nostats', '-v', 'info', '-i', url, '-t', String(seconds), '-map', '0:v', '-map', '0:a', '-f', 'null', '-'];
    const child = spawn('nice', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, log });
    });
  });
}

/** What a clean decode of video and audio looks like in ffmpeg's log. */
export const CLEAN_DECODE = { progress: /video:\d+kB audio:\d+kB/, problems: /error|corrupt|invalid|non[- ]monoton/i };
