import { afterEach, describe, expect, it, vi } from 'vitest';
import { isWebKitEngine } from '../../public/src/engine.js';
import { chooseSoundPath } from '../../public/src/render/sound-path.js';

// User agents as the engines send them (Safari 17 on macOS and iOS, WebKitGTK's MiniBrowser, Chromium, Edge, Firefox, Chrome on iOS).
const SAFARI_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';
const SAFARI_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
const WEBKITGTK = 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15';
const CHROME_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1';
const CHROMIUM = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const HEADLESS = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';
const EDGE = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';

/** Puts (or removes) the browser APIs the choice looks at. */
function browser({ audioDecoder, mse }: { audioDecoder: boolean; mse: boolean }): void {
  vi.stubGlobal('AudioDecoder', audioDecoder ? class {} : undefined);
  vi.stubGlobal('ManagedMediaSource', undefined);
  vi.stubGlobal('MediaSource', mse ? Object.assign(class {}, { isTypeSupported: (mime: string) => mime.startsWith('audio/mp4') }) : undefined);
}

afterEach(() => vi.unstubAllGlobals());

describe('sound path', () => {
  it('knows WebKit engines from Chromium-based and Gecko ones', () => {
    for (const ua of [SAFARI_MAC, SAFARI_IOS, WEBKITGTK, CHROME_IOS]) expect(isWebKitEngine(ua), ua).toBe(true);
    for (const ua of [CHROMIUM, HEADLESS, EDGE, FIREFOX]) expect(isWebKitEngine(ua), ua).toBe(false);
  });

  it('plays sound through MSE on every WebKit, with or without AudioDecoder', () => {
    browser({ audioDecoder: true, mse: true });
    expect(chooseSoundPath(null, WEBKITGTK)).toMatchObject({ path: 'mse', reason: expect.stringContaining('copyTo') });
    browser({ audioDecoder: false, mse: true });
    expect(chooseSoundPath(null, SAFARI_MAC)).toMatchObject({ path: 'mse', reason: 'no AudioDecoder (WebKit)' });
  });

  it('uses AudioDecoder elsewhere, and MSE where a browser lacks it', () => {
    browser({ audioDecoder: true, mse: true });
    expect(chooseSoundPath(null, CHROMIUM).path).toBe('webcodecs');
    expect(chooseSoundPath(null, FIREFOX).path).toBe('webcodecs');
    browser({ audioDecoder: false, mse: true });
    expect(chooseSoundPath(null, FIREFOX).path).toBe('mse');
    browser({ audioDecoder: false, mse: false });
    expect(chooseSoundPath(null, FIREFOX).path).toBeNull();
  });

  it('honours a forced path only where the browser can take it', () => {
    browser({ audioDecoder: true, mse: true });
    expect(chooseSoundPath('webcodecs', WEBKITGTK).path).toBe('webcodecs');
    expect(chooseSoundPath('mse', CHROMIUM).path).toBe('mse');
    browser({ audioDecoder: false, mse: true });
    expect(chooseSoundPath('webcodecs', CHROMIUM).path).toBe('mse');
  });
});
