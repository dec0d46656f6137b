import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { advancePartLimit, holdTimeoutMs, judgePartFetch, judgePlaylistRequest, type LiveEdge } from '../../transports/hls/blocking-rules.js';
import { parseDeliveryDirectives } from '../../transports/hls/delivery-directives.js';
import { HeldRequests } from '../../transports/hls/held-requests.js';
import { initName, MEDIA_FILE_PATTERN, newMuxerId, parseMediaName, partName, playlistName, segmentName } from '../../transports/hls/names.js';

const q = (s: string) => new URLSearchParams(s);

describe('delivery directives', () => {
  it('reads _HLS_msn, _HLS_part and _HLS_skip', () => {
    expect(parseDeliveryDirectives(q(''))).toEqual({ ok: true, directives: { msn: undefined, part: undefined, skip: false } });
    expect(parseDeliveryDirectives(q('_HLS_msn=12&_HLS_part=3&_HLS_skip=YES'))).toEqual({ ok: true, directives: { msn: 12, part: 3, skip: true } });
    expect(parseDeliveryDirectives(q('_HLS_skip=v2'))).toMatchObject({ ok: true, directives: { skip: true } });
  });

  it.each([
    ['_HLS_part=1', /needs _HLS_msn/],
    ['_HLS_msn=-1', /non-negative integer/],
    ['_HLS_msn=1e3', /non-negative integer/],
    ['_HLS_msn=%201', /non-negative integer/],
    ['_HLS_msn=', /non-negative integer/],
    ['_HLS_msn=99999999999999999999', /non-negative integer/],
    ['_HLS_msn=1&_HLS_msn=2', /2 times/],
    ['_HLS_msn=1&_HLS_part=0x1', /non-negative integer/],
    ['_HLS_skip=NO', /YES or v2/],
  ])('refuses %s', (text, error) => {
    const parsed = parseDeliveryDirectives(q(text));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(error);
  });
});

describe('blocking arithmetic', () => {
  // Segments 0..4 complete, segment 5 open with parts 0..2 published.
  const edge: LiveEdge = { lastCompleteMsn: 4, lastPart: { msn: 5, index: 2 } };
  const limit = advancePartLimit(0.2);

  it('the Advance Part Limit is three seconds of parts below one-second parts, else three', () => {
    expect(limit).toBe(15);
    expect(advancePartLimit(0.5)).toBe(6);
    expect(advancePartLimit(1)).toBe(3);
    expect(advancePartLimit(2)).toBe(3);
    expect(holdTimeoutMs(2)).toBe(6000);
  });

  it('answers at once what exists', () => {
    expect(judgePlaylistRequest(edge, 5, 2, limit)).toBe('ready');
    expect(judgePlaylistRequest(edge, 5, 0, limit)).toBe('ready');
    expect(judgePlaylistRequest(edge, 3, 99, limit)).toBe('ready');
    expect(judgePlaylistRequest(edge, 4, undefined, limit)).toBe('ready');
    expect(judgePlaylistRequest(edge, 0, undefined, limit)).toBe('ready');
  });

  it('holds what comes next', () => {
    expect(judgePlaylistRequest(edge, 5, 3, limit)).toBe('wait');
    expect(judgePlaylistRequest(edge, 5, undefined, limit)).toBe('wait');
    expect(judgePlaylistRequest(edge, 6, 0, limit)).toBe('wait');
    expect(judgePlaylistRequest(edge, 7, undefined, limit)).toBe('wait');
  });

  it('a part index past a finished segment means the next segment', () => {
    const between: LiveEdge = { lastCompleteMsn: 5, lastPart: { msn: 5, index: 4 } };
    expect(judgePlaylistRequest(between, 5, 5, limit)).toBe('wait');
    expect(judgePlaylistRequest(between, 5, undefined, limit)).toBe('ready');
    expect(judgePlaylistRequest({ lastCompleteMsn: 5, lastPart: { msn: 6, index: 0 } }, 5, 5, limit)).toBe('ready');
  });

  it('refuses what is too far ahead', () => {
    expect(judgePlaylistRequest(edge, 8, undefined, limit)).toBe('too-far');
    expect(judgePlaylistRequest(edge, 8, 0, limit)).toBe('too-far');
    expect(judgePlaylistRequest(edge, 5, 2 + limit, limit)).toBe('wait');
    expect(judgePlaylistRequest(edge, 5, 3 + limit, limit)).toBe('too-far');
    expect(judgePlaylistRequest(edge, 6, limit, limit)).toBe('too-far');
    expect(judgePlaylistRequest(edge, 999_999_999_999_999, 0, limit)).toBe('too-far');
  });

  it('before anything exists, only the very first part may be waited for', () => {
    const empty: LiveEdge = { lastCompleteMsn: -1, lastPart: undefined };
    expect(judgePlaylistRequest(empty, 0, 0, limit)).toBe('wait');
    expect(judgePlaylistRequest(empty, 0, undefined, limit)).toBe('wait');
    expect(judgePlaylistRequest(empty, 5, 0, limit)).toBe('too-far');
  });

  it('parts fetched by name: old and newest served, the hinted next one held, later ones unknown', () => {
    expect(judgePartFetch(10, 3)).toBe('ready');
    expect(judgePartFetch(10, 10)).toBe('ready');
    expect(judgePartFetch(10, 11)).toBe('wait');
    expect(judgePartFetch(10, 12)).toBe('too-far');
    expect(judgePartFetch(undefined, 0)).toBe('wait');
    expect(judgePartFetch(undefined, 1)).toBe('too-far');
  });
});

