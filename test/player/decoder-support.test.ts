import { describe, expect, it } from 'vitest';
import { audioDecodeProblem, videoDecodeProblem, type DecoderSupportApi } from '../../public/src/render/decoder-support.js';

/** A browser that decodes the listed codecs and throws, as Chromium does, on a codec string it cannot parse. */
function browser(decodes: string[]): DecoderSupportApi & { asked: unknown[] } {
  const asked: unknown[] = [];
  const answer = async (config: { codec: string }) => {
    asked.push(config);
    if (config.codec === 'bogus') throw new TypeError('Invalid codec string');
    return decodes.includes(config.codec);
  };
  return { asked, video: answer, audio: answer };
}

describe('decoder support', () => {
  it('names the codec this browser cannot decode, and passes what it can', async () => {
    const api = browser(['av01.0.04M.08', 'opus']);
    expect(await videoDecodeProblem({ codec: 'av01.0.04M.08', codedWidth: 320, codedHeight: 240 }, api)).toBeNull();
    expect(await videoDecodeProblem({ codec: 'hvc1.1.6.L63.90', codedWidth: 320, codedHeight: 240 }, api)).toBe("this browser's VideoDecoder cannot decode hvc1.1.6.L63.90");
    expect(await audioDecodeProblem({ codec: 'opus', sampleRate: 48000, numberOfChannels: 2, description: Uint8Array.of(1) }, api)).toBeNull();
    // The size and the description are part of the question: a decoder may support a codec only at some sizes.
    expect(api.asked).toEqual([
      { codec: 'av01.0.04M.08', codedWidth: 320, codedHeight: 240 },
      { codec: 'hvc1.1.6.L63.90', codedWidth: 320, codedHeight: 240 },
      { codec: 'opus', sampleRate: 48000, numberOfChannels: 2, description: Uint8Array.of(1) },
    ]);
  });

  it('turns a rejected codec string into a reason instead of an exception', async () => {
    expect(await videoDecodeProblem({ codec: 'bogus', codedWidth: 1, codedHeight: 1 }, browser([]))).toBe("this browser's VideoDecoder rejects bogus: Invalid codec string");
  });
});
