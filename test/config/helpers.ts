import { expect } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import type { Env } from '../../src/config/env.js';

/** Lines of the ConfigError that parsing `text` (as `mediamtx.yml`) must throw. */
export function problemsOf(text: string, env: Env = {}): string[] {
  try {
    parseConfig(text, 'mediamtx.yml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

/** Joins lines, so YAML in tests can be written one line per array item. */
export const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;
