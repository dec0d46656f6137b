/**
 * The sound of an fMP4 stream played apart from its pictures: the AAC
 * samples of each audio segment go to a `SoundRenderer` (WebCodecs, or an
 * audio element of their own), so that the video element's SourceBuffer
 * holds video alone and plays from about a frame of buffer. Shared by
 * `ws-fmp4` and `wt-fmp4`.
 */
import { parseAudioSpecificConfig } from '../../../src/codec/aac.js';
import type { InitTrack } from '../protocol/fmp4-probe.js';
import { audioSpecificConfig, fragmentSamples } from '../protocol/fmp4-tracks.js';
import type { AudioInit } from '../protocol/ws-nal-wire.js';
import { wallClockUs } from '../wall-clock.js';
import type { SoundRenderer } from './sound.js';

/** The decoder configuration of the AAC track in `init`, read from its `esds`; null when there is none or it is unreadable. */
export function soundConfigOf(init: Uint8Array, tracks: Iterable<InitTrack>): AudioInit | null {
  const track = [...tracks].find((t) => t.kind === 'audio');
  const description = track ? audioSpecificConfig(init, track.trackId) : null;
  if (!description) return null;
  try {
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
