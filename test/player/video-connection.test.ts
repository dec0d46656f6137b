import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createStats, StatsRecorder } from '../../public/src/stats/player-stats.js';
import { TransportMemory, type KeyValueStore } from '../../public/src/transports/memory.js';
import type { SessionEvents, SessionPreferences, TransportDefinition, TransportSession } from '../../public/src/transports/types.js';
import { VideoConnection } from '../../public/src/video-connection.js';

/** A transport whose sessions the test drives by hand. */
class FakeTransport implements TransportDefinition {
  readonly description = 'fake';
  readonly surface = 'canvas' as const;
  readonly sessions: { events: SessionEvents; preferences: SessionPreferences; closed: boolean }[] = [];

  constructor(
    readonly id: string,
    readonly connectTimeoutMs?: number,
  ) {}

  unsupportedReason(): string | null {
    return null;
  }

  connect(context: { events: SessionEvents; preferences: SessionPreferences }): TransportSession {
    const entry = { events: context.events, preferences: context.preferences, closed: false };
    this.sessions.push(entry);
    return {
      capabilities: { input: true, audio: true, videoToggle: true, keyframesOnly: true },
      sendInput: () => undefined,
      setVideoEnabled: () => undefined,
      setKeyframesOnly: () => undefined,
      close: () => (entry.closed = true),
    };
  }

  get last() {
    return this.sessions[this.sessions.length - 1]!;
  }
}

const stream = { origin: 'http://polycast.test', path: 'live/cam' };

function setup(remembered: string | null = null) {
  const store = new Map<string, string>(remembered ? [[`polycast.transport:${stream.origin}`, remembered]] : []);
  const kv: KeyValueStore = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v) };
  const a = new FakeTransport('a');
  const b = new FakeTransport('b');
  const stats = createStats('live/cam');
  const states: string[] = [];
  const connection = new VideoConnection(
    {
      context: (variant, events, preferences) => ({ stream, variant, events, preferences }) as never,
      state: (state, detail) => states.push(detail ? `${state}: ${detail}` : state),
      sessionChanged: () => undefined,
    },
    new StatsRecorder(stats),
    new TransportMemory(kv),
    [a, b],
  );
  return { a, b, stats, states, store, connection };
}

