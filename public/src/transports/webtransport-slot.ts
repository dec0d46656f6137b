/**
 * Registry entries for the WebTransport transports (`wt-raw`, `wt-fmp4`),
 * whose player side lives in modules of their own
 * (`transports/webtransport/<id>.ts`, exporting `connect`: see
 * `TransportModule`), fetched only when negotiation tries them.
 */
import { deferredTransport } from './deferred-transport.js';
import type { SurfaceKind, TransportDefinition, TransportModule } from './types.js';

async function loadModule(id: string): Promise<TransportModule> {
  // Named one by one: a template literal would make every helper in the folder a chunk of its own.
  switch (id) {
    case 'wt-raw':
      return (await import('./webtransport/wt-raw.js')) as TransportModule;
    case 'wt-fmp4':
      return (await import('./webtransport/wt-fmp4.js')) as TransportModule;
    default:
      throw new Error(`no WebTransport player module "${id}"`);
  }
}

/** Why this browser has no usable WebTransport, or null. */
function noWebTransport(): string | null {
  if (typeof WebTransport === 'undefined') {
    return globalThis.isSecureContext === false ? 'WebTransport needs HTTPS or localhost' : 'no WebTransport';
  }
  return null;
}

export function webTransportSlot(
  id: string,
  description: string,
  surface: SurfaceKind,
  load: (id: string) => Promise<TransportModule> = loadModule,
): TransportDefinition {
  return deferredTransport({ id, description, surface, load, unsupportedReason: noWebTransport });
}

/**
 * `wt-raw`: moq-lite at `/moq`, over WebTransport or, as the variant
 * `websocket`, over QMux on a WebSocket (docs/protocols/moq.md), decoded
 * by WebCodecs. Where both ws-nal and moq over WebSocket could play, ws-nal
 * goes first: measured in Chromium they paint at the same latency, ws-nal
 * shows its first picture sooner and carries input itself (docs/browsers.md).
 */
export function wtRawSlot(description: string, load: (id: string) => Promise<TransportModule> = loadModule): TransportDefinition {
  return deferredTransport({
    id: 'wt-raw',
    description,
    surface: 'canvas',
    load,
    variants: ['webtransport', 'websocket'],
    variantsAfter: { websocket: 'ws-nal' },
    unsupportedReason() {
      if (typeof VideoDecoder === 'undefined') return globalThis.isSecureContext === false ? 'WebCodecs needs HTTPS or localhost' : 'no VideoDecoder';
      return null;
    },
    variantUnsupportedReason: (variant) => (variant === 'webtransport' ? noWebTransport() : null),
  });
}
