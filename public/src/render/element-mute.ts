/**
 * Keeps a media element's `muted` equal to the player's mute button, and
 * puts it back when the engine changes it on its own: WebKit unmutes a muted
 * element when its playback rate changes (hls.js and other rate steering do
 * that), so a viewer who never pressed unmute would hear the stream.
 */
import type { AudioOutput } from './audio-output.js';

export function bindElementMute(element: HTMLMediaElement, output: Pick<AudioOutput, 'muted' | 'subscribe'>): () => void {
  element.muted = output.muted;
  const enforce = (): void => {
    if (element.muted !== output.muted) element.muted = output.muted;
  };
  const unsubscribe = output.subscribe((muted) => (element.muted = muted));
  element.addEventListener('volumechange', enforce);
  element.addEventListener('ratechange', enforce);
  element.addEventListener('playing', enforce);
  return () => {
    unsubscribe();
    element.removeEventListener('volumechange', enforce);
    element.removeEventListener('ratechange', enforce);
    element.removeEventListener('playing', enforce);
  };
}
