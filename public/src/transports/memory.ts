/**
 * Remembers, per server origin, which transport won, so the next visit tries
 * it first. Storage may be missing or throw (Safari private windows, blocked
 * cookies): then nothing is remembered and negotiation simply starts over.
 */

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

const PREFIX = 'polycast.transport:';

export class TransportMemory {
  constructor(private readonly store: KeyValueStore | null) {}

  recall(origin: string): string | null {
    try {
      return this.store?.getItem(PREFIX + origin) ?? null;
    } catch {
      return null;
    }
  }

  remember(origin: string, key: string): void {
    try {
      this.store?.setItem(PREFIX + origin, key);
    } catch {
      // Quota or privacy settings: remembering is an optimisation only.
    }
  }
}

export function browserStore(): KeyValueStore | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}
