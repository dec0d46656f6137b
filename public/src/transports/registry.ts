/**
 * Every transport the player knows, best first: without `?transport=`, the
 * first one this browser supports is used. New transports (wt-raw, wt-fmp4,
 * ws-fmp4, jpeg) slot in here.
 */
import type { TransportDefinition } from './types.js';
import { wsNalTransport } from './ws-nal.js';

export const TRANSPORTS: readonly TransportDefinition[] = [wsNalTransport];

export type TransportChoice =
  | { readonly ok: true; readonly transport: TransportDefinition }
  | { readonly ok: false; readonly reason: string };

export function chooseTransport(forced?: string | null, transports: readonly TransportDefinition[] = TRANSPORTS): TransportChoice {
  if (forced) {
    const transport = transports.find((t) => t.id === forced);
    if (!transport) {
      return { ok: false, reason: `unknown transport "${forced}" (known: ${transports.map((t) => t.id).join(', ')})` };
    }
    const reason = transport.unsupportedReason();
    return reason ? { ok: false, reason: `${transport.id}: ${reason}` } : { ok: true, transport };
  }
  const reasons: string[] = [];
  for (const transport of transports) {
    const reason = transport.unsupportedReason();
    if (!reason) return { ok: true, transport };
    reasons.push(`${transport.id}: ${reason}`);
  }
  return { ok: false, reason: reasons.join('; ') || 'no transports' };
}
