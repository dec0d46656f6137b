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

export function webTransportSlot(
  id: string,
  description: string,
  surface: SurfaceKind,
  load: (id: string) => Promise<TransportModule> = loadModule,
): TransportDefinition {
  return deferredTransport({
    id,
    description,
    surface,
    load,
    unsupportedReason() {
      if (typeof WebTransport === 'undefined') {
        return globalThis.isSecureContext === false ? 'WebTransport needs HTTPS or localhost' : 'no WebTransport';
      }
      return null;
    },
  });
}