describe('object names', () => {
  const id = newMuxerId();

  it('every name parses back to its object, and matches the route pattern', () => {
    for (const [name, parsed] of [
      [playlistName(id), { kind: 'playlist', id }],
      [initName(id, 3), { kind: 'init', id, n: 3 }],
      [segmentName(id, 120), { kind: 'segment', id, n: 120 }],
      [partName(id, 0), { kind: 'part', id, n: 0 }],
    ] as const) {
      expect(parseMediaName(name)).toEqual(parsed);
      expect(MEDIA_FILE_PATTERN.test(name)).toBe(true);
    }
  });

  it('muxer ids differ, so names of two muxers never collide', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newMuxerId()));
    expect(ids.size).toBe(1000);
    expect(partName(id, 5)).not.toBe(partName(newMuxerId(), 5));
  });

  it.each(['index.m3u8', `${id}-p01.m4s`, `${id}-p.m4s`, `${id}-x1.m4s`, `${id.slice(1)}-p1.m4s`, `${id}-p1.mp4`, `${id}-init1.m4s`, `${id}-p1234567890123456.m4s`, `${id.toUpperCase()}-p1.m4s`])(
    'refuses %s',
    (name) => expect(parseMediaName(name)).toBeUndefined(),
  );
});

describe('held requests', () => {
  class Client extends EventEmitter {}

  it('bounds how many are held, releases them when ready, on timeout, when the client leaves, or when the muxer stops', async () => {
    const held = new HeldRequests(3);
    let ready = false;
    const a = new Client();
    const b = new Client();
    const first = held.hold(() => ready, 10_000, a)!;
    const second = held.hold(() => false, 30, b)!;
    const third = held.hold(() => false, 10_000, new Client())!;
    expect(held.hold(() => true, 10, new Client())).toBeUndefined();
    expect(held.size).toBe(3);
    ready = true;
    held.wake();
    expect(await first).toBe('ready');
    expect(await second).toBe('timeout');
    const fourth = held.hold(() => false, 10_000, a)!;
    a.emit('close');
    expect(await fourth).toBe('closed');
    held.closeAll();
    expect(await third).toBe('closed');
    expect(held.size).toBe(0);
    // Settled holds leave no listener behind on a kept-alive connection.
    expect(a.listenerCount('close') + b.listenerCount('close')).toBe(0);
  });
});
