import { describe, expect, it } from 'vitest';
import { planNegotiation, TransportSelector, type NegotiationPlan } from '../../public/src/transports/negotiation.js';
import type { TransportDefinition } from '../../public/src/transports/types.js';

function fake(id: string, unsupported: string | null, variants?: string[]): TransportDefinition {
  return {
    id,
    description: id,
    surface: 'canvas',
    ...(variants ? { variants } : {}),
    unsupportedReason: () => unsupported,
    connect: () => {
      throw new Error('not in unit tests');
    },
  };
}

/** The shipped order, with what a browser without WebTransport and WebCodecs supports. */
const TABLE = [
  fake('wt-raw', 'no WebTransport'),
  fake('ws-nal', 'no VideoDecoder'),
  fake('wt-fmp4', 'no WebTransport'),
  fake('ws-fmp4', null, ['rtwebsocket', 'standard']),
  fake('jpeg', null),
];

function ok(plan: NegotiationPlan): Extract<NegotiationPlan, { ok: true }> {
  if (!plan.ok) throw new Error(plan.reason);
  return plan;
}

const keys = (plan: NegotiationPlan) => ok(plan).candidates.map((c) => c.key);

/** wt-raw as shipped: moq over WebTransport, or over a WebSocket behind ws-nal. */
function wtRaw(webTransport: boolean): TransportDefinition {
  return {
    ...fake('wt-raw', null, ['webtransport', 'websocket']),
    variantsAfter: { websocket: 'ws-nal' },
    variantUnsupportedReason: (v) => (v === 'webtransport' && !webTransport ? 'no WebTransport' : null),
  };
}

describe('planNegotiation', () => {
  it('tries moq over a WebSocket only after ws-nal, with or without WebTransport', () => {
    const table = (wt: boolean) => [wtRaw(wt), fake('ws-nal', null), fake('wt-fmp4', wt ? null : 'no WebTransport'), fake('jpeg', null)];
    expect(keys(planNegotiation(table(true), {}))).toEqual(['wt-raw/webtransport', 'ws-nal', 'wt-raw/websocket', 'wt-fmp4', 'jpeg']);
    const without = ok(planNegotiation(table(false), {}));
    expect(without.candidates.map((c) => c.key)).toEqual(['ws-nal', 'wt-raw/websocket', 'jpeg']);
    expect(without.skipped).toEqual(['wt-raw/webtransport: no WebTransport', 'wt-fmp4: no WebTransport']);
    // Where ws-nal cannot run, nothing holds it back.
    const noNal = [wtRaw(false), fake('ws-nal', 'no WebSocket'), fake('jpeg', null)];
    expect(keys(planNegotiation(noNal, {}))).toEqual(['wt-raw/websocket', 'jpeg']);
    // What won last time still goes first; asked for by name, the WebSocket variant is all there is.
    expect(keys(planNegotiation(table(false), { remembered: 'wt-raw/websocket' }))).toEqual(['wt-raw/websocket', 'ws-nal', 'jpeg']);
    expect(keys(planNegotiation(table(false), { forced: 'wt-raw' }))).toEqual(['wt-raw/websocket']);
    expect(planNegotiation(table(false), { forced: 'wt-raw', protocol: 'webtransport' })).toEqual({ ok: false, reason: 'wt-raw/webtransport: no WebTransport' });
  });

  it('keeps the table order, one candidate per variant, and says why each unsupported transport was skipped', () => {
    const plan = ok(planNegotiation(TABLE, {}));
    expect(plan.candidates.map((c) => c.key)).toEqual(['ws-fmp4/rtwebsocket', 'ws-fmp4/standard', 'jpeg']);
    expect(plan.skipped).toEqual(['wt-raw: no WebTransport', 'ws-nal: no VideoDecoder', 'wt-fmp4: no WebTransport']);
    expect(plan.forced).toBe(false);
  });

  it('tries everything in order when the browser has everything', () => {
    const all = TABLE.map((t) => fake(t.id, null, t.variants ? [...t.variants] : undefined));
    expect(keys(planNegotiation(all, {}))).toEqual(['wt-raw', 'ws-nal', 'wt-fmp4', 'ws-fmp4/rtwebsocket', 'ws-fmp4/standard', 'jpeg']);
  });

  it('puts the transport that won last time first, and ignores a remembered one that is no longer supported', () => {
    expect(keys(planNegotiation(TABLE, { remembered: 'jpeg' }))).toEqual(['jpeg', 'ws-fmp4/rtwebsocket', 'ws-fmp4/standard']);
    expect(keys(planNegotiation(TABLE, { remembered: 'ws-fmp4/standard' }))).toEqual(['ws-fmp4/standard', 'ws-fmp4/rtwebsocket', 'jpeg']);
    expect(keys(planNegotiation(TABLE, { remembered: 'ws-nal' }))).toEqual(['ws-fmp4/rtwebsocket', 'ws-fmp4/standard', 'jpeg']);
  });

  it('?protocol= narrows transports with variants and leaves the others alone', () => {
    expect(keys(planNegotiation(TABLE, { protocol: 'standard' }))).toEqual(['ws-fmp4/standard', 'jpeg']);
    expect(keys(planNegotiation(TABLE, { protocol: 'carrier-pigeon' }))).toEqual(['ws-fmp4/rtwebsocket', 'ws-fmp4/standard', 'jpeg']);
  });

  it('?transport= forces one transport (all its variants unless ?protocol= picks one), or explains why not', () => {
    const forced = ok(planNegotiation(TABLE, { forced: 'ws-fmp4', protocol: 'standard' }));
    expect(forced.candidates.map((c) => c.key)).toEqual(['ws-fmp4/standard']);
    expect(forced.forced).toBe(true);
    expect(keys(planNegotiation(TABLE, { forced: 'ws-fmp4', remembered: 'jpeg' }))).toEqual(['ws-fmp4/rtwebsocket', 'ws-fmp4/standard']);
    expect(planNegotiation(TABLE, { forced: 'ws-nal' })).toEqual({ ok: false, reason: 'ws-nal: no VideoDecoder' });
    expect(planNegotiation(TABLE, { forced: 'smoke' })).toEqual({
      ok: false,
      reason: 'unknown transport "smoke" (known: wt-raw, ws-nal, wt-fmp4, ws-fmp4, jpeg)',
    });
  });

  it('puts a preferred transport first, unless a winner was remembered', () => {
    expect(keys(planNegotiation(TABLE, { preferred: 'jpeg' }))[0]).toBe('jpeg');
    expect(keys(planNegotiation(TABLE, { preferred: 'ws-fmp4' })).slice(0, 2)).toEqual(['ws-fmp4/rtwebsocket', 'ws-fmp4/standard']);
    expect(keys(planNegotiation(TABLE, { preferred: 'jpeg', remembered: 'ws-fmp4/standard' }))[0]).toBe('ws-fmp4/standard');
    expect(keys(planNegotiation(TABLE, { preferred: 'hls' }))[0]).toBe(keys(planNegotiation(TABLE, {}))[0]);
  });

  it('fails with every reason when nothing is supported', () => {
    expect(planNegotiation([fake('a', 'x'), fake('b', 'y')], {})).toEqual({ ok: false, reason: 'a: x; b: y' });
  });
});

