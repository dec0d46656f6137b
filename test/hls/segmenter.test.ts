import { describe, expect, it } from 'vitest';
import { Segmenter, type PartCut } from '../../transports/hls/segmenter.js';
import { frames } from './fixtures.js';

function cutAll(s: Segmenter, input: ReturnType<typeof frames>): PartCut[] {
  const cuts: PartCut[] = [];
  for (const f of input) {
    const cut = s.push(f);
    if (cut !== undefined) cuts.push(cut);
  }
  return cuts;
}

const options = { hasVideo: true, partTargetUs: 200_000, segmentMinUs: 1_000_000, maxGapUs: 10_000_000 };

describe('segmenter', () => {
  it('cuts 200 ms parts on frame boundaries and 1 s segments at keyframes', () => {
    const cuts = cutAll(new Segmenter(options), frames(3.05));
    expect(cuts).toHaveLength(15);
    for (const cut of cuts) {
      expect(cut.video).toHaveLength(6);
      expect(Math.abs(cut.durationUs - 200_000)).toBeLessThanOrEqual(1000);
    }
    expect(cuts.map((c) => c.independent)).toEqual(cuts.map((_, i) => i % 5 === 0));
    expect(cuts.map((c) => c.startsSegment)).toEqual(cuts.map((_, i) => i % 5 === 0));
    expect(cuts.map((c) => c.endsSegment)).toEqual(cuts.map((_, i) => i % 5 === 4));
    // Audio goes where it arrived: every frame once, in order.
    const audio = cuts.flatMap((c) => c.audio);
    expect(audio.length).toBeGreaterThan(130);
    expect(audio.every((f, i) => i === 0 || f.dts > audio[i - 1]!.dts)).toBe(true);
  });

  it('a segment lasts a whole GOP when the GOP is longer than hlsSegmentDuration', () => {
    const cuts = cutAll(new Segmenter(options), frames(4.05, { gop: 60 }));
    // Keyframes at 0, 2 and 4 s: two segments are complete, the third has no part yet.
    expect(cuts.filter((c) => c.endsSegment)).toHaveLength(2);
    const first = cuts.slice(0, cuts.findIndex((c) => c.endsSegment) + 1);
    expect(first.reduce((sum, c) => sum + c.durationUs, 0)).toBeCloseTo(2_000_000, -4);
    expect(first.filter((c) => c.independent)).toHaveLength(1);
  });

  it('ignores frames before the first keyframe', () => {
    const input = frames(2.05).filter((f) => f.dts >= 500_000);
    const cuts = cutAll(new Segmenter(options), input);
    expect(cuts[0]!.video[0]!.dts).toBe(1_000_000);
    expect(cuts[0]!.independent).toBe(true);
  });

  it('a publisher clock reset counts as one frame interval, not a jump backwards', () => {
    const before = frames(1.05);
    const after = frames(1.05, { startUs: 0 }).map((f) => ({ ...f, dts: f.dts, pts: f.pts }));
    const s = new Segmenter(options);
    const cuts = cutAll(s, [...before.filter((f) => f.dts < 1_000_000), ...after]);
    const starts = cuts.map((c) => c.startUs);
    expect(starts.every((t, i) => i === 0 || t > starts[i - 1]!)).toBe(true);
    expect(cuts.every((c) => c.durationUs > 0 && c.durationUs < 400_000)).toBe(true);
  });

  it('audio only: parts and segments on the audio clock', () => {
    const cuts = cutAll(new Segmenter({ ...options, hasVideo: false }), frames(2.1, { audio: true }).filter((f) => f.kind === 'audio'));
    expect(cuts.filter((c) => c.endsSegment)).toHaveLength(2);
    expect(cuts.every((c) => c.independent && c.video.length === 0)).toBe(true);
  });

  it('flush closes the open part as the end of its segment', () => {
    const s = new Segmenter(options);
    cutAll(s, frames(0.5));
    const rest = s.flush();
    expect(rest).toMatchObject({ endsSegment: true });
    expect(rest!.durationUs).toBeGreaterThan(0);
    expect(s.flush()).toBeUndefined();
  });
});
