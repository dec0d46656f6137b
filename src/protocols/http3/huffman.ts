/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B), which QPACK reuses for
 * string literals (RFC 9204 §4.1.2).
 *
 * The code in Appendix B is canonical: within one code length, codes grow by
 * one in symbol order, and each longer length continues from the shorter
 * one's last code shifted left. So the bit lengths of the 257 symbols (the
 * `len` column of the RFC table) fully determine every code, and only those
 * are written down here. The unit tests check the derived codes against the
 * RFC's hex column and its C.4/C.6 examples.
 */
import { QpackError } from './errors.js';

/** Code length in bits of symbols 0..255 and EOS (256), transcribed from RFC 7541 Appendix B. */
// prettier-ignore
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //         ' ' .. '/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //             '0' .. '?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //               '@' .. 'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //            'P' .. '_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //               '`' .. 'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //           'p' .. 127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30, //                                                              EOS
];

const EOS = 256;

/** Code of each symbol, right-aligned in `CODES[sym]` with `CODE_LENGTHS[sym]` significant bits. */
export const HUFFMAN_CODES: readonly number[] = (() => {
  if (CODE_LENGTHS.length !== 257) throw new Error('Huffman table must have 257 lengths');
  const order = CODE_LENGTHS.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  const codes = new Array<number>(257).fill(0);
  let code = 0;
  let prevLen = order[0]!.len;
  for (const { len, sym } of order) {
    code *= 2 ** (len - prevLen);
    prevLen = len;
    codes[sym] = code;
    code += 1;
  }
  return codes;
})();

export const HUFFMAN_CODE_LENGTHS: readonly number[] = CODE_LENGTHS;

/**
 * Decoding tree as flat arrays: node `n` has children `child[2n]` (bit 0) and
 * `child[2n+1]` (bit 1); a negative child `-(sym + 1)` is a leaf.
 */
const TREE: Int32Array = (() => {
  const child = new Int32Array(2 * 512).fill(0);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const len = CODE_LENGTHS[sym]!;
    const code = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = 2 * node + bit;
      if (i === 0) {
        child[slot] = -(sym + 1);
      } else {
        if (child[slot] === 0) child[slot] = nodes++;
        node = child[slot]!;
      }
    }
  }
  return child;
})();

/** Length in bytes of the Huffman encoding of `data`. */
export function huffmanEncodedLength(data: Uint8Array): number {
  let bits = 0;
  for (const b of data) bits += CODE_LENGTHS[b]!;
  return Math.ceil(bits / 8);
}

export function huffmanEncode(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(huffmanEncodedLength(data));
  let acc = 0; // pending bits, right-aligned
  let accBits = 0;
  let pos = 0;
  for (const b of data) {
    const len = CODE_LENGTHS[b]!;
    const code = HUFFMAN_CODES[b]!;
    // Feed the code in pieces of at most 8 bits so `acc` stays within 15 bits.
    for (let left = len; left > 0; ) {
      const take = Math.min(8, left);
      left -= take;
      acc = (acc << take) | (Math.floor(code / 2 ** left) & ((1 << take) - 1));
      accBits += take;
      while (accBits >= 8) {
        accBits -= 8;
        out[pos++] = (acc >>> accBits) & 0xff;
      }
      acc &= (1 << accBits) - 1;
    }
  }
  if (accBits > 0) {
    // Pad with the most significant bits of EOS, which are all ones (§5.2).
    out[pos++] = ((acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1)) & 0xff;
  }
  return out;
}

/**
 * Decodes a Huffman string. Rejects, as §5.2 requires, an EOS symbol in the
 * data, padding longer than 7 bits, and padding that is not a prefix of EOS.
 */
export function huffmanDecode(data: Uint8Array, maxLength = Infinity): Uint8Array {
  // Shortest code is 5 bits, so the output is at most 8/5 of the input.
  const out = new Uint8Array(Math.ceil((data.length * 8) / 5));
  let pos = 0;
  let node = 0;
  let bitsSinceSymbol = 0;
  let allOnes = true;
  for (const byte of data) {
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >>> i) & 1;
      const next = TREE[2 * node + bit]!;
      bitsSinceSymbol++;
      if (bit === 0) allOnes = false;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) throw new QpackError('Huffman string contains EOS');
        if (pos >= maxLength) throw new QpackError(`Huffman string longer than ${maxLength} bytes`);
        out[pos++] = sym;
        node = 0;
        bitsSinceSymbol = 0;
        allOnes = true;
      } else if (next === 0) {
        throw new QpackError('invalid Huffman code');
      } else {
        node = next;
      }
    }
  }
  if (bitsSinceSymbol > 7) throw new QpackError('Huffman padding longer than 7 bits');
  if (!allOnes) throw new QpackError('Huffman padding is not a prefix of EOS');
  return out.slice(0, pos);
}
