/**
 * What every engine driver (chromium.ts, firefox.ts, webkit.ts) shares:
 * the page interface tests use, and the small pieces each driver builds it from.
 *
 * Page functions cross into the page as source text, so they must be
 * self-contained (no closures over test variables) and take and return JSON.
 */
import { withTimeout } from './process.js';

export type EngineName = 'chromium' | 'firefox' | 'webkit';
export const ENGINE_NAMES: readonly EngineName[] = ['chromium', 'firefox', 'webkit'];

export interface EngineOptions {
  /** Added to the browser's environment, e.g. `PulseServer.env` so its sound goes to the test sink. */
  readonly env?: Record<string, string>;
  /** Chromium: extra command-line switches. */
  readonly chromiumArgs?: readonly string[];
  /** Firefox: extra about:config prefs over the ones that keep it quiet and let media autoplay. */
  readonly firefoxPrefs?: Record<string, string | number | boolean>;
  /** WebKitGTK: MiniBrowser feature switches, e.g. `-WebCodecsAudio` or `+WebTransport`. */
  readonly webkitFeatures?: readonly string[];
  /** Bound on every single driver call (navigation, evaluation, click); default 20 s. */
  readonly commandTimeoutMs?: number;
}

export type PageFunction<A, R> = (arg: A) => R | Promise<R>;

export interface EnginePage {
  readonly engine: EngineName;
  /** Navigates and waits for the load event. */
  goto(url: string): Promise<void>;
  /** Runs `fn(arg)` in the page (a function, or a function's source) and returns its JSON result. */
  evaluate<R, A = null>(fn: PageFunction<A, R> | string, arg?: A): Promise<R>;
  /**
   * Polls `fn(arg)` until it returns something truthy, and returns that; on
   * timeout the error names `what` and carries the last value seen.
   */
  waitFor<R, A = null>(fn: PageFunction<A, R> | string, arg: A, timeoutMs: number, what: string): Promise<R>;
  /**
   * A real click (trusted, with user activation, as a person's) at the centre
   * of the element matching `selector` inside `<polycast-player>`'s shadow root.
   */
  click(selector: string): Promise<void>;
  /** Page errors and console errors seen so far, where the driver reports them. */
  errors(): string[];
  close(): Promise<void>;
}

export interface Engine {
  readonly name: EngineName;
  /** Browser and engine version, e.g. `Chromium 156.0.8078.114`, `Firefox 153.8.0`, `WebKitGTK 2.50.6`. */
  readonly version: string;
  /** A new page at `url`. WebKitGTK drives one page at a time: opening another closes the previous one. */
  open(url: string): Promise<EnginePage>;
  close(): Promise<void>;
}

/** The page is gone (its renderer or web process crashed): waiting on it any longer is pointless. */
export class EngineCrashError extends Error {
  override name = 'EngineCrashError';
}

/** `(source)(arg)` as an expression, for drivers that evaluate expressions. */
export function callExpression<A>(fn: PageFunction<A, unknown> | string, arg: A | undefined): string {
  const source = typeof fn === 'string' ? fn : fn.toString();
  return `(${source})(${JSON.stringify(arg ?? null)})`;
}

/** Selector inside the player's shadow root → the element's centre in viewport pixels, after scrolling it into view. */
export const SHADOW_CENTRE = (selector: string): { x: number; y: number } | string => {
  // Typed by hand: this module also compiles without the DOM library (the bench drives engines through it).
  type Box = { x: number; y: number; width: number; height: number };
  type Element = { scrollIntoView(options: object): void; getBoundingClientRect(): Box };
  type Host = { shadowRoot: { querySelector(selector: string): Element | null } | null };
  const doc = (globalThis as unknown as { document: { querySelector(selector: string): Host | null } }).document;
  const host = doc.querySelector('polycast-player');
  const element = host?.shadowRoot?.querySelector(selector);
  if (!element) return `no ${selector} in <polycast-player>'s shadow root`;
  element.scrollIntoView({ block: 'center', inline: 'center' });
  const r = element.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return `${selector} is not visible (${r.width}x${r.height})`;
  return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
};

/** The shared polling loop behind `EnginePage.waitFor`. */
export async function pollPage<R>(evaluate: () => Promise<R>, timeoutMs: number, what: string): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  let lastError: unknown = undefined;
  for (;;) {
    try {
      last = await evaluate();
      lastError = undefined;
      if (last) return last as R;
    } catch (err) {
      if (err instanceof EngineCrashError) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tail = lastError ? `; last error: ${(lastError as Error).message}` : `; last value: ${JSON.stringify(last)?.slice(0, 3000)}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${tail}`);
}

/** What a Playwright page and a Puppeteer page both offer: all that `scriptedPage` uses. */
export interface ScriptablePage {
  goto(url: string, options: { waitUntil: 'load'; timeout: number }): Promise<unknown>;
  evaluate(expression: string): Promise<unknown>;
  readonly mouse: { click(x: number, y: number): Promise<void> };
  close(): Promise<unknown>;
}

/**
 * The `EnginePage` of a Playwright (Chromium) or Puppeteer (Firefox) page:
 * `guard` bounds each call and turns a crashed page into `EngineCrashError`,
 * `errors` is filled by the driver's own page listeners.
 */
export function scriptedPage(
  engine: EngineName,
  page: ScriptablePage,
  guard: <T>(work: Promise<T>, what: string) => Promise<T>,
  errors: readonly string[],
  timeout: number,
): EnginePage {
  const self: EnginePage = {
    engine,
    goto: async (url) => {
      await guard(page.goto(url, { waitUntil: 'load', timeout }), `goto ${url}`);
    },
    evaluate: <R, A>(fn: PageFunction<A, R> | string, arg?: A) => guard(page.evaluate(callExpression(fn, arg)) as Promise<R>, 'evaluate'),
    waitFor: <R, A>(fn: PageFunction<A, R> | string, arg: A, ms: number, what: string) => pollPage(() => self.evaluate<R, A>(fn, arg), ms, what),
    click: async (selector) => {
      const at = await self.evaluate(SHADOW_CENTRE, selector);
      if (typeof at === 'string') throw new Error(`${engine}: cannot click: ${at}`);
      await guard(page.mouse.click(at.x, at.y), `click ${selector}`);
    },
    errors: () => [...errors],
    close: async () => {
      await withTimeout(page.close(), timeout, `${engine}: close page`).catch(() => undefined);
    },
  };
  return self;
}

/** A new page from `newPage`, at `url`; closed again if it cannot get there. */
export async function openAt(newPage: () => Promise<EnginePage>, url: string): Promise<EnginePage> {
  const page = await newPage();
  try {
    await page.goto(url);
  } catch (err) {
    await page.close();
    throw err;
  }
  return page;
}

/** Page errors and console errors of a Playwright or Puppeteer page, in the order they came. */
export function collectErrors(page: {
  on(event: 'pageerror', listener: (err: unknown) => void): unknown;
  on(event: 'console', listener: (msg: { type(): string; text(): string }) => void): unknown;
}): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`page error: ${(err as Error)?.message ?? String(err)}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}
