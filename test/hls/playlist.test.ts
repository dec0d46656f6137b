import { describe, expect, it } from 'vitest';
import { renderMediaPlaylist, skippedSegments, type ListedSegment, type MediaPlaylist } from '../../transports/hls/playlist.js';
import { description, frames, muxer } from './fixtures.js';

const ID = '0123456789abcdef';

function feed(m: ReturnType<typeof muxer>, input: ReturnType<typeof frames>): void {
  for (const f of input) m.write(f);
}

/** Tag lines of one kind, without the tag name. */
const tags = (text: string, tag: string) => text.split('\n').filter((l) => l.startsWith(`${tag}:`) || l === tag).map((l) => l.slice(tag.length + 1));

describe('media playlist (LL-HLS)', () => {
  it('lists segments, their parts, INDEPENDENT on keyframe parts and a preload hint for the next part', () => {
    const m = muxer();
    m.describe(description);
    feed(m, frames(3.1));
    const text = m.mediaPlaylist(false, '');
    expect(text).toMatch(/^#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n/);
    expect(text).toContain('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000,CAN-SKIP-UNTIL=6\n');
    expect(text).toContain('#EXT-X-PART-INF:PART-TARGET=0.20000\n');
    expect(text).toContain('#EXT-X-MEDIA-SEQUENCE:0\n');
    expect(tags(text, '#EXT-X-MAP')).toEqual([`URI="${ID}-init1.mp4"`]);
    expect(text.split('\n').filter((l) => l.endsWith('.m4s') && !l.startsWith('#'))).toEqual([0, 1, 2].map((n) => `${ID}-s${n}.m4s`));
    const parts = tags(text, '#EXT-X-PART');
    // 3 complete segments of 5 parts, all within 3 target durations of the end, then the open segment's part.
    expect(parts).toHaveLength(15);
    expect(parts[0]).toBe(`DURATION=0.20000,URI="${ID}-p0.m4s",INDEPENDENT=YES`);
    expect(parts[1]).toBe(`DURATION=0.20000,URI="${ID}-p1.m4s"`);
    expect(parts.filter((p) => p.endsWith('INDEPENDENT=YES'))).toHaveLength(3);
    expect(tags(text, '#EXT-X-PRELOAD-HINT')).toEqual([`TYPE=PART,URI="${ID}-p15.m4s"`]);
    expect(tags(text, '#EXT-X-PROGRAM-DATE-TIME')).toEqual(['2023-11-14T22:13:20.000Z', '2023-11-14T22:13:21.000Z', '2023-11-14T22:13:22.000Z']);
    // Every EXTINF is the sum of its parts.
    expect(tags(text, '#EXTINF')).toEqual(['1.00000,', '1.00000,', '1.00000,']);
  });

  it('the window slides: MEDIA-SEQUENCE follows, old parts leave the playlist and memory', () => {
    const m = muxer({ segmentCount: 3 });
    m.describe(description);
    feed(m, frames(8.1));
    const text = m.mediaPlaylist(false, '');
    expect(text).toContain('#EXT-X-MEDIA-SEQUENCE:5\n');
    expect(tags(text, '#EXTINF')).toHaveLength(3);
    expect(m.window.segment(3)).toBeDefined();
    expect(m.window.segment(2)).toBeUndefined();
    expect(m.window.part(0)).toBeUndefined();
    expect(m.window.part(39)!.bytes.byteLength).toBeGreaterThan(0);
  });

  it('names are stable: a part keeps its name and bytes once listed, and its bytes are inside its segment', () => {
    const m = muxer();
    m.describe(description);
    feed(m, frames(1.5));
    const part5 = m.window.part(5)!;
    const bytes = Uint8Array.from(part5.bytes);
    feed(m, frames(2.5).filter((f) => f.dts > 1_500_000 - 1));
    expect(Uint8Array.from(m.window.part(5)!.bytes)).toEqual(bytes);
    const segment = m.window.segment(1)!.bytes!;
    expect(Buffer.from(segment).indexOf(Buffer.from(bytes))).toBe(0);
  });

  it('a publisher restart: same media sequence, a discontinuity, a new init segment', () => {
    const m = muxer();
    m.describe(description);
    feed(m, frames(2.1));
    m.offline();
    m.describe({ ...description });
    feed(m, frames(2.1, { startUs: 50_000_000 }));
    const text = m.mediaPlaylist(false, '');
    expect(tags(text, '#EXT-X-MAP')).toEqual([`URI="${ID}-init1.mp4"`, `URI="${ID}-init2.mp4"`]);
    expect(text.split('\n').filter((l) => l === '#EXT-X-DISCONTINUITY')).toHaveLength(1);
    expect(text.indexOf('#EXT-X-DISCONTINUITY')).toBeLessThan(text.indexOf(`${ID}-init2.mp4`));
    expect(m.window.init(2)).toBeDefined();
  });

  it('a segment reaching hlsSegmentMaxSize is closed early; frames up to the next keyframe are dropped', () => {
    const m = muxer({ segmentMaxSize: 20_000 });
    m.describe(description);
    feed(m, frames(3.1, { bytesPerFrame: 1000 }));
    const text = m.mediaPlaylist(false, '');
    const durations = tags(text, '#EXTINF').map((d) => Number.parseFloat(d));
    expect(durations.length).toBe(3);
    for (const d of durations) expect(d).toBeLessThan(0.9);
    for (let msn = 0; msn < 3; msn++) expect(m.window.segment(msn)!.bytes!.byteLength).toBeLessThan(22_000);
    // Every segment still starts with a keyframe.
    expect(tags(text, '#EXT-X-PART').filter((p) => p.endsWith('INDEPENDENT=YES'))).toHaveLength(3);
  });

  it('the plain fmp4 variant lists no parts and no LL-HLS tags', () => {
    const m = muxer({ lowLatency: false });
    m.describe(description);
    feed(m, frames(3.1));
    const text = m.mediaPlaylist(false, '');
    expect(text).toMatch(/^#EXTM3U\n#EXT-X-VERSION:7\n/);
    for (const tag of ['#EXT-X-PART', '#EXT-X-SERVER-CONTROL', '#EXT-X-PRELOAD-HINT', '#EXT-X-PART-INF']) expect(text).not.toContain(tag);
    expect(tags(text, '#EXTINF')).toHaveLength(3);
  });

  it('credentials of the request are handed on to every URI', () => {
    const m = muxer();
    m.describe(description);
    feed(m, frames(1.1));
    const text = m.mediaPlaylist(false, '?token=abc');
    const uris = [...text.matchAll(new RegExp(`${ID}-[a-z0-9.]+(\\S*?)(?:"|$)`, 'gm'))];
    expect(uris.length).toBeGreaterThan(5);
    for (const uri of uris) expect(uri[1]).toBe('?token=abc');
    expect(m.multivariantPlaylist('?token=abc')).toContain(`${ID}-stream.m3u8?token=abc`);
  });

  it('multivariant playlist: codecs, resolution, bandwidth', () => {
    const m = muxer();
    m.describe(description);
    expect(m.multivariantPlaylist('')).toBeUndefined();
    feed(m, frames(1.1));
    const text = m.multivariantPlaylist('')!;
    expect(text).toMatch(/#EXT-X-STREAM-INF:BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,CODECS="avc1.64000d,mp4a.40.2",RESOLUTION=320x240\n0123456789abcdef-stream.m3u8\n/);
  });
});

describe('delta updates', () => {
  const seg = (i: number): ListedSegment => ({ uri: `s${i}`, mapUri: 'init', durationUs: 1_000_000, complete: true, discontinuity: false, programDateMs: i * 1000, parts: [] });
  const base: MediaPlaylist = { lowLatency: true, targetDurationS: 1, partTargetUs: 200_000, firstMsn: 10, firstDiscontinuitySequence: 0, segments: Array.from({ length: 12 }, (_, i) => seg(10 + i)), skip: true };

  it('skips segments that start more than CAN-SKIP-UNTIL before the end', () => {
    // 12 s listed, skip boundary 6 s: the first 6 start 12..7 s from the end.
    expect(skippedSegments(base)).toBe(6);
    const text = renderMediaPlaylist(base);
    expect(text).toContain('#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-SKIP:SKIPPED-SEGMENTS=6\n#EXT-X-MAP:URI="init"\n');
    expect(text).not.toContain('\ns15\n');
    expect(text).toContain('\ns16\n');
  });

  it('skips nothing when not asked, when too short, or without LL-HLS', () => {
    expect(skippedSegments({ ...base, skip: false })).toBe(0);
    expect(skippedSegments({ ...base, segments: base.segments.slice(0, 6) })).toBe(0);
    expect(skippedSegments({ ...base, lowLatency: false })).toBe(0);
    expect(renderMediaPlaylist({ ...base, skip: false })).not.toContain('#EXT-X-SKIP');
  });

  it('the muxer answers _HLS_skip with a delta playlist', () => {
    const m = muxer({ segmentCount: 12 });
    m.describe(description);
    feed(m, frames(12.1));
    const full = m.mediaPlaylist(false, '');
    const delta = m.mediaPlaylist(true, '');
    expect(delta).toContain('#EXT-X-SKIP:SKIPPED-SEGMENTS=6');
    expect(delta.length).toBeLessThan(full.length);
    expect(tags(delta, '#EXT-X-MEDIA-SEQUENCE')).toEqual(tags(full, '#EXT-X-MEDIA-SEQUENCE'));
  });
});
