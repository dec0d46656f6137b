/**
 * The player's sound output. Browsers only let an AudioContext start from a
 * user gesture, so playback starts muted and the context is created by the
 * first unmute click; it then survives reconnects and transport changes.
 */
export class AudioOutput {
  private context: AudioContext | null = null;
  private gain: GainNode | null = null;
  private isMuted = true;
  private readonly listeners = new Set<(muted: boolean) => void>();

  get muted(): boolean {
    return this.isMuted;
  }

  /** The graph to play into, or null while muted or while the browser keeps the context suspended. */
  get sink(): { readonly context: AudioContext; readonly node: AudioNode } | null {
    if (this.isMuted || !this.context || !this.gain || this.context.state !== 'running') return null;
    return { context: this.context, node: this.gain };
  }

  /**
   * Called synchronously on every mute and unmute, so a media element that
   * plays the sound itself (MSE) can follow inside the same user gesture:
   * iOS refuses to unmute a video outside one.
   */
  subscribe(listener: (muted: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
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
    this.notify();
    return this.context.resume();
  }

  /** Silences at once, including buffers already scheduled. */
  mute(): void {
    const changed = !this.isMuted;
    this.isMuted = true;
    if (this.gain) this.gain.gain.value = 0;
    if (changed) this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener(this.isMuted);
  }

  close(): void {
    this.mute();
    void this.context?.close();
    this.context = null;
    this.gain = null;
  }
}
