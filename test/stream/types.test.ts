import { describe, expect, it } from 'vitest';
import { serializeOnce, type Frame } from '../../src/stream/types.js';

describe('serializeOnce', () => {
  it('serializes a frame once per key, whatever the number of readers', () => {
    const frame: Frame = { kind: 'video', dts: 0, pts: 0, key: true, data: new Uint8Array([1]), receivedAt: 0 };
    let calls = 0;
    const make = () => { calls++; return new Uint8Array([calls]); };
    const a = serializeOnce(frame, 'x', make);
    const b = serializeOnce(frame, 'x', make);
    const c = serializeOnce(frame, 'y', make);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(calls).toBe(2);
  });
});
