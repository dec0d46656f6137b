/**
 * Debian's Firefox ESR, headless, driven by puppeteer-core over WebDriver
 * BiDi, with a throwaway profile that puppeteer makes and removes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { collectErrors, EngineCrashError, openAt, scriptedPage, type Engine, type EngineOptions, type EnginePage, type ScriptablePage } from './engine-page.js';
import { killByArgument, withTimeout } from './process.js';

/**
 * Added to puppeteer's own test prefs (which already turn off updates,
 * telemetry uploads, safe browsing and the like).
 */
export const FIREFOX_PREFS: Record<string, string | number | boolean> = {
  // Let media and AudioContext start without a gesture, as CHROMIUM_ARGS does for Chromium.
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  // The only network is loopback: every background service that phones home is off, and
  // whatever is left goes to a SOCKS proxy that is not there, names unresolved (remote DNS:
  // with an HTTP proxy Firefox still looked up firefox.settings.services.mozilla.com),
  // while loopback bypasses proxies.
  'network.proxy.type': 1,
  'network.proxy.socks': '127.0.0.1',
  'network.proxy.socks_port': 9,
  'network.proxy.socks_version': 5,
  'network.proxy.socks_remote_dns': true,
  'network.proxy.no_proxies_on': 'localhost, 127.0.0.1, [::1]',
  'network.proxy.allow_hijacking_localhost': false,
  'services.settings.server': 'data:,#remote-settings-dummy/v1',
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.trr.mode': 5,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.predictor.enabled': false,
  'browser.safebrowsing.update.enabled': false,
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.region.update.enabled': false,
  'browser.region.network.url': '',
  'browser.topsites.contile.enabled': false,
  'app.normandy.enabled': false,
  'app.update.enabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.server': '',
  'datareporting.usage.uploadEnabled': false,
  'extensions.blocklist.enabled': false,
  'security.OCSP.enabled': 0,
  'security.remote_settings.crlite_filters.enabled': false,
  'messaging-system.rsexperimentloader.enabled': false,
  // H.264 plays through the system's FFmpeg; the OpenH264 plugin (WebRTC only) would be downloaded.
  'media.gmp-gmpopenh264.enabled': false,
  'media.gmp-manager.url': '',
};

export async function launchFirefox(options: EngineOptions): Promise<Engine> {
  const timeout = options.commandTimeoutMs ?? 20_000;
  // Our own profile dir rather than puppeteer's, so it goes even when Firefox has to be killed.
  const profile = mkdtempSync(join(tmpdir(), 'polycast-firefox-'));
  const browser: Browser = await puppeteer
    .launch({
      browser: 'firefox',
      executablePath: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
      headless: true,
      // Release builds ignore services.settings.server unless this is set.
      env: { ...process.env, MOZ_REMOTE_SETTINGS_DEVTOOLS: '1', ...options.env },
      extraPrefsFirefox: { ...FIREFOX_PREFS, ...options.firefoxPrefs },
      userDataDir: profile,
      timeout: 30_000,
      protocolTimeout: timeout,
    })
    .catch((err: unknown) => {
      rmSync(profile, { recursive: true, force: true });
      throw err;
    });
  const version = (await browser.version()).replace(/^firefox\//i, 'Firefox ');

  const wrap = (page: Page): EnginePage => {
    const errors = collectErrors(page as unknown as Parameters<typeof collectErrors>[0]);
    const guard = async <T>(work: Promise<T>, what: string): Promise<T> => {
      try {
        return await withTimeout(work, timeout, `firefox: ${what}`);
      } catch (err) {
        const message = (err as Error).message;
        // A crashed content process shows up as the browsing context going away under the command.
        if (/crash|context.*(discarded|destroyed|no such frame)|Target closed/i.test(message) && !page.isClosed()) {
          throw new EngineCrashError(`firefox: the page's content process is gone (during ${what}): ${message}`);
        }
        throw err;
      }
    };
    return scriptedPage('firefox', page as unknown as ScriptablePage, guard, errors, timeout);
  };

  return {
    name: 'firefox',
    version,
    open: (url) => openAt(async () => wrap(await withTimeout(browser.newPage(), timeout, 'firefox: new page')), url),
    close: async () => {
      try {
        await withTimeout(browser.close(), timeout, 'firefox: close');
      } catch {
        browser.process()?.kill('SIGKILL');
        killByArgument(profile); // content processes, should any outlive their parent
      }
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
