import { afterEach, describe, expect, it, vi } from 'vitest';
import { adoptEarlyWebTransport, EARLY_WEBTRANSPORT_GLOBAL, openEarlyWebTransport } from '../../public/src/early-webtransport.js';

/**
 * The page's head start for wt-raw: the player's first attempt takes the
 * page's session only when it is the very session it would open; anything
 * else is closed, never left half-open beside the player's own.
 */
class RecordingWebTransport {
  static made: RecordingWebTransport[] = [];
  /** `close()` was called. */
  shut = false;
  readonly ready = Promise.resolve();
  readonly closed = new Promise<void>(() => {});

  constructor(
    readonly url: string,
    readonly options: Record<string, unknown>,
  ) {
    RecordingWebTransport.made.push(this);
  }

  close(): void {
    this.shut = true;
  }
}

const PIN = new Uint8Array(32).fill(7);
const URL = 'https://127.0.0.1:8889/moq';
const PROTOCOLS = ['moq-lite-04', 'moq-lite-03'];

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
  RecordingWebTransport.made = [];
  delete (globalThis as Record<string, unknown>)[EARLY_WEBTRANSPORT_GLOBAL];
});

function open(pin: Uint8Array<ArrayBuffer> | null = PIN): RecordingWebTransport {
  vi.stubGlobal('WebTransport', RecordingWebTransport);
  openEarlyWebTransport(URL, PROTOCOLS, pin);
  return RecordingWebTransport.made.at(-1)!;
}

describe("the page's early WebTransport session", () => {
  it("opens with the player's options: the pin, the subprotocols, no pooling, low-latency congestion control", () => {
    const t = open();
    expect(t.url).toBe(URL);
    expect(t.options).toEqual({ allowPooling: false, congestionControl: 'low-latency', serverCertificateHashes: [{ algorithm: 'sha-256', value: PIN }], protocols: PROTOCOLS });
    expect(open(null).options).not.toHaveProperty('serverCertificateHashes');
  });

  it('is adopted once, by the attempt that would open the same session', () => {
    const t = open();
    const early = adoptEarlyWebTransport(URL, PROTOCOLS, new Uint8Array(32).fill(7));
    expect(early?.transport).toBe(t);
    expect(t.shut).toBe(false);
    // Taken: a reconnect opens its own.
    expect(adoptEarlyWebTransport(URL, PROTOCOLS, PIN)).toBeNull();
  });

  it.each([
    ['another endpoint', 'https://127.0.0.1:8889/live/cam/wt/fmp4', PROTOCOLS, PIN],
    ['other subprotocols', URL, ['moq-lite-03'], PIN],
    ['another pin (the certificate rotated)', URL, PROTOCOLS, new Uint8Array(32).fill(8)],
    ['no pin', URL, PROTOCOLS, null],
  ])('is closed when the first attempt wants %s', (_what, url, protocols, pin) => {
    const t = open();
    expect(adoptEarlyWebTransport(url, protocols, pin)).toBeNull();
    expect(t.shut).toBe(true);
    expect((globalThis as Record<string, unknown>)[EARLY_WEBTRANSPORT_GLOBAL]).toBeUndefined();
  });

  it('is closed when no player asked for it within 10 s', () => {
    vi.useFakeTimers();
    const t = open();
    vi.advanceTimersByTime(9_999);
    expect(t.shut).toBe(false);
    vi.advanceTimersByTime(1);
    expect(t.shut).toBe(true);
    expect(adoptEarlyWebTransport(URL, PROTOCOLS, PIN)).toBeNull();
  });
});
