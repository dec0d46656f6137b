/** The player's DOM, built once inside its shadow root. */
import { h } from './dom.js';
import { icon } from './icons.js';
import { PLAYER_CSS } from './styles.js';

export interface PlayerView {
  readonly stage: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  /** MSE transports play here, under the canvas; the canvas goes transparent (still taking input) while they do. */
  readonly video: HTMLVideoElement;
  readonly overlay: HTMLDivElement;
  readonly notice: HTMLDivElement;
  readonly noticeTitle: HTMLDivElement;
  readonly noticeDetail: HTMLDivElement;
  readonly statusText: HTMLSpanElement;
  /** The amber "degraded" indicator and its way back. */
  readonly degrade: HTMLDivElement;
  readonly degradeText: HTMLSpanElement;
  readonly retryButton: HTMLButtonElement;
  /** "Low latency needs HTTPS", linking to the https:// page; hidden on secure pages. */
  readonly secureHint: HTMLAnchorElement;
  readonly muteButton: HTMLButtonElement;
  readonly lockButton: HTMLButtonElement;
  readonly fullscreenButton: HTMLButtonElement;
}

export function buildView(root: ShadowRoot): PlayerView {
  const video = h('video', { muted: '', playsinline: '', 'aria-hidden': 'true' });
  video.muted = true;
  const canvas = h('canvas', { tabindex: '0', 'aria-label': 'Live video. Click to send keyboard and mouse input.' });
  const overlay = h('div', { class: 'overlay glass', role: 'button', tabindex: '0', 'aria-label': 'Playback statistics' });
  const noticeTitle = h('div', { class: 'title' });
  const noticeDetail = h('div', { class: 'detail' });
  const notice = h('div', { class: 'notice' }, h('div', { class: 'spinner', 'aria-hidden': 'true' }), noticeTitle, noticeDetail);
  const statusText = h('span', { class: 'text' });
  const status = h('div', { class: 'status glass', role: 'status', 'aria-live': 'polite' }, h('span', { class: 'dot' }), statusText);
  const degradeText = h('span', { class: 'text' });
  const retryButton = h('button', { type: 'button', class: 'retry', title: 'Try full video again' }, 'Retry video');
  const degrade = h('div', { class: 'degrade glass', role: 'status' }, h('span', { class: 'dot' }), degradeText, retryButton);
  degrade.hidden = true;
  const secureHint = h('a', { class: 'secure-hint glass' });
  secureHint.hidden = true;
  const muteButton = h('button', { type: 'button', class: 'mute glass' });
  const lockButton = h('button', { type: 'button', class: 'glass icon-only', title: 'Capture the mouse (Esc releases it)', 'aria-label': 'Capture the mouse' }, icon('mouse'));
  const fullscreenButton = h('button', { type: 'button', class: 'glass icon-only', title: 'Full screen', 'aria-label': 'Full screen' }, icon('fullscreen'));
  const bar = h('div', { class: 'bar' }, status, degrade, secureHint, h('div', { class: 'spacer' }), muteButton, lockButton, fullscreenButton);
  const stage = h('div', { class: 'stage', 'data-state': 'idle', 'data-surface': 'canvas' }, video, canvas, notice, overlay, bar);
  root.replaceChildren(h('style', {}, PLAYER_CSS), stage);
  return {
    stage,
    canvas,
    video,
    overlay,
    notice,
    noticeTitle,
    noticeDetail,
    statusText,
    degrade,
    degradeText,
    retryButton,
    secureHint,
    muteButton,
    lockButton,
    fullscreenButton,
  };
}

export function renderMuteButton(button: HTMLButtonElement, muted: boolean): void {
  // Highlighted while muted: sound is off only because the browser requires a click first.
  button.setAttribute('aria-pressed', String(muted));
  button.title = muted ? 'Turn sound on' : 'Turn sound off';
  button.replaceChildren(icon(muted ? 'volumeOff' : 'volumeUp'), h('span', { class: 'label' }, muted ? 'Unmute' : 'Mute'));
}
