import { describe, expect, it } from 'vitest';
import { framingError } from '../../src/stream/frame-framing.js';
import type { TrackInfo } from '../../src/stream/types.js';

const h264 = { kind: 'video', codec: 'h264', nalLengthSize: 4 } as TrackInfo;
const h264Short = { kind: 'video', codec: 'h264', nalLengthSize: 2 } as TrackInfo;
const av1 = { kind: 'video', codec: 'av1' } as TrackInfo;
const aac = { kind: 'audio', codec: 'aac' } as TrackInfo;

describe('framingError', () => {
  it('takes length-prefixed NAL units that fit, zero-length ones included', () => {
    expect(framingError(h264, Uint8Array.of(0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 0, 0, 0, 0, 1, 0x06))).toBeUndefined();
    expect(framingError(h264Short, Uint8Array.of(0, 1, 0x41, 0, 2, 0x41, 0x9a))).toBeUndefined();
  });

  it('names a length that runs past the end, and a length cut short', () => {
    expect(framingError(h264, Uint8Array.of(0, 0, 0, 9, 0x65, 0x88))).toBe('NAL units truncated: the one at offset 4 declares 9 byte(s), only 2 left');
    expect(framingError(h264, Uint8Array.of(0, 0, 0, 1, 0x65, 0, 0))).toBe('NAL units truncated: 2 byte(s) left at offset 5, need a 4-byte length');
    expect(framingError(h264, new Uint8Array(0))).toBe('empty frame');
  });

  it('walks AV1 OBU sizes: a temporal delimiter and a sized frame OBU pass, an overrun does not', () => {
    // OBU_TEMPORAL_DELIMITER with a size field of 0, then OBU_FRAME (type 6) of 2 bytes.
    expect(framingError(av1, Uint8Array.of(0x12, 0x00, 0x32, 0x02, 0xaa, 0xbb))).toBeUndefined();
    expect(framingError(av1, Uint8Array.of(0x32, 0x05, 0xaa))).toMatch(/^AV1 temporal unit: OBU of 5 byte\(s\) overruns/);
    expect(framingError(av1, Uint8Array.of(0xb2, 0x00))).toMatch(/forbidden bit/);
  });

  it('leaves frames without inner framing (AAC, Opus, VP9) to their decoders', () => {
    expect(framingError(aac, Uint8Array.of(0x21, 0x10))).toBeUndefined();
  });
});
