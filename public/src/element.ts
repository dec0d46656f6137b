/**
 * `<polycast-player src="/live/cam1">`: the player as an HTML element, for
 * pages that embed streams. Attributes: `src`, `transport`, `protocol`, `debug`, and
 * `noinput` (no keyboard/mouse forwarding; read once, when the element is
 * created, because input capture is wired up with the player).
 */
import { PolycastPlayer } from './player.js';

export class PolycastPlayerElement extends HTMLElement {
  static readonly observedAttributes = ['src', 'transport', 'protocol', 'debug'];

  /** Exists from construction, so its stats can be watched before playback starts. */
  readonly player: PolycastPlayer;

  constructor() {
    super();
    this.player = new PolycastPlayer(this, {
      debug: this.hasAttribute('debug'),
      input: !this.hasAttribute('noinput'),
      transport: this.getAttribute('transport'),
      protocol: this.getAttribute('protocol'),
    });
  }

  connectedCallback(): void {
    const src = this.getAttribute('src');
    if (src) this.player.load(src);
  }

  disconnectedCallback(): void {
    this.player.stop();
  }

  attributeChangedCallback(name: string, _old: string | null, value: string | null): void {
    switch (name) {
      case 'debug':
        this.player.debug = value !== null;
        break;
      case 'transport':
        this.player.setTransport(value || null);
        break;
      case 'protocol':
        this.player.setTransport(this.getAttribute('transport') || null, value || null);
        break;
      case 'src':
        if (!this.isConnected) break;
        if (value) this.player.load(value);
        else this.player.stop();
        break;
    }
  }
}

export function definePolycastPlayer(name = 'polycast-player'): void {
  if (!customElements.get(name)) customElements.define(name, PolycastPlayerElement);
}
