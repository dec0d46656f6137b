import { describe, expect, it } from 'vitest';
import { chooseTransport } from '../../public/src/transports/registry.js';
import type { TransportDefinition } from '../../public/src/transports/types.js';

function fake(id: string, unsupported: string | null): TransportDefinition {
  return {
    id,
    description: id,
    unsupportedReason: () => unsupported,
    connect: () => {
      throw new Error('not in unit tests');
    },
  };
}

describe('chooseTransport', () => {
  const table = [fake('wt-raw', 'no WebTransport'), fake('ws-nal', null), fake('jpeg', null)];

  it('picks the first supported transport in preference order', () => {
    const choice = chooseTransport(null, table);
    expect(choice.ok && choice.transport.id).toBe('ws-nal');
  });

  it('honours ?transport= and explains refusals', () => {
    const forced = chooseTransport('jpeg', table);
    expect(forced.ok && forced.transport.id).toBe('jpeg');
    expect(chooseTransport('wt-raw', table)).toEqual({ ok: false, reason: 'wt-raw: no WebTransport' });
    expect(chooseTransport('smoke-signals', table)).toEqual({
      ok: false,
      reason: 'unknown transport "smoke-signals" (known: wt-raw, ws-nal, jpeg)',
    });
  });

  it('lists every reason when nothing is supported', () => {
    expect(chooseTransport(null, [fake('a', 'x'), fake('b', 'y')])).toEqual({ ok: false, reason: 'a: x; b: y' });
  });

  it('reports that ws-nal needs WebCodecs where there is none (as in Node)', () => {
    const choice = chooseTransport('ws-nal');
    expect(choice.ok).toBe(false);
  });
});