describe('TransportSelector', () => {
  const selector = (request = {}) => new TransportSelector(ok(planNegotiation(TABLE, request)));

  it('leaves a candidate that never worked at its first failure, recording why', () => {
    const s = selector();
    expect(s.current?.key).toBe('ws-fmp4/rtwebsocket');
    expect(s.ended('no picture within 4 s', { hard: false, wasConnected: false })).toBe('next');
    expect(s.current?.key).toBe('ws-fmp4/standard');
    expect(s.ended('MediaSource cannot play avc1.640033', { hard: true, wasConnected: false })).toBe('next');
    expect(s.current?.key).toBe('jpeg');
    expect(s.ended('connection lost', { hard: false, wasConnected: false })).toBe('exhausted');
    expect(s.current).toBeNull();
    expect(s.skipped.slice(3)).toEqual([
      'ws-fmp4/rtwebsocket: no picture within 4 s',
      'ws-fmp4/standard: MediaSource cannot play avc1.640033',
      'jpeg: connection lost',
    ]);
  });

  it('reconnects a candidate that worked, and falls back only when two reconnects in a row fail', () => {
    const s = selector();
    s.connected();
    expect(s.ended('connection lost', { hard: false, wasConnected: true })).toBe('retry');
    expect(s.ended('connection refused', { hard: false, wasConnected: false })).toBe('retry');
    expect(s.ended('connection refused', { hard: false, wasConnected: false })).toBe('next');
    expect(s.current?.key).toBe('ws-fmp4/standard');
    expect(s.skipped.at(-1)).toBe('ws-fmp4/rtwebsocket: connection refused (2 reconnects failed)');
  });

  it('starts counting again after a reconnect that worked', () => {
    const s = selector();
    s.connected();
    expect(s.ended('lost', { hard: false, wasConnected: true })).toBe('retry');
    expect(s.ended('refused', { hard: false, wasConnected: false })).toBe('retry');
    s.connected();
    expect(s.ended('lost', { hard: false, wasConnected: true })).toBe('retry');
    expect(s.ended('refused', { hard: false, wasConnected: false })).toBe('retry');
    expect(s.current?.key).toBe('ws-fmp4/rtwebsocket');
  });

  it('leaves even a working candidate at once when it says it cannot work here', () => {
    const s = selector();
    s.connected();
    expect(s.ended('codec refused', { hard: true, wasConnected: true })).toBe('next');
  });

  it('leaves a transport that stalled after playing at once, unless it is the one the page asked for', () => {
    const s = selector();
    s.connected();
    expect(s.ended('WebTransport stalled: no media for 2.6 s while the broadcast is live', { hard: false, wasConnected: true, stalled: true })).toBe('next');
    expect(s.skipped.at(-1)).toBe('ws-fmp4/rtwebsocket: WebTransport stalled: no media for 2.6 s while the broadcast is live');
    const forced = selector({ forced: 'jpeg' });
    forced.connected();
    expect(forced.ended('stalled', { hard: false, wasConnected: true, stalled: true })).toBe('retry');
  });

  it('never leaves a forced transport for a soft failure', () => {
    const s = selector({ forced: 'jpeg' });
    for (let i = 0; i < 5; i++) expect(s.ended('connection lost', { hard: false, wasConnected: false })).toBe('retry');
    expect(s.ended('no ffmpeg', { hard: true, wasConnected: false })).toBe('exhausted');
  });
});
