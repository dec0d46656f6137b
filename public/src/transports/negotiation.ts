/**
 * Which transport to try, in which order, and when to give up on one. Pure,
 * so the rules are unit-tested without a browser.
 *
 * A candidate is a transport plus one of its wire variants (ws-fmp4 over
 * RTWebSocket, then over plain WebSocket). The table's order is the
 * preference; the transport that won last time on this origin goes first,
 * because what worked there will very likely work again and the others would
 * each cost a connect timeout.
 */
import type { TransportDefinition } from './types.js';

export interface Candidate {
  readonly transport: TransportDefinition;
  readonly variant: string | null;
  /** `ws-nal`, `ws-fmp4/standard`: how it is named in the stats and remembered. */
  readonly key: string;
}

export interface NegotiationRequest {
  /** `?transport=`: only this transport. */
  readonly forced?: string | null;
  /** `?protocol=`: only this variant of transports that have variants. */
  readonly protocol?: string | null;
  /** The key that won last time on this origin. */
  readonly remembered?: string | null;
  /**
   * A transport id that goes first unless something was remembered: what
   * this browser is better served by than the table's order says (native
   * HLS on an iPhone that has no other way to play sound).
   */
  readonly preferred?: string | null;
}

export type NegotiationPlan =
  | {
      readonly ok: true;
      readonly candidates: readonly Candidate[];
      /** `id: reason` for every transport this browser cannot run. */
      readonly skipped: readonly string[];
      readonly forced: boolean;
    }
  | { readonly ok: false; readonly reason: string };

export function candidateKey(id: string, variant: string | null): string {
  return variant ? `${id}/${variant}` : id;
}

/** The transport's candidates this browser can run; variants it cannot go to `skipped` with their reason. */
function candidatesOf(transport: TransportDefinition, protocol: string | null | undefined, skipped: string[]): Candidate[] {
  const variants = transport.variants ?? [];
  if (variants.length === 0) return [{ transport, variant: null, key: transport.id }];
  const chosen = protocol && variants.includes(protocol) ? [protocol] : variants;
  const out: Candidate[] = [];
  for (const variant of chosen) {
    const key = candidateKey(transport.id, variant);
    const reason = transport.variantUnsupportedReason?.(variant) ?? null;
    if (reason) skipped.push(`${key}: ${reason}`);
    else out.push({ transport, variant, key });
  }
  return out;
}

/** Moves candidates whose variant must wait for another transport (`variantsAfter`) behind that transport's last candidate. */
function applyVariantsAfter(candidates: Candidate[]): void {
  for (const c of [...candidates]) {
    const after = c.variant === null ? undefined : c.transport.variantsAfter?.[c.variant];
    if (after === undefined) continue;
    const last = candidates.findLastIndex((x) => x.transport.id === after);
    const at = candidates.indexOf(c);
    if (last < at) continue; // already behind it, or that transport is not a candidate here
    candidates.splice(at, 1);
    candidates.splice(last, 0, c);
  }
}

export function planNegotiation(transports: readonly TransportDefinition[], request: NegotiationRequest): NegotiationPlan {
  const { forced, protocol, remembered, preferred } = request;
  if (forced) {
    const transport = transports.find((t) => t.id === forced);
    if (!transport) {
      return { ok: false, reason: `unknown transport "${forced}" (known: ${transports.map((t) => t.id).join(', ')})` };
    }
    const reason = transport.unsupportedReason();
    if (reason) return { ok: false, reason: `${transport.id}: ${reason}` };
    const skipped: string[] = [];
    const candidates = candidatesOf(transport, protocol, skipped);
    if (candidates.length === 0) return { ok: false, reason: skipped.join('; ') };
    return { ok: true, candidates, skipped, forced: true };
  }
  const candidates: Candidate[] = [];
  const skipped: string[] = [];
  for (const transport of transports) {
    const reason = transport.unsupportedReason();
    if (reason) skipped.push(`${transport.id}: ${reason}`);
    else candidates.push(...candidatesOf(transport, protocol, skipped));
  }
  if (candidates.length === 0) return { ok: false, reason: skipped.join('; ') || 'no transports' };
  applyVariantsAfter(candidates);
  const winner = candidates.findIndex((c) => c.key === remembered);
  if (winner > 0) candidates.unshift(...candidates.splice(winner, 1));
  else if (winner < 0 && preferred) {
    const first = candidates.filter((c) => c.transport.id === preferred);
    if (first.length > 0) candidates.splice(0, candidates.length, ...first, ...candidates.filter((c) => c.transport.id !== preferred));
  }
  return { ok: true, candidates, skipped, forced: false };
}

/** What the player does after an attempt ended. */
export type AttemptOutcome = 'retry' | 'next' | 'exhausted';

export interface AttemptEnd {
  /** This transport cannot work here at all (`SessionEvents.failed`). */
  readonly hard: boolean;
  /** The attempt had been working (playing, or connected and waiting for a publisher) before it ended. */
  readonly wasConnected: boolean;
  /** It played, then stalled with the stream still live (`SessionEvents.stalled`). */
  readonly stalled?: boolean;
}

/**
 * Walks a plan. A candidate that never worked is left at its first failure;
 * one that worked and then dropped is reconnected, and left only when
 * `reconnectsBeforeFallback` reconnects in a row fail: a server restart
 * should not cost the best transport, a path that now refuses it should not
 * cost the picture. A forced transport is never left for a soft failure.
 */
export class TransportSelector {
  readonly skipped: string[];
  private index = 0;
  private worked = false;
  private failedReconnects = 0;

  constructor(
    private readonly plan: Extract<NegotiationPlan, { ok: true }>,
    private readonly reconnectsBeforeFallback = 2,
  ) {
    this.skipped = [...plan.skipped];
  }

  get current(): Candidate | null {
    return this.plan.candidates[this.index] ?? null;
  }

  get forced(): boolean {
    return this.plan.forced;
  }

  /** The current candidate plays, or reached the server and waits for a publisher. */
  connected(): void {
    this.worked = true;
    this.failedReconnects = 0;
  }

  ended(reason: string, end: AttemptEnd): AttemptOutcome {
    const key = this.current?.key ?? '?';
    if (end.hard) return this.leave(`${key}: ${reason}`);
    // Reconnecting to a stalling transport would stall again; one the page asked for by name is all there is.
    if (end.stalled) return this.plan.forced ? 'retry' : this.leave(`${key}: ${reason}`);
    if (end.wasConnected) {
      this.failedReconnects = 0;
      return 'retry';
    }
    if (this.plan.forced) return 'retry';
    if (!this.worked) return this.leave(`${key}: ${reason}`);
    this.failedReconnects++;
    if (this.failedReconnects < this.reconnectsBeforeFallback) return 'retry';
    return this.leave(`${key}: ${reason} (${this.failedReconnects} reconnects failed)`);
  }

  private leave(reason: string): AttemptOutcome {
    this.skipped.push(reason);
    this.index++;
    this.worked = false;
    this.failedReconnects = 0;
    return this.current ? 'next' : 'exhausted';
  }
}
