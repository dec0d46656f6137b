/**
 * Every transport the player knows, best first: without `?transport=`, the
 * first one this browser supports (after the one that won last time) is
 * tried, and each failure falls through to the next.
 *
 * wt-raw: moq-lite + WebCodecs, the lowest latency where WebTransport
 * exists; its WebSocket variant (QMux) comes only after ws-nal.
 * ws-nal: WebSocket + WebCodecs. wt-fmp4: WebTransport + MSE. ws-fmp4:
 * WebSocket + MSE, for browsers without WebCodecs. hls: LL-HLS over plain
 * HTTP, for iPhones without MSE and networks that pass only cacheable HTTP.
 * jpeg: polled images, which pass any proxy.
 */
import { hlsTransport } from './hls.js';
import { jpegTransport } from './jpeg.js';
import type { TransportDefinition } from './types.js';
import { webTransportSlot, wtRawSlot } from './webtransport-slot.js';
import { wsFmp4Transport } from './ws-fmp4.js';
import { wsNalTransport } from './ws-nal.js';

export const TRANSPORTS: readonly TransportDefinition[] = [
  wtRawSlot('H.264 and AAC over moq-lite (WebTransport streams, or QMux over a WebSocket), decoded by WebCodecs'),
  wsNalTransport,
  webTransportSlot('wt-fmp4', 'fragmented MP4 over WebTransport, played by MSE', 'video'),
  wsFmp4Transport,
  hlsTransport,
  jpegTransport,
];

export function transportById(id: string, transports: readonly TransportDefinition[] = TRANSPORTS): TransportDefinition | undefined {
  return transports.find((t) => t.id === id);
}
