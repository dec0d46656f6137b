/**
 * WebKitGTK's MiniBrowser, driven over classic W3C WebDriver by Debian's
 * WebKitWebDriver with selenium-webdriver as the client. MiniBrowser needs
 * an X display, so each launch starts its own Xvfb.
 *
 * MiniBrowser shows one page: `open()` reuses it. When the web process
 * crashes (WebKitGTK 2.50 does on `AudioData.copyTo()`), WebKitWebDriver
 * deletes the session; the page's calls then fail with EngineCrashError,
 * and the next `open()` starts a new MiniBrowser.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Builder, Origin, type WebDriver } from 'selenium-webdriver';
import { EngineCrashError, pollPage, SHADOW_CENTRE, type Engine, type EngineOptions, type EnginePage, type PageFunction } from './engine-page.js';
import { freePort } from './ports.js';
import { terminate, withTimeout } from './process.js';
import { startXvfb } from './xvfb.js';

export const MINIBROWSER_PATH = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** What each feature switch shows in the page, to check that a `--features` switch took. */
const FEATURE_GLOBALS: Record<string, string> = {
  WebCodecsAudio: 'AudioDecoder',
  WebCodecsVideo: 'VideoDecoder',
  WebTransport: 'WebTransport',
  WebSocketStream: 'WebSocketStream',
  ManagedMediaSource: 'ManagedMediaSource',
};

const CRASH_MARK = 'WebProcess CRASHED';

