/**
 * Debian's Chromium for the engine tests, driven by playwright-core over CDP
 * with the same switches as launchChromium() in browser.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS } from './browser.js';
import { collectErrors, EngineCrashError, openAt, scriptedPage, type Engine, type EngineOptions, type EnginePage, type ScriptablePage } from './engine-page.js';
import { killByArgument, withTimeout } from './process.js';

export async function launchChromiumEngine(options: EngineOptions): Promise<Engine> {
  const timeout = options.commandTimeoutMs ?? 20_000;
  const profile = mkdtempSync(join(tmpdir(), 'polycast-chromium-'));
  const context = await chromium
    .launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      // Even with CHROMIUM_ARGS Chromium looks up accounts.google.com; no name resolves here but localhost.
      args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1', ...(options.chromiumArgs ?? [])],
      // Playwright mutes headless browsers by default; the sound tests listen to what it plays.
      ignoreDefaultArgs: ['--mute-audio'],
      env: { ...process.env, ...options.env },
      timeout,
    })
    .catch((err: unknown) => {
      rmSync(profile, { recursive: true, force: true });
      throw err;
    });
  context.setDefaultTimeout(timeout);
  const version = await chromiumVersion(context.pages()[0] ?? (await context.newPage()));
  // The persistent context opens with one blank page; tests open their own.
  for (const page of context.pages()) await page.close();

  const wrap = (page: Page): EnginePage => {
    const errors = collectErrors(page as unknown as Parameters<typeof collectErrors>[0]);
    let crashed = false;
    page.on('crash', () => (crashed = true));
    const guard = async <T>(work: Promise<T>, what: string): Promise<T> => {
      try {
        return await withTimeout(work, timeout, `chromium: ${what}`);
      } catch (err) {
        if (crashed) throw new EngineCrashError(`chromium: the renderer crashed (during ${what}): ${(err as Error).message}`);
        throw err;
      }
    };
    return scriptedPage('chromium', page as unknown as ScriptablePage, guard, errors, timeout);
  };

  return {
    name: 'chromium',
    version,
    open: (url) => openAt(async () => wrap(await withTimeout(context.newPage(), timeout, 'chromium: new page')), url),
    close: async () => {
      // playwright keeps a persistent context's process to itself: the profile path names it.
      await withTimeout(context.close(), timeout, 'chromium: close').catch(() => killByArgument(profile));
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A persistent context has no `browser()`; CDP still says the full version (the user agent string is frozen). */
async function chromiumVersion(page: Page): Promise<string> {
  const cdp = await page.context().newCDPSession(page);
  const { product } = await cdp.send('Browser.getVersion');
  await cdp.detach();
  return `Chromium ${product.replace(/^[^/]*\//, '')}`;
}
