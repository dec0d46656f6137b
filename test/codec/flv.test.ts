import { describe, expect, it } from 'vitest';
import {
  FlvDemuxer,
  FlvError,
  flvTimestampToUs,
  flvVideoTimesUs,
  parseFlvPayload,
  parseFlvTag,
  type FlvTag,
} from '../../src/codec/flv.js';
import { amf0, concat, demux, flvStream, flvTag } from './helpers.js';

const AUDIO = 8;
const VIDEO = 9;
const SCRIPT = 18;
const avccFrame = Uint8Array.of(0, 0, 0, 3, 0x65, 0x88, 0x80);
const ascBytes = Uint8Array.of(0x12, 0x10);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

describe('parseFlvTag: video', () => {
  it('reads a negative composition time and the extended timestamp byte', () => {
    // 0x01000005 ms needs the TimestampExtended byte; CompositionTime 0xFFFFF6 is −10 ms.
    const tag = flvTag(VIDEO, 0x01000005, [0x17, 0x01, 0xff, 0xff, 0xf6, ...avccFrame]);
    expect([...tag.subarray(4, 8)]).toEqual([0x00, 0x00, 0x05, 0x01]);
    const parsed = parseFlvTag(tag);
    expect(parsed).toEqual({ type: 'video', timestamp: 16777221, compositionTime: -10, key: true, codec: 'avc1', data: avccFrame });
    if (parsed.type !== 'video') throw new Error('unreachable');
    expect(parsed.data.buffer).toBe(tag.buffer); // a view, not a copy
    expect(parsed.data.byteOffset).toBe(tag.byteOffset + 16);
    expect(flvVideoTimesUs(parsed)).toEqual({ dts: 16777221000, pts: 16777211000 });
  });

  it('reads the top timestamp byte as unsigned (RTMP wraps, it does not go negative)', () => {
    const parsed = parseFlvTag(flvTag(VIDEO, 0xfffffffe, [0x27, 0x01, 0x00, 0x00, 0x28, ...avccFrame]));
    expect(parsed).toMatchObject({ timestamp: 0xfffffffe, compositionTime: 40, key: false });
    expect(flvTimestampToUs(1500)).toBe(1_500_000);
  });

  it('parses sequence header and end of sequence, and ignores a trailing PreviousTagSize', () => {
    const avcC = Uint8Array.of(1, 0x64, 0, 0x1f, 0xff, 0xe0, 0);
    const tag = flvTag(VIDEO, 0, [0x17, 0x00, 0, 0, 0, ...avcC]);
    expect(parseFlvTag(concat(tag, Uint8Array.of(0, 0, 0, tag.length)))).toEqual({ type: 'video-config', timestamp: 0, codec: 'avc1', config: avcC });
    expect(parseFlvTag(flvTag(VIDEO, 40, [0x17, 0x02, 0, 0, 0]))).toEqual({ type: 'video-end', timestamp: 40 });
  });

  it('names the codecs it does not carry, legacy and enhanced RTMP, as unsupported', () => {
    const reason = (t: FlvTag) => (t.type === 'unsupported' ? t.reason : `not unsupported: ${t.type}`);
    expect(parseFlvTag(flvTag(VIDEO, 0, [0x90, ...ascii('vp08'), 1, 2, 3]))).toMatchObject({ codec: { kind: 'video', label: 'video codec VP8 (FourCC vp08)' } });
    expect(reason(parseFlvTag(flvTag(VIDEO, 0, [0x91, 0, 1, 2, 3])))).toMatch(/unknown.*0x00010203/);
    expect(reason(parseFlvTag(flvTag(VIDEO, 0, [0x22, 0, 0])))).toMatch(/Sorenson H\.263/);
    expect(reason(parseFlvTag(flvTag(VIDEO, 0, [0x14, 0])))).toMatch(/VP6/);
    // The pre-standard CodecID 12/13 of some CDNs: HEVC and AV1 come over enhanced RTMP instead.
    expect(reason(parseFlvTag(flvTag(VIDEO, 0, [0x1c, 1, 0, 0, 0])))).toBe('video codec HEVC (FLV codec id 12)');
    expect(reason(parseFlvTag(flvTag(VIDEO, 0, [0x1d, 1, 0, 0, 0])))).toBe('video codec AV1 (FLV codec id 13)');
    expect(reason(parseFlvTag(flvTag(VIDEO, 0, [0x57, 0])))).toMatch(/command frame/);
  });

  it('accepts AVC through the enhanced-RTMP header (avc1 FourCC)', () => {
    expect(parseFlvTag(flvTag(VIDEO, 5, [0x91, ...ascii('avc1'), 0xff, 0xff, 0xfe, ...avccFrame]))).toEqual({
      type: 'video', timestamp: 5, compositionTime: -2, key: true, codec: 'avc1', data: avccFrame,
    });
    expect(parseFlvTag(flvTag(VIDEO, 5, [0xa3, ...ascii('avc1'), ...avccFrame]))).toEqual({
      type: 'video', timestamp: 5, compositionTime: 0, key: false, codec: 'avc1', data: avccFrame,
    });
    expect(parseFlvTag(flvTag(VIDEO, 0, [0x90, ...ascii('avc1'), 1, 2]))).toEqual({
      type: 'video-config', timestamp: 0, codec: 'avc1', config: Uint8Array.of(1, 2),
    });
  });

  it('reports payloads too short for their own headers as invalid, without throwing', () => {
    expect(parseFlvTag(flvTag(VIDEO, 0, [0x17, 0x01, 0]))).toMatchObject({ type: 'invalid', reason: expect.stringMatching(/need 5/) });
    expect(parseFlvTag(flvTag(VIDEO, 0, []))).toMatchObject({ type: 'invalid', reason: 'empty video tag' });
    expect(parseFlvTag(flvTag(VIDEO, 0, [0x91, ...ascii('avc1'), 0]))).toMatchObject({ type: 'invalid' });
    expect(parseFlvTag(flvTag(VIDEO, 0, [0x17, 0x07, 0, 0, 0]))).toMatchObject({ type: 'invalid', reason: 'reserved AVCPacketType 7' });
  });
});

