import { afterEach, describe, expect, it, vi } from 'vitest';
import { chooseHlsPlayback } from '../../public/src/transports/hls.js';
import { TRANSPORTS } from '../../public/src/transports/registry.js';
import type { SessionEvents, TransportContext, TransportModule, TransportSession } from '../../public/src/transports/types.js';
import { webTransportSlot } from '../../public/src/transports/webtransport-slot.js';
import { createStats, StatsRecorder } from '../../public/src/stats/player-stats.js';

function context(events: Partial<SessionEvents>): TransportContext {
  return {
    stream: { origin: 'https://example.test', path: 'live/cam' },
    variant: null,
    surface: null as never,
    video: null as never,
    audio: null as never,
    recorder: new StatsRecorder(createStats('live/cam')),
    events: { state: () => undefined, closed: () => undefined, failed: () => undefined, stalled: () => undefined, ...events },
    preferences: { videoEnabled: true, keyframesOnly: false, audio: true },
    liveBufferMs: 100,
    soundPath: 'webcodecs',
    h264Form: 'annexb',
  };
}

describe('transport table', () => {
  it('lists the transports best first', () => {
    expect(TRANSPORTS.map((t) => t.id)).toEqual(['wt-raw', 'ws-nal', 'wt-fmp4', 'ws-fmp4', 'hls', 'jpeg']);
    expect(TRANSPORTS.find((t) => t.id === 'ws-fmp4')?.variants).toEqual(['rtwebsocket', 'standard']);
    const wtRaw = TRANSPORTS.find((t) => t.id === 'wt-raw');
    expect(wtRaw?.variants).toEqual(['webtransport', 'websocket']);
    expect(wtRaw?.variantsAfter).toEqual({ websocket: 'ws-nal' });
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('explains what is missing, in the words the overlay shows', () => {
    // Node 20 has no WebSocket either; give it one so the next missing piece shows.
    vi.stubGlobal('WebSocket', class {});
    const reasons = Object.fromEntries(TRANSPORTS.map((t) => [t.id, t.unsupportedReason()]));
    // wt-raw has a WebSocket variant: what it cannot do without WebCodecs comes first, WebTransport is a variant's business.
    expect(reasons['wt-raw']).toBe('no VideoDecoder');
    const wtRaw = TRANSPORTS.find((t) => t.id === 'wt-raw')!;
    expect(wtRaw.variantUnsupportedReason?.('webtransport')).toBe('no WebTransport');
    expect(wtRaw.variantUnsupportedReason?.('websocket')).toBeNull();
    expect(reasons['wt-fmp4']).toBe('no WebTransport');
    expect(reasons['ws-nal']).toBe('no VideoDecoder');
    expect(reasons['ws-fmp4']).toBe('MediaSource missing');
    expect(reasons['hls']).toBe('neither native HLS nor MSE');
  });

  it('plays HLS natively on WebKit and where there is no MSE, through hls.js elsewhere', () => {
    expect(chooseHlsPlayback(true, true, true)).toBe('native');
    expect(chooseHlsPlayback(true, false, false)).toBe('native');
    // Chromium may report native HLS too: hls.js is what was tested there.
    expect(chooseHlsPlayback(true, true, false)).toBe('hls.js');
    expect(chooseHlsPlayback(false, true, true)).toBe('hls.js');
    expect(chooseHlsPlayback(false, false, true)).toBeNull();
  });
});

describe('WebTransport slots', () => {
  it('fail at once with a clear reason while their module does not exist', async () => {
    const slot = webTransportSlot('wt-raw', 'test', 'canvas', () => Promise.reject(new Error('Module not found in bundle')));
    const failed = new Promise<string>((resolve) => slot.connect(context({ failed: resolve })));
    await expect(failed).resolves.toBe('not available on this server');
  });

  it('hand over to the module once it exists, with the wishes made meanwhile', async () => {
    const calls: string[] = [];
    let seen: TransportContext | null = null;
    const inner: TransportSession = {
      capabilities: { input: true, audio: true, videoToggle: true, keyframesOnly: false },
      sendInput: () => calls.push('input'),
      setVideoEnabled: (enabled) => calls.push(`video ${enabled}`),
      setKeyframesOnly: () => calls.push('keyframes'),
      close: () => calls.push('close'),
    };
    const module: TransportModule = {
      connect: (ctx) => {
        seen = ctx;
        return inner;
      },
    };
    const slot = webTransportSlot('wt-fmp4', 'test', 'video', async () => module);
    const session = slot.connect(context({}));
    expect(session.capabilities.input).toBe(false);
    session.setVideoEnabled(false);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(seen!.preferences.videoEnabled).toBe(false);
    expect(session.capabilities.input).toBe(true);
    session.sendInput(new Uint8Array([0x11, 1, 0]));
    session.close();
    expect(calls).toEqual(['input', 'close']);
  });
});
