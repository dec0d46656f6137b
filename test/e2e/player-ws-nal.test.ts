import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { earlyCanvasSeen, watchEarlyCanvas } from '../player/page.js';

let srv: TestServer;
let browser: Browser;
let pub: Publisher;

interface PlayerStats {
  state: string;
  transport: string;
  framesDecoded: number;
  framesPainted: number;
  firstPaintAt: number | null;
  width: number;
  height: number;
  latencyMs: number | null;
  rttMs: number | null;
}

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n');
  pub = publish(srv.rtmpUrl('live/e2e'), { size: '640x360' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pub?.stop();
  await srv?.stop();
});

describe('player page in headless Chromium', () => {
  it('decodes with WebCodecs and paints frames of the published stream, showing latency and RTT', async () => {
    const page = await browser.context.newPage();
    await page.goto(srv.httpUrl('/live/e2e/?transport=ws-nal'));
    await page.waitForFunction(() => ((window as unknown as { __polycast?: PlayerStats }).__polycast?.framesPainted ?? 0) > 30, undefined, { timeout: 20_000 });
    const stats = (await page.evaluate(() => (window as unknown as { __polycast: PlayerStats }).__polycast)) as PlayerStats;
    expect(stats.state).toBe('playing');
    expect(stats.transport).toBe('ws-nal');
    expect([stats.width, stats.height]).toEqual([640, 360]);
    expect(stats.framesDecoded).toBeGreaterThanOrEqual(stats.framesPainted);
    expect(stats.firstPaintAt).not.toBeNull();
    await page.waitForFunction(() => (window as unknown as { __polycast: PlayerStats }).__polycast.latencyMs !== null, undefined, { timeout: 10_000 });
    // The canvas really holds a picture: testsrc is colourful, not black.
    const colourful = await page.evaluate(() => {
      const find = (root: Document | ShadowRoot): HTMLCanvasElement | null => {
        const c = root.querySelector('canvas');
        if (c) return c;
        for (const el of root.querySelectorAll('*')) if (el.shadowRoot) { const inner = find(el.shadowRoot); if (inner) return inner; }
        return null;
      };
      const canvas = find(document)!;
      const probe = document.createElement('canvas');
      probe.width = 64;
      probe.height = 36;
      const ctx = probe.getContext('2d')!;
      ctx.drawImage(canvas, 0, 0, 64, 36);
      const px = ctx.getImageData(0, 0, 64, 36).data;
      let sum = 0;
      for (let i = 0; i < px.length; i += 4) sum += px[i]! + px[i + 1]! + px[i + 2]!;
      return sum / (px.length / 4);
    });
    expect(colourful).toBeGreaterThan(50);
    await page.close();
  });

  it("takes over the socket the page's head script opened: one ws-nal connection, open while it plays", async () => {
    const page = await browser.context.newPage();
    await page.addInitScript(() => {
      const seen: boolean[] = ((window as unknown as { __wsBeforePlayer: boolean[] }).__wsBeforePlayer = []);
      const Native = window.WebSocket;
      window.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          if (String(url).includes('/ws/nal')) seen.push(customElements.get('polycast-player') === undefined);
        }
      };
    });
    const sockets: Array<{ url: string; closed: boolean }> = [];
    page.on('websocket', (ws) => {
      const entry = { url: ws.url(), closed: false };
      sockets.push(entry);
      ws.on('close', () => (entry.closed = true));
    });
    await page.goto(srv.httpUrl('/live/e2e/?transport=ws-nal'));
    await page.waitForFunction(() => ((window as unknown as { __polycast?: PlayerStats }).__polycast?.framesPainted ?? 0) > 10, undefined, { timeout: 20_000 });
    // Longer than the player's connect: a socket it did not adopt would have been opened beside it and then closed.
    await page.waitForTimeout(500);
    const media = sockets.filter((s) => new URL(s.url).pathname.endsWith('/ws/nal'));
    expect(media).toEqual([{ url: expect.stringContaining('/live/e2e/ws/nal'), closed: false }]);
    // …and that one socket was opened by the page's head script (public/src/early.ts), before the player existed.
    const openedBeforePlayer = await page.evaluate(() => (window as unknown as { __wsBeforePlayer: boolean[] }).__wsBeforePlayer);
    expect(openedBeforePlayer).toEqual([true]);
    await page.close();
  });

  it("shows the first picture before the player runs, on the page's own canvas, and takes it away once the player paints", async () => {
    const page = await browser.context.newPage();
    await watchEarlyCanvas(page);
    await page.goto(srv.httpUrl('/live/e2e/?transport=ws-nal'));
    await page.waitForFunction(() => ((window as unknown as { __polycast?: PlayerStats }).__polycast?.framesPainted ?? 0) > 10, undefined, { timeout: 20_000 });
    const early = await earlyCanvasSeen(page);
    const stats = (await page.evaluate(() => (window as unknown as { __polycast: PlayerStats }).__polycast)) as PlayerStats;
    expect(early.beforePlayer).toBe(true);
    expect(early.size).toEqual([640, 360]);
    // testsrc: a picture, not a black canvas.
    expect(early.brightness).toBeGreaterThan(50);
    expect(early.removedWithPlayerPainted).toBe(true);
    expect(await page.locator('canvas[data-polycast-early]').count()).toBe(0);
    // The page's first picture is the player's first paint.
    expect(stats.firstPaintAt).toBeLessThanOrEqual(early.at!);
    await page.close();
  });

  it("keeps the page's picture moving until the player runs, and runs the player once the first picture is up", async () => {
    const page = await browser.context.newPage();
    // The player's module script is held back for a second, as a slow download of the player's code would.
    await page.addInitScript(() => {
      const w = window as unknown as { __held: number; __moduleAppendedAt: number | null };
      w.__held = 0;
      w.__moduleAppendedAt = null;
      const append = Element.prototype.append;
      Element.prototype.append = function (this: Element, ...nodes: Array<Node | string>) {
        const module = nodes.find((n): n is HTMLScriptElement => n instanceof HTMLScriptElement && n.type === 'module');
        if (!module) return append.apply(this, nodes);
        w.__moduleAppendedAt ??= performance.now();
        w.__held++;
        setTimeout(() => append.apply(this, nodes), 1000);
      };
    });
    await page.goto(srv.httpUrl('/live/e2e/?transport=ws-nal'));
    const sample = () =>
      page.evaluate(() => {
        const canvas = document.querySelector<HTMLCanvasElement>('canvas[data-polycast-early]');
        if (!canvas) return null;
        return Array.from(canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data.filter((_, i) => i % 4099 === 0)).join(',');
      });
    await page.waitForFunction(() => document.querySelector('canvas[data-polycast-early]') !== null, undefined, { timeout: 10_000 });
    const first = await sample();
    await page.waitForTimeout(400);
    const later = await sample();
    expect(first).not.toBeNull();
    // testsrc's counter and gradient move: the page draws newer pictures while the player is not there yet.
    expect(later).not.toBeNull();
    expect(later).not.toBe(first);
    const timing = await page.evaluate(() => {
      const w = window as unknown as { __held: number; __moduleAppendedAt: number | null; __polycastEarlySocket?: { settledBy?: string } };
      return {
        held: w.__held,
        moduleAt: w.__moduleAppendedAt,
        definedNow: customElements.get('polycast-player') !== undefined,
        settledBy: w.__polycastEarlySocket?.settledBy,
      };
    });
    expect(timing.held).toBe(1);
    expect(timing.definedNow).toBe(false);
    await page.waitForFunction(() => ((window as unknown as { __polycast?: PlayerStats }).__polycast?.framesPainted ?? 0) > 10, undefined, { timeout: 20_000 });
    const stats = (await page.evaluate(() => (window as unknown as { __polycast: PlayerStats }).__polycast)) as PlayerStats;
    // The player's code was asked for once the page had shown its first picture. The one other way is the page
    // giving up decoding ahead, as it does when the decoder falls behind at a keyframe (a loaded machine): the
    // player then runs at once and skips to the next keyframe itself, while the page's canvas shows what was queued.
    expect(['picture', 'stopped feeding']).toContain(timing.settledBy);
    if (timing.settledBy === 'picture') expect(timing.moduleAt).toBeGreaterThanOrEqual(stats.firstPaintAt!);
    expect(await page.locator('canvas[data-polycast-early]').count()).toBe(0);
    await page.close();
  });

  it("configures its decoder from the page's stream hint before the socket opens, and from the init when the hint is stale", async () => {
    const record = () => {
      const w = window as unknown as { __configured: string[]; __openedAt: number | null };
      w.__configured = [];
      w.__openedAt = null;
      const NativeDecoder = window.VideoDecoder;
      window.VideoDecoder = class extends NativeDecoder {
        override configure(c: VideoDecoderConfig): void {
          w.__configured.push(`${c.codedWidth}x${c.codedHeight}${w.__openedAt === null ? ' before open' : ''}`);
          super.configure(c);
        }
      };
      const NativeSocket = window.WebSocket;
      window.WebSocket = class extends NativeSocket {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          this.addEventListener('open', () => (w.__openedAt ??= performance.now()));
        }
      };
    };
    const read = (page: import('playwright-core').Page) =>
      page.evaluate(() => {
        const w = window as unknown as { __configured: string[]; __polycast: PlayerStats & { log: string[] } };
        return { configured: w.__configured, log: w.__polycast.log.join('\n') };
      });
    const painted = (page: import('playwright-core').Page) =>
      page.waitForFunction(() => ((window as unknown as { __polycast?: PlayerStats }).__polycast?.framesPainted ?? 0) > 10, undefined, { timeout: 20_000 });

    const page = await browser.context.newPage();
    await page.addInitScript(record);
    await page.goto(srv.httpUrl('/live/e2e/?transport=ws-nal'));
    await painted(page);
    const hinted = await read(page);
    expect(hinted.configured[0]).toBe('640x360 before open');
    expect(hinted.log).toContain('decoder started by the page');
    await page.close();

    // The same page, as if the stream had changed size since the server wrote it: the hint is rewritten as the parser
    // inserts it (observers run before the parser runs the next script).
    const stale = await browser.context.newPage();
    await stale.addInitScript(record);
    await stale.addInitScript(() => {
      new MutationObserver((records) => {
        for (const r of records) {
          for (const node of r.addedNodes) {
            if (node instanceof HTMLScriptElement && node.id === 'polycast-stream') node.textContent = node.textContent!.replace('"codedWidth":640', '"codedWidth":1920');
          }
        }
      }).observe(document, { childList: true, subtree: true });
    });
    await stale.goto(srv.httpUrl('/live/e2e/?transport=ws-nal'));
    await painted(stale);
    const replaced = await read(stale);
    expect(replaced.configured.slice(0, 2)).toEqual(['1920x360 before open', '640x360']);
    expect(replaced.log).toContain('decoder started by the page');
    await stale.close();
  });

  it('sends keyboard and mouse input typed in the page to the input socket', async () => {
    const input = new NalClient(srv.wsUrl('live/e2e', 'ws/input'));
    await input.opened;
    const page = await browser.context.newPage();
    await page.goto(srv.httpUrl('/live/e2e/?transport=ws-nal'));
    await page.waitForFunction(() => ((window as unknown as { __polycast?: PlayerStats }).__polycast?.framesPainted ?? 0) > 5, undefined, { timeout: 20_000 });
    const box = await page.evaluate(() => {
      const r = document.querySelector('polycast-player')!.getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
    });
    await page.mouse.click(box.x, box.y);
    await page.keyboard.press('KeyQ');
    await input.until(() => input.binaries.some((b) => b[0] === 0x10 && b.subarray(4).toString() === 'KeyQ'), 5000, 'KeyQ');
    await input.until(() => input.binaries.some((b) => b[0] === 0x11), 5000, 'mouse button');
    const down = input.binaries.find((b) => b[0] === 0x10)!;
    expect(down[1]).toBe(1);
    input.close();
    await page.close();
  });

  it('lists the live path on the index page', async () => {
    const page = await browser.context.newPage();
    await page.goto(srv.httpUrl('/'));
    await page.waitForSelector('a[href="/live/e2e/"]', { timeout: 10_000 });
    await page.close();
  });
});
