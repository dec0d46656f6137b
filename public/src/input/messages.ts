/**
 * Input messages, viewer → server, byte for byte as in docs/protocols/ws-nal.md.
 * The server closes the socket on any malformed message, so every encoder
 * clamps instead of trusting its caller.
 */

export const INPUT_KEY = 0x10;
export const INPUT_BUTTON = 0x11;
export const INPUT_POSITION = 0x12;
export const INPUT_MOVEMENT = 0x13;
export const INPUT_WHEEL = 0x14;

export const MAX_KEY_CODE_BYTES = 32;
export const POSITION_MAX = 0xffff;

export const MODIFIER_SHIFT = 1 << 0;
export const MODIFIER_CTRL = 1 << 1;
export const MODIFIER_ALT = 1 << 2;
export const MODIFIER_META = 1 << 3;

export interface ModifierState {
  readonly shiftKey: boolean;
  readonly ctrlKey: boolean;
  readonly altKey: boolean;
  readonly metaKey: boolean;
}

export function modifierBits(state: ModifierState): number {
  return (
    (state.shiftKey ? MODIFIER_SHIFT : 0) |
    (state.ctrlKey ? MODIFIER_CTRL : 0) |
    (state.altKey ? MODIFIER_ALT : 0) |
    (state.metaKey ? MODIFIER_META : 0)
  );
}

const utf8 = new TextEncoder();

function clampInt(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.round(value)));
}

function clampI16(value: number): number {
  return clampInt(value, -0x8000, 0x7fff);
}

/**
 * Returns null for codes the protocol cannot carry (empty: the browser could
 * not identify the key; over 32 bytes: no real `KeyboardEvent.code` is that long).
 */
export function encodeKey(down: boolean, modifiers: number, code: string): Uint8Array | null {
  const codeBytes = utf8.encode(code);
  if (codeBytes.length < 1 || codeBytes.length > MAX_KEY_CODE_BYTES) return null;
  const out = new Uint8Array(4 + codeBytes.length);
  out[0] = INPUT_KEY;
  out[1] = down ? 1 : 0;
  out[2] = modifiers & 0x0f;
  out[3] = codeBytes.length;
  out.set(codeBytes, 4);
  return out;
}

/** Returns null for buttons beyond forward (4): the spec defines no others. */
export function encodeButton(down: boolean, button: number): Uint8Array | null {
  if (!Number.isInteger(button) || button < 0 || button > 4) return null;
  return Uint8Array.of(INPUT_BUTTON, down ? 1 : 0, button);
}

function encodeU16Pair(type: number, x: number, y: number): Uint8Array {
  const out = new Uint8Array(5);
  const view = new DataView(out.buffer);
  out[0] = type;
  view.setUint16(1, clampInt(x, 0, POSITION_MAX));
  view.setUint16(3, clampInt(y, 0, POSITION_MAX));
  return out;
}

function encodeI16Pair(type: number, dx: number, dy: number): Uint8Array {
  const out = new Uint8Array(5);
  const view = new DataView(out.buffer);
  out[0] = type;
  view.setInt16(1, clampI16(dx));
  view.setInt16(3, clampI16(dy));
  return out;
}

export function encodePosition(x: number, y: number): Uint8Array {
  return encodeU16Pair(INPUT_POSITION, x, y);
}

export function encodeMovement(dx: number, dy: number): Uint8Array {
  return encodeI16Pair(INPUT_MOVEMENT, dx, dy);
}

export function encodeWheel(dx: number, dy: number): Uint8Array {
  return encodeI16Pair(INPUT_WHEEL, dx, dy);
}