describe('parseFlvTag: audio', () => {
  it('parses AAC config and raw frames', () => {
    expect(parseFlvTag(flvTag(AUDIO, 0, [0xaf, 0x00, ...ascBytes]))).toEqual({ type: 'audio-config', timestamp: 0, codec: 'mp4a', config: ascBytes });
    expect(parseFlvTag(flvTag(AUDIO, 23, [0xaf, 0x01, 0x21, 0x10]))).toEqual({ type: 'audio', timestamp: 23, codec: 'mp4a', data: Uint8Array.of(0x21, 0x10) });
    expect(parseFlvTag(flvTag(AUDIO, 0, [0x90, ...ascii('mp4a'), ...ascBytes]))).toEqual({ type: 'audio-config', timestamp: 0, codec: 'mp4a', config: ascBytes });
  });

  it('names the SoundFormat of non-AAC audio', () => {
    const cases: [number[], RegExp][] = [
      [[0x2f, 0xff], /^audio codec MP3 \(FLV sound format 2\)$/],
      [[0xb6, 0], /Speex/],
      [[0x72, 0], /G\.711 A-law/],
      [[0x6e, 0], /Nellymoser/],
      [[0xe2, 0], /MP3 \(FLV sound format 14\)/],
      [[0x90, ...ascii('.mp3'), 1], /^audio codec MP3 \(FourCC \.mp3\)$/],
      [[0x90, ...ascii('ac-3'), 1], /AC-3/],
      [[0x91, ...ascii('fLaC'), 1], /FLAC/],
    ];
    for (const [body, re] of cases) {
      const t = parseFlvTag(flvTag(AUDIO, 0, body));
      expect(t.type).toBe('unsupported');
      if (t.type === 'unsupported') expect(t.reason).toMatch(re);
    }
    expect(parseFlvTag(flvTag(AUDIO, 0, [0xaf]))).toMatchObject({ type: 'invalid', reason: expect.stringMatching(/AACPacketType/) });
  });
});

describe('parseFlvTag: script data', () => {
  it('reads onMetaData as a flat object of scalars', () => {
    const body = amf0('onMetaData', {
      ecma: { duration: 2.5, width: 1920, encoder: 'Lavf59', stereo: true, nothing: null, nested: { a: 1 }, after: 'still read' },
    });
    expect(parseFlvTag(flvTag(SCRIPT, 0, body))).toEqual({
      type: 'script',
      timestamp: 0,
      name: 'onMetaData',
      data: { duration: 2.5, width: 1920, encoder: 'Lavf59', stereo: true, after: 'still read' },
    });
  });

  it('reads @setDataFrame (name first, then the real name, then the object)', () => {
    const body = amf0('@setDataFrame', 'onMetaData', { videocodecid: 7, audiocodecid: 10 });
    expect(parseFlvPayload(SCRIPT, 100, body)).toMatchObject({
      type: 'script', name: '@setDataFrame', data: { videocodecid: 7, audiocodecid: 10 },
    });
  });

  it('tolerates an ECMA array without end marker, and reports garbage as invalid', () => {
    const body = amf0('onMetaData', { ecma: { fps: 30 } });
    expect(parseFlvPayload(SCRIPT, 0, body.subarray(0, body.length - 3))).toMatchObject({ type: 'script', data: { fps: 30 } });
    expect(parseFlvPayload(SCRIPT, 0, body.subarray(0, body.length - 6))).toMatchObject({ type: 'invalid', reason: expect.stringMatching(/truncated/) });
    expect(parseFlvPayload(SCRIPT, 0, Uint8Array.of(0x02, 0, 1, 0x41, 0x11))).toMatchObject({ type: 'invalid', reason: expect.stringMatching(/marker 0x11/) });
    // Deep nesting cannot blow the stack.
    const deep = concat(...Array.from({ length: 10_000 }, () => Uint8Array.of(0x03, 0, 1, 0x61)));
    expect(parseFlvPayload(SCRIPT, 0, deep)).toMatchObject({ type: 'invalid', reason: expect.stringMatching(/too deep/) });
  });
});

