import { describe, expect, it } from 'vitest';
import { opusTrackInfo } from '../../src/codec/opus.js';
import { createInitSegment } from '../../src/mux/fmp4/index.js';
import { initTracks } from '../../public/src/protocol/fmp4-probe.js';
import { soundConfigOf } from '../../public/src/render/fmp4-sound.js';

const head = (channels: number, family: number, mapping: number[] = []) =>
  Uint8Array.from([...Buffer.from('OpusHead'), 1, channels, 0x38, 0x01, 0x44, 0xac, 0, 0, 0xfe, 0xff, family, ...mapping]);

describe('sound apart from an Opus fMP4 track', () => {
  it('configures the AudioDecoder with the identification header rebuilt from the muxer dOps', () => {
    for (const opusHead of [head(2, 0), head(6, 1, [4, 2, 0, 4, 1, 2, 3, 5])]) {
      const track = opusTrackInfo(opusHead);
      const init = createInitSegment({ audio: track });
      expect(soundConfigOf(init, initTracks(init))).toEqual({ codec: 'opus', sampleRate: 48000, numberOfChannels: track.channels, description: opusHead });
    }
  });
});