export async function launchWebKit(options: EngineOptions): Promise<Engine> {
  const timeout = options.commandTimeoutMs ?? 20_000;
  const binary = process.env.MINIBROWSER_PATH ?? MINIBROWSER_PATH;
  if (!existsSync(binary)) throw new Error(`no MiniBrowser at ${binary} (Debian: libwebkit2gtk-4.1-0 with webkit2gtk-driver)`);
  const features = options.webkitFeatures ?? [];
  const dir = mkdtempSync(join(tmpdir(), 'polycast-webkit-'));
  let xvfb: Awaited<ReturnType<typeof startXvfb>> | null = null;
  let driverProcess: ChildProcess | null = null;
  /** The driver's output (MiniBrowser's and its web process's stderr come through it), last 20 000 characters of `logTotal`. */
  let log = '';
  let logTotal = 0;
  let crashes = 0;

  const teardown = async (): Promise<void> => {
    // The driver leads its own process group, which holds MiniBrowser and WebKit's helper processes.
    await terminate(driverProcess, { group: true });
    await xvfb?.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    xvfb = await startXvfb();
    const port = await freePort();
    // One session at a time is all WebKitWebDriver allows; should one outlive its crash, the next replaces it.
    driverProcess = spawn('WebKitWebDriver', [`--port=${port}`, '--replace-on-new-session'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        // Skia paints on the CPU (the environment may say otherwise). Under Xvfb, GL is Mesa's software
        // driver; the core of an intermittent web-process crash (about 1 round in 40 under load, sound on)
        // showed a Skia GPU painting thread faulting in it while the compositor's thread was in it too.
        // Safari paints on a real GPU.
        WEBKIT_SKIA_ENABLE_CPU_RENDERING: '1',
        ...process.env,
        ...options.env,
        DISPLAY: xvfb.display,
        // A throwaway home: MiniBrowser's caches, local storage and GStreamer's registry land here.
        HOME: dir,
        XDG_CONFIG_HOME: join(dir, 'config'),
        XDG_CACHE_HOME: join(dir, 'cache'),
        XDG_DATA_HOME: join(dir, 'data'),
        // There is no accessibility bus to talk to; GTK would look for one and warn.
        NO_AT_BRIDGE: '1',
      },
    });
    const collect = (d: Buffer): void => {
      const text = d.toString();
      if (text.includes(CRASH_MARK)) crashes++;
      logTotal += text.length;
      log = (log + text).slice(-20_000);
    };
    driverProcess.stdout!.on('data', collect);
    driverProcess.stderr!.on('data', collect);
    const url = `http://127.0.0.1:${port}`;
    await waitForDriver(url, driverProcess, () => log, 10_000);

    const capabilities = {
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': {
        binary,
        args: [
          '--automation',
          // As Safari does for a page the user opened: media may start without a click.
          '--autoplay-policy=allow',
          ...(features.length ? [`--features=${features.join(',')}`] : []),
        ],
      },
    };

    let driver: WebDriver | null = null;
    let version = '';
    let sessionCrashes = 0;
    const newSession = async (): Promise<WebDriver> => {
      // build() returns a thenable that resolves to the driver once the session exists.
      const d = await withTimeout(Promise.resolve(new Builder().usingServer(url).withCapabilities(capabilities).build()), 30_000, 'webkit: new session');
      await withTimeout(d.manage().setTimeouts({ script: timeout, pageLoad: timeout }), timeout, 'webkit: set timeouts');
      await withTimeout(d.manage().window().setRect({ width: 1280, height: 800 }), timeout, 'webkit: window size').catch(() => undefined);
      version = `WebKitGTK ${String((await d.getCapabilities()).get('browserVersion'))}`;
      sessionCrashes = crashes;
      return d;
    };
    driver = await newSession();

    const crashError = (what: string, cause: string, crashed = true): EngineCrashError => {
      const tail = log.split('\n').filter((line) => line.trim() !== '').slice(-15).join('\n');
      const gone = crashed ? `the web process crashed (MiniBrowser: "${CRASH_MARK}")` : 'WebKitWebDriver dropped the session (page crash or hang)';
      return new EngineCrashError(`webkit: ${gone} during ${what}: ${cause}\n--- driver output ---\n${tail}`);
    };
    const guard = async <T>(work: (d: WebDriver) => Promise<T>, what: string): Promise<T> => {
      if (!driver) throw crashError(what, 'the session had already ended with an earlier crash');
      const d = driver;
      try {
        return await withTimeout(work(d), timeout, `webkit: ${what}`);
      } catch (err) {
        const message = (err as Error).message;
        const crashed = crashes > sessionCrashes;
        if (crashed || /page crash/i.test(message)) {
          driver = null;
          // The first command after a crash can fail before the driver has dropped the session;
          // ending it here lets the next open() start a new one.
          await withTimeout(d.quit(), 5000, 'webkit: end the crashed session').catch(() => undefined);
          throw crashError(what, message, crashed);
        }
        throw err;
      }
    };

    let current: EnginePage | null = null;
    const verifyFeatures = async (): Promise<void> => {
      const expected = features
        .map((f) => ({ on: !f.startsWith('-'), name: f.replace(/^[-+]/, '') }))
        .filter((f) => FEATURE_GLOBALS[f.name] !== undefined)
        .map((f) => ({ ...f, global: FEATURE_GLOBALS[f.name]! }));
      if (expected.length === 0) return;
      const present = await guard(
        (d) => d.executeScript<boolean[]>('return arguments[0].map((name) => typeof globalThis[name] === "function")', expected.map((f) => f.global)),
        'feature check',
      );
      const wrong = expected.filter((f, i) => present[i] !== f.on);
      if (wrong.length) {
        throw new Error(`webkit: --features=${features.join(',')} did not take: ${wrong.map((f) => `${f.global} is ${f.on ? 'missing' : 'still there'}`).join(', ')}`);
      }
    };

    const page = (): EnginePage => {
      const startedAt = logTotal;
      const self: EnginePage = {
        engine: 'webkit',
        goto: async (target) => {
          await guard((d) => d.get(target), `goto ${target}`);
          await verifyFeatures();
        },
        evaluate: <R, A>(fn: PageFunction<A, R> | string, arg?: A) => {
          const source = typeof fn === 'string' ? fn : fn.toString();
          // W3C "execute script" awaits a returned promise.
          return guard((d) => d.executeScript<R>(`return (${source})(arguments[0]);`, arg ?? null), 'evaluate');
        },
        waitFor: <R, A>(fn: PageFunction<A, R> | string, arg: A, ms: number, what: string) => pollPage(() => self.evaluate<R, A>(fn, arg), ms, what),
        click: async (selector) => {
          const at = await self.evaluate(SHADOW_CENTRE, selector);
          if (typeof at === 'string') throw new Error(`webkit: cannot click: ${at}`);
          await guard(
            (d) => d.actions({ async: true }).move({ x: Math.round(at.x), y: Math.round(at.y), origin: Origin.VIEWPORT }).press().release().perform(),
            `click ${selector}`,
          );
        },
        // Classic WebDriver has no console channel: what MiniBrowser and its web process said instead.
        errors: () =>
          log
            .slice(Math.max(0, log.length - (logTotal - startedAt)))
            .split('\n')
            .filter((line) => /CRITICAL|WARNING|error|free\(\)|abort/i.test(line) && !/D-Bus|dbus-launch/.test(line)),
        close: async () => {
          if (current === self) current = null;
          // Leaving the page stops its media and sound; the window stays for the next page. A page that would not
          // leave could go on sounding into the next test's recording: then the session goes, and the next open starts one.
          if (!driver) return;
          const left = await guard(async (d) => {
            await d.get('about:blank');
            return d.executeScript<string>('return location.href');
          }, 'close page').catch((err: Error) => err.message);
          if (left !== 'about:blank') {
            const d = driver;
            driver = null;
            if (d) await withTimeout(d.quit(), timeout, 'webkit: quit after a page would not close').catch(() => undefined);
          }
        },
      };
      return self;
    };

    return {
      name: 'webkit',
      get version() {
        return version;
      },
      open: async (target) => {
        await current?.close();
        if (!driver) driver = await newSession();
        const opened = page();
        current = opened;
        await opened.goto(target);
        return opened;
      },
      close: async () => {
        if (driver) await withTimeout(driver.quit(), timeout, 'webkit: quit').catch(() => undefined);
        driver = null;
        await teardown();
      },
    };
  } catch (err) {
    await teardown();
    throw new Error(`webkit: launch failed: ${(err as Error).message}\n--- driver output ---\n${log.slice(-3000)}`);
  }
}

async function waitForDriver(url: string, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`WebKitWebDriver exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/status`, { signal: AbortSignal.timeout(1000) });
      const body = (await response.json()) as { value?: { ready?: boolean } };
      if (body.value?.ready) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`WebKitWebDriver not ready within ${timeoutMs} ms: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