describe('parseFlvTag: framing errors throw', () => {
  it('throws FlvError on a truncated header or body', () => {
    const tag = flvTag(VIDEO, 0, [0x17, 0x01, 0, 0, 0, ...avccFrame]);
    expect(() => parseFlvTag(tag.subarray(0, 10))).toThrow(FlvError);
    expect(() => parseFlvTag(tag.subarray(0, tag.length - 1))).toThrow(/announces 12 body byte\(s\), only 11 present/);
  });

  it('reports encrypted tags and unknown tag types as unsupported', () => {
    expect(parseFlvTag(flvTag(VIDEO | 0x20, 0, [0x17]))).toMatchObject({ type: 'unsupported', reason: expect.stringMatching(/encrypted/) });
    expect(parseFlvTag(flvTag(15, 0, [1]))).toMatchObject({ type: 'unsupported', tagType: 15 });
  });
});

describe('FlvDemuxer', () => {
  const tags = [
    flvTag(SCRIPT, 0, amf0('onMetaData', { ecma: { width: 640 } })),
    flvTag(VIDEO, 0, [0x17, 0x00, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe0, 0]),
    flvTag(AUDIO, 0, [0xaf, 0x00, ...ascBytes]),
    flvTag(VIDEO, 0, [0x17, 0x01, 0, 0, 0x50, ...avccFrame]),
    flvTag(AUDIO, 21, [0xaf, 0x01, ...new Uint8Array(300).fill(7)]),
    flvTag(VIDEO, 0x01000000, [0x27, 0x01, 0xff, 0xff, 0xf6, ...avccFrame]),
  ];
  const stream = flvStream(tags);

  it('emits whole tags without their PreviousTagSize, the same for any chunking', () => {
    const whole = demux(stream);
    expect(whole.map((t) => t.tag)).toEqual(tags);
    expect(whole.map((t) => t.parsed.type)).toEqual(['script', 'video-config', 'audio-config', 'video', 'audio', 'video']);
    expect(whole[5]!.parsed).toMatchObject({ timestamp: 0x01000000, compositionTime: -10 });
    for (const size of [1, 2, 3, 7, 11, 12, 13, 64, 311]) {
      expect(demux(stream, size)).toEqual(whole);
    }
  });

  it('hands out views of the pushed chunk when a tag lies inside it, and bounds what it buffers', () => {
    const seen: Uint8Array[] = [];
    let maxBuffered = 0;
    const d = new FlvDemuxer((tag) => seen.push(tag));
    for (let i = 0; i < stream.length; i += 100) {
      d.push(stream.subarray(i, i + 100));
      maxBuffered = Math.max(maxBuffered, d.bufferedBytes);
    }
    d.end();
    expect(seen[0]!.buffer).toBe(stream.buffer);
    expect(maxBuffered).toBeLessThanOrEqual(Math.max(...tags.map((t) => t.length)));
    expect(d.tagCount).toBe(tags.length);
    expect(d.flags).toBe(5);
  });

  it('honours a DataOffset beyond the 9-byte header', () => {
    const header = Uint8Array.of(0x46, 0x4c, 0x56, 1, 1, 0, 0, 0, 12, 0xde, 0xad, 0xbe, 0, 0, 0, 0);
    const out = demux(concat(header, tags[3]!, Uint8Array.of(0, 0, 0, 0)), 5);
    expect(out.map((t) => t.parsed.type)).toEqual(['video']);
  });

  it('rejects a non-FLV stream at its first byte, and stays failed', () => {
    const d = new FlvDemuxer(() => {});
    expect(() => d.push(new TextEncoder().encode('GIF89a...'))).toThrow(/not an FLV stream: bad signature byte 0x47 at offset 0/);
    expect(() => d.push(stream)).toThrow(FlvError);
    const mp4 = Uint8Array.of(0, 0, 0, 0x20, ...ascii('ftypisom'));
    expect(() => demux(mp4)).toThrow(/not an FLV stream/);
    expect(() => demux(Uint8Array.of(0x46, 0x4c, 0x41))).toThrow(/offset 2/);
  });

  it('rejects absurd tag sizes before buffering them', () => {
    const big = concat(stream.subarray(0, 13), Uint8Array.of(VIDEO, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0));
    const d = new FlvDemuxer(() => {});
    expect(() => d.push(big)).toThrow(/16777226 bytes exceeds the 16777216-byte limit/);
    expect(d.bufferedBytes).toBe(0);
    const small = new FlvDemuxer(() => {}, { maxTagSize: 100 });
    expect(() => small.push(stream)).toThrow(/exceeds the 100-byte limit/);
  });

  it('complains when the stream ends inside a tag, but not at a tag boundary', () => {
    const d = new FlvDemuxer(() => {});
    d.push(stream.subarray(0, stream.length - 20));
    expect(() => d.end()).toThrow(/ended inside a tag/);
    expect(() => demux(stream.subarray(0, stream.length - 4))).not.toThrow(); // last PreviousTagSize missing
    expect(() => demux(stream.subarray(0, 5))).toThrow(/inside the file header/);
  });
});
