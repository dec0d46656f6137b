/**
 * A short run of every fuzz target against one Polycast child (restarted if
 * a target kills it), as part of `npm test`. The full run is `npm run fuzz`.
 * Frame rate and RSS are measured there, not asserted here: on a shared CI
 * machine they measure the machine. What is asserted cannot depend on
 * timing: the server stays up, the watching reader and the publisher stay
 * connected, no 5xx, no internal-error close, no untyped parser exception.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from './bundle.mjs';
import { runTarget, startSystem, stopSystem, type Scripts, type System } from './run.js';
import { TARGETS } from './targets/index.js';

/** Messages per target: enough to get past each handshake many times, small enough for ~40 s in all. */
const SMOKE_COUNT: Record<string, number> = { h3: 40, moq: 25, moqt: 25, srt: 300, rtmp: 150, flv: 80, 'rtmp-origin': 200, 'moqt-origin': 150, hls: 100, config: 150 };
const DEFAULT_COUNT = 300;

let scripts: Scripts;
let system: System | undefined;

beforeAll(async () => {
  scripts = await bundle();
  process.env.POLYCAST_FUZZ_CONFIG_WORKER = scripts.configWorker;
  process.env.POLYCAST_FUZZ_WATCH_WORKER = scripts.watchWorker;
}, 30_000);

afterAll(async () => {
  if (system) await stopSystem(system);
});

describe('fuzz smoke (seed 1)', () => {
  for (const target of TARGETS) {
    it(`${target.name}: the server, its publisher and its reader survive`, async () => {
      if (system && !system.server.alive()) {
        await stopSystem(system);
        system = undefined;
      }
      system ??= await startSystem(scripts);
      const r = await runTarget(target, system, { count: SMOKE_COUNT[target.name] ?? DEFAULT_COUNT, seed: 1 }, 300);
      const serious = r.findings.filter((f) => f.kind !== 'degradation').map((f) => `${f.kind} (case ${f.caseIndex ?? '-'}): ${f.detail.slice(0, 300)}`);
      expect(r.messages).toBeGreaterThan(0);
      expect(serious).toEqual([]);
      expect(r.alive).toBe(true);
    }, 60_000);
  }
});
