/**
 * The player's sound output. Browsers only let an AudioContext start from a
 * user gesture, so playback starts muted and the context is created by the
 * first unmute click; it then survives reconnects and transport changes.
 */
export class AudioOutput {
  private context: AudioContext | null = null;
  private gain: GainNode | null = null;
  private isMuted = true;

  get muted(): boolean {
    return this.isMuted;
  }

  /** The graph to play into, or null while muted or while the browser keeps the context suspended. */
  get sink(): { readonly context: AudioContext; readonly node: AudioNode } | null {
    if (this.isMuted || !this.context || !this.gain || this.context.state !== 'running') return null;
    return { context: this.context, node: this.gain };
  }

  /** Call from a click or key handler the first time. */
  unmute(): Promise<void> {
    if (!this.context) {
      this.context = new AudioContext({ latencyHint: 'interactive' });
      this.gain = this.context.createGain();
      this.gain.connect(this.context.destination);
    }
    this.isMuted = false;
    this.gain!.gain.value = 1;
    return this.context.resume();
  }

  /** Silences at once, including buffers already scheduled. */
  mute(): void {
    this.isMuted = true;
    if (this.gain) this.gain.gain.value = 0;
  }

  close(): void {
    this.mute();
    void this.context?.close();
    this.context = null;
    this.gain = null;
  }
}
