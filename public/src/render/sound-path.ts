/**
 * Which way WebCodecs transports (ws-nal, wt-raw, wt-fmp4) play the sound:
 *
 * - `webcodecs`: `AudioDecoder` → Web Audio, the lowest latency;
 * - `mse`: the AAC frames wrapped in fMP4 in the page and played by an
 *   audio-only SourceBuffer (see `audio-mse.ts`).
 *
 * Every WebKit engine takes `mse`, whether it has `AudioDecoder` or not:
 * Safari 16.4–18 (what most iPhones run) has `VideoDecoder` but no
 * `AudioDecoder`, and WebKitGTK 2.50 takes its web process down in
 * `AudioData.copyTo()`, the only way to get samples out of a decoded frame.
 * One path for every Safari is one path to test; the engine is read from the
 * user agent (`engine.ts`).
 */
import { mediaSourceApi } from '../browser-apis.js';
import { isWebKitEngine } from '../engine.js';

export type SoundPath = 'webcodecs' | 'mse';

export interface SoundPathChoice {
  readonly path: SoundPath | null;
  readonly reason: string;
}

function mseAudioAvailable(): boolean {
  return mediaSourceApi()?.isTypeSupported('audio/mp4; codecs="mp4a.40.2"') ?? false;
}

/** `forced` is the page's `?sound=` (`webcodecs`, `mse`), honoured when the browser can do it. */
export function chooseSoundPath(forced: string | null = null, userAgent: string = navigator.userAgent): SoundPathChoice {
  const webCodecs = typeof AudioDecoder !== 'undefined';
  const mse = mseAudioAvailable();
  if (forced === 'webcodecs' && webCodecs) return { path: 'webcodecs', reason: 'forced by ?sound=webcodecs' };
  if (forced === 'mse' && mse) return { path: 'mse', reason: 'forced by ?sound=mse' };
  if (isWebKitEngine(userAgent) && mse) {
    return { path: 'mse', reason: webCodecs ? 'WebKit: AudioData.copyTo() is not safe here' : 'no AudioDecoder (WebKit)' };
  }
  if (webCodecs) return { path: 'webcodecs', reason: 'AudioDecoder' };
  if (mse) return { path: 'mse', reason: 'no AudioDecoder' };
  return { path: null, reason: 'neither AudioDecoder nor MSE audio' };
}
