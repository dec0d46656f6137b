/**
 * One way for tests to drive a page in each browser engine: Chromium
 * (playwright-core over CDP), Firefox (puppeteer-core over WebDriver BiDi)
 * and WebKitGTK (selenium-webdriver over classic WebDriver). Each driver is
 * what its engine speaks best here: playwright cannot drive Debian's Firefox
 * or WebKitGTK, puppeteer speaks no classic WebDriver, and WebKitGTK has no
 * BiDi yet.
 *
 * Each lives in its own module (chromium.ts, firefox.ts, webkit.ts); the
 * interface they share is in engine-page.ts.
 */
import { launchChromiumEngine } from './chromium.js';
import type { Engine, EngineName, EngineOptions } from './engine-page.js';
import { launchFirefox } from './firefox.js';
import { launchWebKit } from './webkit.js';

export * from './engine-page.js';

export function launchEngine(name: EngineName, options: EngineOptions = {}): Promise<Engine> {
  switch (name) {
    case 'chromium':
      return launchChromiumEngine(options);
    case 'firefox':
      return launchFirefox(options);
    case 'webkit':
      return launchWebKit(options);
  }
}
