/**
 * Bit-level reading for codec headers (H.264 SPS, AAC AudioSpecificConfig).
 *
 * Every read is bounds-checked and throws a `BitstreamError` instead of
 * returning garbage: these headers come from publishers we do not control,
 * and a silently wrong width is worse than a rejected stream.
 */

export class BitstreamError extends Error {
  override readonly name = 'BitstreamError';
}

/**
 * Turn a NAL unit payload into its RBSP by dropping each emulation-prevention
 * byte (the 0x03 of a 0x00 0x00 0x03 sequence, H.264 §7.4.1).
 *
 * Returns the input itself when there is nothing to strip, which is the usual
 * case for the short headers we parse, so the common path allocates nothing.
 */
export function removeEmulationPrevention(nal: Uint8Array): Uint8Array {
  const first = findEmulationPrevention(nal, 0);
  if (first < 0) return nal;
  const out = new Uint8Array(nal.length - 1);
  let o = 0;
  let zeros = 0;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 0x03) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}

function findEmulationPrevention(data: Uint8Array, from: number): number {
  for (let i = from + 2; i < data.length; i++) {
    if (data[i] === 0x03 && data[i - 1] === 0 && data[i - 2] === 0) return i;
  }
  return -1;
}

/** MSB-first reader over a byte array (already RBSP: see `removeEmulationPrevention`). */
export class BitReader {
  private readonly data: Uint8Array;
  private pos = 0; // in bits

  constructor(data: Uint8Array) {
    this.data = data;
  }

  /** Bits consumed so far. */
  get position(): number {
    return this.pos;
  }

  get bitsLeft(): number {
    return this.data.length * 8 - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.bitsLeft) {
      throw new BitstreamError(
        `bitstream truncated reading ${what}: need ${n} bit(s) at bit ${this.pos}, only ${this.bitsLeft} left`,
      );
    }
  }

  readBit(): number {
    this.need(1, 'bit');
    const byte = this.data[this.pos >>> 3]!;
    const bit = (byte >>> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return bit;
  }

  readFlag(): boolean {
    return this.readBit() === 1;
  }

  /**
   * Read an unsigned value of up to 32 bits. Uses arithmetic instead of `<<`
   * so 32-bit values (e.g. VUI time_scale) do not come back negative.
   */
  readBits(n: number): number {
    if (!Number.isInteger(n) || n < 0 || n > 32) throw new RangeError(`readBits: cannot read ${n} bits at once`);
    this.need(n, `${n}-bit field`);
    let value = 0;
    let remaining = n;
    while (remaining > 0) {
      const bitOffset = this.pos & 7;
      const take = Math.min(8 - bitOffset, remaining);
      const byte = this.data[this.pos >>> 3]!;
      const chunk = (byte >>> (8 - bitOffset - take)) & ((1 << take) - 1);
      value = value * (1 << take) + chunk;
      this.pos += take;
      remaining -= take;
    }
    return value;
  }

  skipBits(n: number): void {
    this.need(n, `${n} skipped bit(s)`);
    this.pos += n;
  }

  /** ue(v), H.264 §9.1. Values need at most 32 bits of suffix; longer prefixes mean a corrupt stream. */
  readUe(): number {
    let leadingZeros = 0;
    while (this.readBit() === 0) {
      leadingZeros++;
      if (leadingZeros > 31) throw new BitstreamError(`invalid Exp-Golomb code at bit ${this.pos}: more than 31 leading zeros`);
    }
    if (leadingZeros === 0) return 0;
    return 2 ** leadingZeros - 1 + this.readBits(leadingZeros);
  }

  /** se(v), H.264 §9.1.1: 1, 2, 3, 4 map to +1, −1, +2, −2. */
  readSe(): number {
    const k = this.readUe();
    return k % 2 === 1 ? (k + 1) / 2 : k === 0 ? 0 : -(k / 2);
  }
}
