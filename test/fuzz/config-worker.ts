/**
 * Parses configuration texts for the config target, in a worker thread so
 * that a parse that never ends can be timed out and the worker replaced.
 */
import { parentPort } from 'node:worker_threads';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';

export type Verdict =
  | { kind: 'ok' }
  | { kind: 'config-error'; problems: number; positioned: number; first: string }
  | { kind: 'other'; error: string };

parentPort?.on('message', (text: string) => {
  let verdict: Verdict;
  try {
    // No environment: POLYCAST_* variables of the machine must not change verdicts.
    parseConfig(text, 'fuzz.yml', {});
    verdict = { kind: 'ok' };
  } catch (err) {
    if (err instanceof ConfigError) {
      const positioned = err.problems.filter((p) => p.origin.kind !== 'file' || p.origin.line !== undefined).length;
      verdict = { kind: 'config-error', problems: err.problems.length, positioned, first: err.message.split('\n')[0]!.slice(0, 200) };
    } else verdict = { kind: 'other', error: `${(err as Error).name}: ${(err as Error).message}`.slice(0, 300) };
  }
  parentPort!.postMessage(verdict);
});
