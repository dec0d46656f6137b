/** The player's look, scoped by its shadow root so host pages and the player cannot restyle each other. */
export const PLAYER_CSS = `
:host {
  display: block;
  position: relative;
  overflow: hidden;
  background: #000;
  color: #e8eaed;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  -webkit-font-smoothing: antialiased;
}
:host([hidden]) { display: none; }
.stage { position: absolute; inset: 0; }
canvas {
  position: absolute; inset: 0; width: 100%; height: 100%;
  display: block; object-fit: contain; background: #000; outline: none;
  touch-action: none;
}
video {
  position: absolute; inset: 0; width: 100%; height: 100%;
  display: block; object-fit: contain; background: #000; pointer-events: none;
}
[data-surface="video"] canvas { opacity: 0; }
canvas:focus-visible { box-shadow: inset 0 0 0 2px rgb(138 180 248 / 0.55); }
.glass {
  background: rgb(24 26 30 / 0.72);
  border: 1px solid rgb(255 255 255 / 0.08);
  backdrop-filter: blur(10px);
  -webkit-backdrop-filter: blur(10px);
}
.overlay {
  position: absolute; top: 12px; left: 12px;
  min-width: 13em; max-width: calc(100% - 24px);
  padding: 6px 10px; border-radius: 10px;
  font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-variant-numeric: tabular-nums;
  cursor: pointer; user-select: none;
}
.overlay .summary { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.overlay dl { display: none; grid-template-columns: auto 1fr; gap: 1px 16px; margin: 6px 0 2px; }
.overlay.expanded dl { display: grid; }
.overlay.expanded .summary { display: none; }
.overlay dt { color: #9aa0a6; }
.overlay dd { margin: 0; text-align: right; }
.notice {
  position: absolute; inset: 0; display: grid; place-content: center; justify-items: center;
  gap: 6px; padding: 24px; text-align: center; pointer-events: none;
  background: radial-gradient(ellipse at center, rgb(0 0 0 / 0.35), rgb(0 0 0 / 0.6));
  transition: opacity 200ms ease;
}
.notice[hidden] { display: grid; opacity: 0; }
.notice .title { font-size: 20px; font-weight: 600; letter-spacing: 0.01em; }
.notice .detail { color: #bdc1c6; max-width: 40em; }
.notice .detail:empty { display: none; }
.spinner {
  width: 28px; height: 28px; margin-bottom: 6px; border-radius: 50%;
  border: 3px solid rgb(255 255 255 / 0.15); border-top-color: #8ab4f8;
  animation: spin 900ms linear infinite;
}
[data-state="unsupported"] .spinner, [data-state="stopped"] .spinner, [data-state="idle"] .spinner { display: none; }
.bar {
  position: absolute; left: 0; right: 0; bottom: 0;
  display: flex; align-items: center; gap: 8px; padding: 28px 12px 12px;
  background: linear-gradient(transparent, rgb(0 0 0 / 0.5));
  pointer-events: none;
}
.bar > * { pointer-events: auto; }
.spacer { flex: 1; pointer-events: none; }
.status { display: inline-flex; align-items: center; gap: 8px; padding: 6px 12px; border-radius: 999px; white-space: nowrap; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: #9aa0a6; flex: none; }
[data-state="playing"] .dot { background: #34c759; box-shadow: 0 0 0 3px rgb(52 199 89 / 0.25); }
[data-state="connecting"] .dot, [data-state="reconnecting"] .dot { background: #fbbc04; animation: pulse 1s ease-in-out infinite; }
[data-state="waiting"] .dot { background: #8ab4f8; animation: pulse 1.6s ease-in-out infinite; }
[data-state="unsupported"] .dot, [data-state="stopped"] .dot { background: #f28b82; }
.degrade {
  display: inline-flex; align-items: center; gap: 8px; min-width: 0; padding: 3px 3px 3px 12px; border-radius: 999px;
  color: #fde293; border-color: rgb(251 188 4 / 0.45);
}
.degrade[hidden] { display: none; }
.degrade .dot { background: #fbbc04; box-shadow: 0 0 0 3px rgb(251 188 4 / 0.25); animation: none; }
.degrade .text { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.secure-hint {
  display: inline-block; min-width: 0; padding: 6px 12px; border-radius: 999px; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; color: #8ab4f8; text-decoration: none; font-size: 13px;
}
.secure-hint[hidden] { display: none; }
.secure-hint .short { display: none; }
.secure-hint:hover { text-decoration: underline; }
.secure-hint:focus-visible { outline: 2px solid #8ab4f8; outline-offset: 2px; }
.degrade button { padding: 3px 10px; border: 1px solid rgb(251 188 4 / 0.45); background: rgb(251 188 4 / 0.15); white-space: nowrap; }
button {
  appearance: none; display: inline-flex; align-items: center; gap: 6px;
  padding: 6px 12px; border-radius: 999px; color: inherit; font: inherit; cursor: pointer;
}
button:hover { background: rgb(60 64 67 / 0.85); }
button:focus-visible { outline: 2px solid #8ab4f8; outline-offset: 2px; }
button svg { width: 16px; height: 16px; fill: currentColor; flex: none; }
button.icon-only { padding: 6px 8px; }
.mute[aria-pressed="true"] { background: rgb(138 180 248 / 0.9); color: #111; border-color: transparent; }
.mute[aria-pressed="true"]:hover { background: rgb(174 203 250); }
@keyframes spin { to { transform: rotate(360deg); } }
@keyframes pulse { 50% { opacity: 0.35; } }
@media (max-width: 480px) {
  .mute .label { display: none; }
  .degrade .text { display: none; }
  .secure-hint .long { display: none; }
  .secure-hint .short { display: inline; }
}
@media (prefers-reduced-motion: reduce) {
  .spinner, .dot { animation: none !important; }
}
`;
