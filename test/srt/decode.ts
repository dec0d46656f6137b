/** Checks what a reader received with a real decoder: ffmpeg decodes the Annex B it was sent. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MediaMessage } from '../helpers/nal-client.js';

export interface Decoded {
  frames: number;
  /** ffmpeg's complaints while decoding (empty for a clean stream). */
  errors: string;
}

/** Decodes the video a ws-nal reader got, from its first keyframe on. */
export function decodeH264(video: readonly MediaMessage[]): Decoded {
  const first = video.findIndex((m) => (m.flags & 1) === 1);
  const dir = mkdtempSync(join(tmpdir(), 'polycast-srt-'));
  try {
    const file = join(dir, 'video.h264');
    writeFileSync(file, Buffer.concat(video.slice(Math.max(0, first)).map((m) => m.payload)));
    const run = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'h264', '-i', file, '-f', 'framemd5', '-'], { encoding: 'utf8' });
    const frames = run.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    return { frames, errors: run.stderr.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
