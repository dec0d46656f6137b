/**
 * Whether this browser's WebCodecs decodes a stream's codecs, asked before
 * a WebCodecs transport commits to it: a browser without HEVC (or AV1, VP9,
 * Opus) should move on to a transport that can still show the stream (MSE,
 * then JPEG snapshots), with the reason in the overlay, rather than paint
 * nothing.
 */
import type { AudioInit, VideoInit } from '../protocol/ws-nal-wire.js';

export interface DecoderSupportApi {
  video(config: VideoDecoderConfig): Promise<boolean>;
  audio(config: AudioDecoderConfig): Promise<boolean>;
}

/** The browser's `isConfigSupported`; a missing decoder supports nothing. */
export function webCodecsSupport(): DecoderSupportApi {
  return {
    video: async (config) => typeof VideoDecoder !== 'undefined' && ((await VideoDecoder.isConfigSupported(config)).supported ?? false),
    audio: async (config) => typeof AudioDecoder !== 'undefined' && ((await AudioDecoder.isConfigSupported(config)).supported ?? false),
  };
}

/** Asks `check`; a codec string the browser calls invalid (a TypeError) is a refusal too. */
async function problem(kind: string, codec: string, check: () => Promise<boolean>): Promise<string | null> {
  try {
    return (await check()) ? null : `this browser's ${kind} cannot decode ${codec}`;
  } catch (err) {
    return `this browser's ${kind} rejects ${codec}: ${(err as Error).message}`;
  }
}

/** Why the video cannot be decoded here, or null. */
export function videoDecodeProblem(init: VideoInit, api: DecoderSupportApi = webCodecsSupport()): Promise<string | null> {
  return problem('VideoDecoder', init.codec, () => api.video({ codec: init.codec, codedWidth: init.codedWidth, codedHeight: init.codedHeight }));
}

/** Why the sound cannot be decoded here, or null. */
export function audioDecodeProblem(init: AudioInit, api: DecoderSupportApi = webCodecsSupport()): Promise<string | null> {
  return problem('AudioDecoder', init.codec, () =>
    api.audio({ codec: init.codec, sampleRate: init.sampleRate, numberOfChannels: init.numberOfChannels, ...(init.description ? { description: init.description } : {}) }),
  );
}
