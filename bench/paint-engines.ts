/**
 * Encoder-to-painted latency of the Polycast player in each browser engine
 * this machine has: Chromium, Firefox ESR and WebKitGTK, driven by the same
 * drivers the end-to-end tests use. For each engine, the transport its
 * auto-negotiation picks and ws-fmp4 (MSE), both with the sound on: the
 * unmute button is clicked before measuring, so the figures are those of a
 * viewer who listens (the MSE sound path and its synchronisation included).
 *
 * The sampler is the Chromium phase's (paint.ts), injected after the load
 * event because only Chromium's driver can inject earlier; first paint is
 * therefore the player's own `firstPaintAt` (navigation start → first frame
 * drawn), the same measure in every engine.
 */
import { launchEngine, type Engine, type EngineName, type EnginePage } from '../test/helpers/engines.js';
import { startPulse, type PulseServer } from '../test/helpers/pulse.js';
import { startLive, type LiveServer } from './live.js';
import {
  clockSkew,
  PAGE_WALL_CLOCK,
  SAMPLER_FUNCTION,
  scoreChanges,
  waitForChanges,
  type PageState,
  type PaintFigures,
  type PaintTiming,
} from './paint.js';
import { STREAM_PATH } from './servers.js';

export const ENGINES: readonly EngineName[] = ['chromium', 'firefox', 'webkit'];
export type EngineMode = 'auto' | 'ws-nal' | 'wt-fmp4' | 'ws-fmp4';
/**
 * What each engine is asked to play: its own choice, and each other
 * transport it can carry, so first paint and painted latency are known per
 * transport. WebKitGTK's choice is ws-nal, and its WebTransport is behind a flag.
 */
const ENGINE_MODES: Readonly<Record<EngineName, readonly EngineMode[]>> = {
  chromium: ['auto', 'ws-nal', 'wt-fmp4', 'ws-fmp4'],
  firefox: ['auto', 'ws-nal', 'wt-fmp4', 'ws-fmp4'],
  webkit: ['auto', 'ws-fmp4'],
};

export interface EnginePaintResult extends PaintFigures {
  engine: EngineName;
  /** `Chromium 156…`, `Firefox 153…`, `WebKitGTK 2.50…`; the engine name alone when it did not start. */
  version: string;
  mode: EngineMode;
  /** The transport that carried the pictures while measuring (what `auto` chose). */
  transport: string | null;
  /** How the sound played (`webcodecs`, `mse`), and whether audio frames kept coming out after the unmute click. */
  soundPath: string | null;
  soundPlaying: boolean;
  /** The player's own latency estimate (server receive → paint), at the end of the run, ms. */
  playerLatencyMs: number | null;
}

export interface EnginePaintContext {
  root: string;
  clip: string;
  timing: PaintTiming;
  log(line: string): void;
}

interface PlayerView {
  state: string;
  detail: string;
  transport: string | null;
  framesPainted: number;
  firstPaintAt: number | null;
  muted: boolean;
  audioFramesPlayed: number;
  soundPath: string | null;
  latencyMs: number | null;
}

// Page functions: they run inside the page, so they close over nothing.
const READ_PLAYER = (): PlayerView | null => {
  const s = (globalThis as unknown as { __polycast?: PlayerView }).__polycast;
  return s
    ? {
        state: s.state,
        detail: s.detail,
        transport: s.transport,
        framesPainted: s.framesPainted,
        firstPaintAt: s.firstPaintAt,
        muted: s.muted,
        audioFramesPlayed: s.audioFramesPlayed,
        soundPath: s.soundPath,
        latencyMs: s.latencyMs,
      }
    : null;
};

const READ_SAMPLER = (): Omit<PageState, 'player'> | null => {
  const w = globalThis as unknown as { __bench?: Omit<PageState, 'player' | 'origin'>; performance: { timeOrigin: number } };
  return w.__bench ? { ...w.__bench, origin: w.performance.timeOrigin } : null;
};

const FIRST_PAINTED = (): boolean => {
  const s = (globalThis as unknown as { __polycast?: { framesPainted: number } }).__polycast;
  return !!s && s.framesPainted > 0;
};

export async function runEnginePaint(ctx: EnginePaintContext): Promise<EnginePaintResult[]> {
  const results: EnginePaintResult[] = [];
  let pulse: PulseServer | undefined;
  let live: LiveServer | undefined;
  try {
    try {
      // The browsers play into a private null sink: sound really runs, and nothing reaches the machine's speakers.
      pulse = await startPulse();
      live = await startLive('polycast', ctx.clip, { root: ctx.root, webTransport: true });
    } catch (err) {
      const note = (err as Error).message.split('\n')[0]!;
      for (const engine of ENGINES) for (const mode of ENGINE_MODES[engine]) results.push(failed(engine, engine, mode, [note]));
      return results;
    }
    for (const engine of ENGINES) results.push(...(await measureEngine(engine, live, pulse, ctx)));
  } finally {
    await live?.stop();
    await pulse?.stop();
  }
  return results;
}

