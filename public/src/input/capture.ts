/**
 * Keyboard and mouse on the video canvas, turned into input events for the
 * publisher. Only while the canvas has focus (a click gives it focus): a
 * viewer merely hovering over the page must not drive the remote machine.
 */
import { encodeButton, encodeKey, modifierBits } from './messages.js';
import { containRect, normalisedPosition } from './picture-rect.js';
import type { InputEvent } from './throttle.js';

const WHEEL_LINE_PX = 16;

/** `MouseEvent.buttons` bit of each `MouseEvent.button` (middle and right are swapped between the two). */
const BUTTON_BITS = [1, 4, 2, 8, 16];

export class InputCapture {
  private readonly pressedKeys = new Map<string, number>();
  private readonly pressedButtons = new Set<number>();
  private readonly abort = new AbortController();

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly pictureSize: () => { width: number; height: number } | null,
    private readonly emit: (event: InputEvent) => void,
  ) {
    const options = { signal: this.abort.signal };
    canvas.addEventListener('keydown', (e) => this.key(e, true), options);
    canvas.addEventListener('keyup', (e) => this.key(e, false), options);
    canvas.addEventListener('pointerdown', (e) => this.button(e, true), options);
    canvas.addEventListener('pointerup', (e) => this.button(e, false), options);
    canvas.addEventListener('pointermove', (e) => this.move(e), options);
    canvas.addEventListener('wheel', (e) => this.wheel(e), { ...options, passive: false });
    canvas.addEventListener('contextmenu', (e) => e.preventDefault(), options);
    canvas.addEventListener('blur', () => this.releaseAll(), options);
  }

  get pointerLocked(): boolean {
    return (this.canvas.getRootNode() as Document | ShadowRoot).pointerLockElement === this.canvas;
  }

  /** Relative movement for games and 3D views; the browser releases the lock on Escape. */
  lockPointer(): void {
    this.canvas.focus();
    void Promise.resolve(this.canvas.requestPointerLock()).catch(() => undefined);
  }

  dispose(): void {
    this.releaseAll();
    this.abort.abort();
  }

  private get focused(): boolean {
    return (this.canvas.getRootNode() as Document | ShadowRoot).activeElement === this.canvas;
  }

  private key(e: KeyboardEvent, down: boolean): void {
    if (!this.focused) return;
    // Keys go to the remote machine, not to the browser's shortcuts.
    e.preventDefault();
    // The remote OS repeats a held key by itself.
    if (e.repeat) return;
    const modifiers = modifierBits(e);
    if (down) this.pressedKeys.set(e.code, modifiers);
    else if (!this.pressedKeys.delete(e.code)) return;
    const bytes = encodeKey(down, modifiers, e.code);
    if (bytes) this.emit({ kind: 'discrete', bytes });
  }

  private button(e: PointerEvent, down: boolean): void {
    if (down) {
      this.canvas.focus();
      this.canvas.setPointerCapture(e.pointerId);
      this.position(e);
      this.pressedButtons.add(e.button);
    } else if (!this.pressedButtons.delete(e.button)) {
      return;
    }
    e.preventDefault();
    const bytes = encodeButton(down, e.button);
    if (bytes) this.emit({ kind: 'discrete', bytes });
  }

  private move(e: PointerEvent): void {
    if (!this.focused) return;
    if (this.pointerLocked) {
      if (e.movementX !== 0 || e.movementY !== 0) this.emit({ kind: 'movement', dx: e.movementX, dy: e.movementY });
    } else {
      this.position(e);
    }
    // A second button pressed or released while another is held arrives as a move, not as pointerdown/up.
    if (e.button >= 0) this.chord(e);
  }

  private chord(e: PointerEvent): void {
    const bit = BUTTON_BITS[e.button];
    if (bit === undefined) return;
    const down = (e.buttons & bit) !== 0;
    if (down === this.pressedButtons.has(e.button)) return;
    if (down) this.pressedButtons.add(e.button);
    else this.pressedButtons.delete(e.button);
    const bytes = encodeButton(down, e.button);
    if (bytes) this.emit({ kind: 'discrete', bytes });
  }

  private position(e: MouseEvent): void {
    if (this.pointerLocked) return;
    const picture = this.pictureSize();
    if (!picture) return;
    const box = this.canvas.getBoundingClientRect();
    const painted = containRect(box.width, box.height, picture.width, picture.height);
    const point = normalisedPosition(e.clientX - box.left, e.clientY - box.top, painted);
    if (point) this.emit({ kind: 'position', x: point.x, y: point.y });
  }

  private wheel(e: WheelEvent): void {
    if (!this.focused) return;
    e.preventDefault();
    const scale =
      e.deltaMode === WheelEvent.DOM_DELTA_LINE ? WHEEL_LINE_PX : e.deltaMode === WheelEvent.DOM_DELTA_PAGE ? this.canvas.clientHeight : 1;
    const dx = Math.round(e.deltaX * scale);
    const dy = Math.round(e.deltaY * scale);
    if (dx !== 0 || dy !== 0) this.emit({ kind: 'wheel', dx, dy });
  }

  /** Losing focus with a key or button held would leave it stuck down on the remote side. */
  private releaseAll(): void {
    for (const [code, modifiers] of this.pressedKeys) {
      const bytes = encodeKey(false, modifiers, code);
      if (bytes) this.emit({ kind: 'discrete', bytes });
    }
    this.pressedKeys.clear();
    for (const button of this.pressedButtons) {
      const bytes = encodeButton(false, button);
      if (bytes) this.emit({ kind: 'discrete', bytes });
    }
    this.pressedButtons.clear();
  }
}
