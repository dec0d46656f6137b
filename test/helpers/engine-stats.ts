/**
 * The player's own figures (`window.__polycast`) read from a page of any
 * engine, and waiting on them with the page's log and errors in the failure.
 */
import { EngineCrashError, pollPage, type EnginePage } from './engines.js';
import type { PageStats } from '../player/page.js';

export type Stats = PageStats & { muted: boolean; audioFramesPlayed: number; audioFramesDropped: number };

// A page function: it runs inside the page, so it closes over nothing.
const READ_STATS = (): unknown => JSON.parse(JSON.stringify((window as unknown as { __polycast?: unknown }).__polycast ?? null));

export async function stats(page: EnginePage): Promise<Stats> {
  const s = await page.evaluate(READ_STATS);
  if (!s) throw new Error('the page has no window.__polycast (not the player page, or its script failed)');
  return s as Stats;
}

export function describeStats(s: Stats | null, page: EnginePage): string {
  if (!s) return `no stats; page errors: ${JSON.stringify(page.errors().slice(-10))}`;
  const { log, ...rest } = s;
  return `${JSON.stringify(rest)}\nplayer log:\n  ${log.slice(-25).join('\n  ')}\npage errors: ${JSON.stringify(page.errors().slice(-10))}`;
}

export async function waitForStats(page: EnginePage, predicate: (s: Stats) => boolean, timeoutMs: number, what: string): Promise<Stats> {
  let last: Stats | null = null;
  try {
    const found = await pollPage(
      async () => {
        last = await stats(page);
        return predicate(last) ? last : null;
      },
      timeoutMs,
      what,
    );
    return found!; // pollPage returns only truthy values

  } catch (err) {
    if (err instanceof EngineCrashError) throw err;
    throw new Error(`${(err as Error).message.split('; last')[0]}\n${describeStats(last, page)}`);
  }
}
