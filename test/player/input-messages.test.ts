import { describe, expect, it } from 'vitest';
import {
  encodeButton,
  encodeKey,
  encodeMovement,
  encodePosition,
  encodeWheel,
  modifierBits,
} from '../../public/src/input/messages.js';

const hex = (bytes: Uint8Array | null) => (bytes ? Buffer.from(bytes).toString('hex') : null);

describe('input message encoding', () => {
  it('encodes a key: type, down, modifiers, length, UTF-8 code', () => {
    expect(hex(encodeKey(true, 0, 'KeyA'))).toBe('10' + '01' + '00' + '04' + Buffer.from('KeyA').toString('hex'));
    expect(hex(encodeKey(false, 0b0101, 'Enter'))).toBe('10' + '00' + '05' + '05' + Buffer.from('Enter').toString('hex'));
  });

  it('maps modifiers to bit 0 Shift, 1 Ctrl, 2 Alt, 3 Meta', () => {
    expect(modifierBits({ shiftKey: true, ctrlKey: false, altKey: false, metaKey: false })).toBe(1);
    expect(modifierBits({ shiftKey: false, ctrlKey: true, altKey: false, metaKey: false })).toBe(2);
    expect(modifierBits({ shiftKey: false, ctrlKey: false, altKey: true, metaKey: false })).toBe(4);
    expect(modifierBits({ shiftKey: false, ctrlKey: false, altKey: false, metaKey: true })).toBe(8);
    expect(modifierBits({ shiftKey: true, ctrlKey: true, altKey: true, metaKey: true })).toBe(15);
  });

  it('refuses key codes the protocol cannot carry', () => {
    expect(encodeKey(true, 0, '')).toBeNull();
    expect(encodeKey(true, 0, 'x'.repeat(33))).toBeNull();
    expect(encodeKey(true, 0, 'x'.repeat(32))!.length).toBe(36);
  });

  it('encodes mouse buttons 0–4 and refuses others', () => {
    expect(hex(encodeButton(true, 0))).toBe('110100');
    expect(hex(encodeButton(false, 2))).toBe('110002');
    expect(hex(encodeButton(true, 4))).toBe('110104');
    expect(encodeButton(true, 5)).toBeNull();
    expect(encodeButton(true, -1)).toBeNull();
  });

  it('encodes absolute positions as big-endian u16, clamped to 0–65535', () => {
    expect(hex(encodePosition(0, 65535))).toBe('120000ffff');
    expect(hex(encodePosition(0x1234, 0xabcd))).toBe('121234abcd');
    expect(hex(encodePosition(-5, 70000))).toBe('120000ffff');
  });

  it('encodes movement and wheel as big-endian i16, clamped', () => {
    expect(hex(encodeMovement(1, -1))).toBe('130001ffff');
    expect(hex(encodeMovement(-32768, 32767))).toBe('1380007fff');
    expect(hex(encodeMovement(-40000, 40000))).toBe('1380007fff');
    expect(hex(encodeWheel(0, 120))).toBe('1400000078');
    expect(hex(encodeWheel(-3.4, 0))).toBe('14fffd0000');
  });

  it('gives every fixed-size message the length the server expects', () => {
    expect(encodeButton(true, 1)!.length).toBe(3);
    expect(encodePosition(1, 1).length).toBe(5);
    expect(encodeMovement(1, 1).length).toBe(5);
    expect(encodeWheel(1, 1).length).toBe(5);
  });
});
