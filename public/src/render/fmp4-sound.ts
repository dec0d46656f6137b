/**
 * The sound of an fMP4 stream played apart from its pictures: the AAC or
 * Opus samples of each audio segment go to a `SoundRenderer` (WebCodecs, or an
 * audio element of their own), so that the video element's SourceBuffer
 * holds video alone and plays from about a frame of buffer. Shared by
 * `ws-fmp4` and `wt-fmp4`.
 */
import { parseAudioSpecificConfig } from '../../../src/codec/aac.js';
import type { InitTrack } from '../protocol/fmp4-probe.js';
import { opusHeadFromDops, opusTrackInfo } from '../../../src/codec/opus.js';
import { audioSpecificConfig, fragmentSamples, opusSpecificBox } from '../protocol/fmp4-tracks.js';
import type { AudioInit } from '../protocol/ws-nal-wire.js';
import { wallClockUs } from '../wall-clock.js';
import type { SoundRenderer } from './sound.js';

/**
 * The decoder configuration of the audio track in `init`: AAC from its
 * `esds`, Opus from its `dOps` (as the identification header an
 * `AudioDecoder` takes); null when there is none or it is unreadable.
 */
export function soundConfigOf(init: Uint8Array, tracks: Iterable<InitTrack>): AudioInit | null {
  const track = [...tracks].find((t) => t.kind === 'audio');
  if (!track) return null;
  try {
    const dOps = opusSpecificBox(init, track.trackId);
    if (dOps) {
      const opus = opusTrackInfo(opusHeadFromDops(dOps));
      return { codec: opus.codecString, sampleRate: opus.sampleRate, numberOfChannels: opus.channels, description: opus.opusHead };
    }
    const description = audioSpecificConfig(init, track.trackId);
    if (!description) return null;
    const config = parseAudioSpecificConfig(description);
    return { codec: config.codecString, sampleRate: config.sampleRate, numberOfChannels: config.channels, description };
  } catch {
    return null;
  }
}

/** Every sample of one audio media segment, in order, to the renderer. */
export function playSegmentSound(renderer: SoundRenderer, bytes: Uint8Array, track: InitTrack): void {
  const receivedAtUs = wallClockUs();
  for (const sample of fragmentSamples(bytes)) {
    const ptsUs = Math.round(((sample.decodeTime + sample.compositionOffset) * 1e6) / track.timescale);
    renderer.push({ kind: 'audio', keyframe: true, discontinuity: false, ptsUs, dtsUs: ptsUs, receivedAtUs, payload: sample.data });
  }
}
