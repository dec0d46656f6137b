/**
 * The `hls` transport: the server's LL-HLS (docs/protocols/hls.md) played
 * by the browser's own HLS where it is a WebKit that has one (every iPhone,
 * including those before iOS 17.1 that have no MSE at all), else by hls.js
 * over MSE. It comes after ws-fmp4 because HLS holds a few parts back from
 * the live edge by design; its strength is that a stock HTTP cache can
 * serve it to any number of viewers. hls.js is only fetched when this
 * transport is tried (`hls/session.ts` is a chunk of its own).
 */
import { mediaSourceApi } from '../browser-apis.js';
import { isWebKitEngine } from '../engine.js';
import { deferredTransport } from './deferred-transport.js';
import type { TransportModule } from './types.js';

export const HLS_MIME = 'application/vnd.apple.mpegurl';
/** What every H.264 MSE implementation plays: Constrained Baseline 3.0. */
const PROBE_MIME = 'video/mp4; codecs="avc1.42E01E"';

export type HlsPlayback = 'native' | 'hls.js';

/** Native HLS on WebKit (Apple tunes it for LL-HLS), and wherever there is no MSE; hls.js elsewhere. */
export function chooseHlsPlayback(nativeHls: boolean, mse: boolean, webKit: boolean): HlsPlayback | null {
  if (nativeHls && (webKit || !mse)) return 'native';
  if (mse) return 'hls.js';
  return nativeHls ? 'native' : null;
}

export function hlsPlaybackHere(): HlsPlayback | null {
  const nativeHls = typeof document !== 'undefined' && document.createElement('video').canPlayType(HLS_MIME) !== '';
  const mse = mediaSourceApi()?.isTypeSupported(PROBE_MIME) ?? false;
  return chooseHlsPlayback(nativeHls, mse, typeof navigator !== 'undefined' && isWebKitEngine());
}

export const hlsTransport = deferredTransport({
  id: 'hls',
  description: 'LL-HLS (fMP4 parts over HTTP, cacheable): native HLS on WebKit, hls.js over MSE elsewhere',
  surface: 'video',
  // An on-demand muxer answers its first playlist once a segment is complete (a GOP or more), and the player then needs a part or two.
  connectTimeoutMs: 10_000,
  unsupportedReason: () => (hlsPlaybackHere() ? null : 'neither native HLS nor MSE'),
  load: async () => (await import('./hls/session.js')) as TransportModule,
});