async function measureEngine(name: EngineName, live: LiveServer, pulse: PulseServer, ctx: EnginePaintContext): Promise<EnginePaintResult[]> {
  let engine: Engine;
  try {
    engine = await launchEngine(name, { env: pulse.env, commandTimeoutMs: 30_000 });
  } catch (err) {
    const note = `did not start: ${(err as Error).message.split('\n')[0]}`;
    return ENGINE_MODES[name].map((mode) => failed(name, name, mode, [note]));
  }
  const out: EnginePaintResult[] = [];
  try {
    for (const mode of ENGINE_MODES[name]) {
      ctx.log(`  ${engine.version}, ${mode}`);
      const url = `http://127.0.0.1:${live.server.httpPort}/${STREAM_PATH}/${mode === 'auto' ? '' : `?transport=${mode}`}`;
      try {
        out.push(await measureMode(engine, mode, url, live, ctx.timing));
      } catch (err) {
        // One engine or transport that cannot play is its own row, not the end of the run.
        out.push(failed(name, engine.version, mode, [(err as Error).message.split('\n')[0]!.slice(0, 300)]));
      }
    }
  } finally {
    await engine.close().catch(() => undefined);
  }
  return out;
}

async function measureMode(engine: Engine, mode: EngineMode, url: string, live: LiveServer, timing: PaintTiming): Promise<EnginePaintResult> {
  const result: EnginePaintResult = {
    ...failed(engine.name, engine.version, mode, []),
    status: 'ok',
  };
  const page = await engine.open(url);
  try {
    await page.waitFor(FIRST_PAINTED, null, timing.timeoutMs, 'a first painted frame');
    const first = await page.evaluate(READ_PLAYER);
    if (first?.firstPaintAt != null) result.firstPaintMs.push(first.firstPaintAt);
    await page.evaluate(SAMPLER_FUNCTION);
    await page.click('button.mute');
    const audioAtClick = (await page.evaluate(READ_PLAYER))?.audioFramesPlayed ?? 0;

    const state = await waitForChanges(() => readState(page), live, timing);
    const player = await page.evaluate(READ_PLAYER);
    result.transport = player?.transport ?? null;
    result.soundPath = player?.soundPath ?? null;
    result.soundPlaying = !!player && !player.muted && player.audioFramesPlayed > audioAtClick;
    result.playerLatencyMs = player?.latencyMs ?? null;
    if (!result.soundPlaying) result.notes.push(`no sound after the unmute click (muted: ${player?.muted}, audio frames ${audioAtClick} → ${player?.audioFramesPlayed})`);
    if (state.error !== null) result.notes.push(`sampler: ${state.error}`);
    if (state.firstPresentAt === null) {
      result.status = 'error';
      result.notes.push(`the sampler saw no picture (target ${state.target ?? 'none'}; player ${player?.state} ${player?.detail ?? ''})`);
      return result;
    }
    scoreChanges(result, state, live, timing);
    result.clock = await clockSkew(() => page.evaluate(PAGE_WALL_CLOCK));

    for (let i = 0; i < timing.reloads; i++) {
      await page.goto(url);
      try {
        await page.waitFor(FIRST_PAINTED, null, 10_000, 'a first painted frame after reloading');
        const again = await page.evaluate(READ_PLAYER);
        if (again?.firstPaintAt != null) result.firstPaintMs.push(again.firstPaintAt);
      } catch {
        result.notes.push(`page load ${i + 2}: nothing painted in 10 s`);
      }
    }
  } finally {
    // GLib warnings from WebKit's processes (no GL video sink here, and the like) are the machine's, not the player's.
    const errors = page.errors().filter((e) => !/\bWARNING \*\*/.test(e));
    if (errors.length > 0) result.notes.push(...errors.slice(0, 3).map((e) => e.slice(0, 160)));
    await page.close();
  }
  return result;
}

async function readState(page: EnginePage): Promise<PageState> {
  const s = await page.evaluate(READ_SAMPLER);
  return { ...(s ?? { target: null, firstPresentAt: null, changes: [], samples: 0, ambiguous: 0, error: 'sampler not installed', origin: 0 }), player: null };
}

function failed(engine: EngineName, version: string, mode: EngineMode, notes: string[]): EnginePaintResult {
  return {
    engine,
    version,
    mode,
    status: 'error',
    notes,
    changes: 0,
    skipped: 0,
    firstPaintMs: [],
    transport: null,
    soundPath: null,
    soundPlaying: false,
    playerLatencyMs: null,
  };
}