describe('VideoConnection', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives a candidate 4 s to show a picture, then tries the next', () => {
    const { a, b, connection, stats } = setup();
    connection.start({ stream, forced: null, protocol: null });
    expect(stats.transport).toBe('a');
    a.last.events.state('connecting');
    vi.advanceTimersByTime(3999);
    expect(b.sessions).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(a.last.closed).toBe(true);
    expect(b.sessions).toHaveLength(1);
    expect(stats.transport).toBe('b');
    expect(stats.skipped).toEqual(['a: no picture within 4 s']);
  });

  it('moves on at once when a candidate says it cannot work, and remembers the one that plays', () => {
    const { a, b, connection, store } = setup();
    connection.start({ stream, forced: null, protocol: null });
    a.last.events.failed('not available on this server');
    expect(b.sessions).toHaveLength(1);
    b.last.events.state('playing');
    expect(store.get(`polycast.transport:${stream.origin}`)).toBe('b');
    // Playing: no timeout any more.
    vi.advanceTimersByTime(60_000);
    expect(b.last.closed).toBe(false);
  });

  it('tries the remembered winner first', () => {
    const { a, b, connection } = setup('b');
    connection.start({ stream, forced: null, protocol: null });
    expect(b.sessions).toHaveLength(1);
    expect(a.sessions).toHaveLength(0);
  });

  it('gives a transport that says it needs longer (HLS) its own time to show a picture', () => {
    const { a, b, connection } = setup();
    (a as { connectTimeoutMs?: number }).connectTimeoutMs = 10_000;
    connection.start({ stream, forced: null, protocol: null });
    vi.advanceTimersByTime(9_000);
    expect(b.sessions).toHaveLength(0);
    vi.advanceTimersByTime(1_500);
    expect(b.sessions).toHaveLength(1);
  });

  it('waits for a publisher without a timeout', () => {
    const { a, b, connection } = setup();
    connection.start({ stream, forced: null, protocol: null });
    a.last.events.state('waiting', 'no publisher');
    vi.advanceTimersByTime(60_000);
    expect(b.sessions).toHaveLength(0);
  });

  it('after a drop mid-stream, reconnects, and falls back when two reconnects fail', () => {
    const { a, b, connection, states, stats } = setup();
    connection.start({ stream, forced: null, protocol: null });
    a.last.events.state('playing');
    a.last.events.closed(1006, 'connection lost');
    expect(states.at(-1)).toBe('reconnecting: connection lost');
    vi.advanceTimersByTime(1000);
    expect(a.sessions).toHaveLength(2);
    a.last.events.closed(1006, 'refused');
    vi.advanceTimersByTime(2000);
    expect(a.sessions).toHaveLength(3);
    expect(b.sessions).toHaveLength(0);
    a.last.events.closed(1006, 'refused');
    expect(b.sessions).toHaveLength(1);
    expect(stats.reconnects).toBe(2);
    expect(stats.skipped).toEqual(['a: refused (2 reconnects failed)']);
  });

  it('moves on at once from a transport that stalled after playing, and remembers the one that then plays', () => {
    const { a, b, connection, stats, store } = setup();
    connection.start({ stream, forced: null, protocol: null });
    a.last.events.state('playing');
    a.last.events.stalled('WebTransport stalled: no media for 2.5 s while the broadcast is live');
    expect(a.last.closed).toBe(true);
    expect(b.sessions).toHaveLength(1);
    expect(a.sessions).toHaveLength(1);
    expect(stats.skipped).toEqual(['a: WebTransport stalled: no media for 2.5 s while the broadcast is live']);
    b.last.events.state('playing');
    expect(store.get(`polycast.transport:${stream.origin}`)).toBe('b');
  });

  it('moves on from a stalled transport even with video off', () => {
    const { a, b, connection } = setup();
    connection.start({ stream, forced: null, protocol: null });
    a.last.events.state('playing');
    connection.videoOff = true;
    a.last.events.stalled('WebTransport stalled');
    expect(b.sessions).toHaveLength(1);
  });

  it('starts over from the best after a pause when every candidate failed', () => {
    const { a, b, connection, states } = setup();
    connection.start({ stream, forced: null, protocol: null });
    a.last.events.closed(1006, 'connection refused');
    b.last.events.closed(1006, 'connection refused');
    expect(states.at(-1)).toBe('reconnecting: no transport worked (a: connection refused; b: connection refused)');
    vi.advanceTimersByTime(1000);
    expect(a.sessions).toHaveLength(2);
  });

  it('with video off (JPEG pictures stand in) starts sessions without video and reconnects in place, never timing out', () => {
    const { a, b, connection } = setup();
    connection.start({ stream, forced: null, protocol: null });
    a.last.events.state('playing');
    connection.videoOff = true;
    connection.keyframesOnly = true;
    a.last.events.closed(1006, 'connection lost');
    vi.advanceTimersByTime(1000);
    expect(a.last.preferences).toEqual({ videoEnabled: false, keyframesOnly: true, audio: true });
    a.last.events.closed(1006, 'refused');
    vi.advanceTimersByTime(2000);
    a.last.events.closed(1006, 'refused');
    vi.advanceTimersByTime(30_000);
    expect(b.sessions).toHaveLength(0);
    expect(a.sessions.length).toBeGreaterThanOrEqual(4);
  });

  it('ignores events from a session it has already left', () => {
    const { a, b, connection, states } = setup();
    connection.start({ stream, forced: null, protocol: null });
    const old = a.last;
    old.events.failed('nope');
    old.events.state('playing');
    old.events.closed(1000, 'late');
    expect(b.sessions).toHaveLength(1);
    expect(states).not.toContain('playing');
  });
});
