import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

export interface FfmpegLocation {
  path: string;
  /** Where it came from, for the startup log. */
  origin: 'config' | 'system' | 'npm';
}

/**
 * ffmpeg runs the demo stream and other hooks: the configured one first, then
 * the system's, then the static build shipped by `@ffmpeg-installer/ffmpeg`,
 * so a fresh machine without apt still shows the demo.
 */
export function locateFfmpeg(configured: string, env: NodeJS.ProcessEnv = process.env): FfmpegLocation | undefined {
  if (configured !== '') return { path: configured, origin: 'config' };
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'ffmpeg');
    if (isExecutable(candidate)) return { path: candidate, origin: 'system' };
  }
  try {
    const require = createRequire(import.meta.url);
    const installer = require('@ffmpeg-installer/ffmpeg') as { path: string };
    if (isExecutable(installer.path)) return { path: installer.path, origin: 'npm' };
  } catch {
    // The package has no binary for this platform.
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
