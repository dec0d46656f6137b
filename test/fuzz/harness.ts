/**
 * Seeded randomness and byte mutators shared by every fuzz target.
 *
 * Each case draws from its own generator, derived from (seed, target, case
 * index), so a finding is reproduced by its index alone, whatever ran
 * concurrently with it and however many cases came before.
 */

/** xoshiro128** (Blackman & Vigna): small, fast and good enough to pick mutations. */
export class Rng {
  private s: Uint32Array;

  constructor(seed: number) {
    // splitmix32 spreads a small seed over the whole state; an all-zero state would stick.
    this.s = new Uint32Array(4);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  u32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a of a name, to give each target its own stream of cases under one seed. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function caseRng(seed: number, target: string, index: number): Rng {
  return new Rng((Math.imul(seed >>> 0, 0x9e3779b1) ^ nameHash(target) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0);
}

/**
 * Integers at the edges where parsers go wrong: sign bits, the largest value
 * of each width, QUIC varint and VLU limits.
 */
export const BOUNDARY_INTEGERS: readonly bigint[] = [
  0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x3fffn, 0x7fffn, 0xffffn, 0x10000n, 0xffffffn,
  0x3fffffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, (1n << 53n) - 1n, (1n << 62n) - 1n, (1n << 63n) - 1n, (1n << 64n) - 1n,
];

function boundary(rng: Rng): bigint {
  return rng.pick(BOUNDARY_INTEGERS);
}

function writeInt(out: Uint8Array, at: number, width: number, value: bigint, littleEndian: boolean): void {
  for (let i = 0; i < width && at + i < out.length; i++) {
    const shift = BigInt(8 * (littleEndian ? i : width - 1 - i));
    out[at + i] = Number((value >> shift) & 0xffn);
  }
}

/** A QUIC varint (RFC 9000 §16) of `value` clamped to 2^62−1, in the width its prefix says. */
export function quicVarint(value: bigint): Uint8Array {
  const v = value > (1n << 62n) - 1n ? (1n << 62n) - 1n : value;
  const width = v < 64n ? 1 : v < 16384n ? 2 : v < 1073741824n ? 4 : 8;
  const out = new Uint8Array(width);
  writeInt(out, 0, width, v, false);
  out[0]! |= width === 1 ? 0 : width === 2 ? 0x40 : width === 4 ? 0x80 : 0xc0;
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export type Mutator = (rng: Rng, input: Uint8Array, corpus: readonly Uint8Array[]) => Uint8Array;

const bitFlip: Mutator = (rng, input) => {
  if (input.length === 0) return rng.bytes(1);
  const out = Uint8Array.from(input);
  const flips = 1 + rng.int(4);
  for (let i = 0; i < flips; i++) out[rng.int(out.length)]! ^= 1 << rng.int(8);
  return out;
};

const byteSet: Mutator = (rng, input) => {
  if (input.length === 0) return rng.bytes(1);
  const out = Uint8Array.from(input);
  out[rng.int(out.length)] = rng.pick([0x00, 0x01, 0x7f, 0x80, 0xff, rng.int(256)]);
  return out;
};

const insertBytes: Mutator = (rng, input) => {
  const at = rng.int(input.length + 1);
  const add = rng.chance(0.5) ? rng.bytes(1 + rng.int(8)) : new Uint8Array(1 + rng.int(64)).fill(rng.int(256));
  return concatBytes([input.subarray(0, at), add, input.subarray(at)]);
};

const deleteBytes: Mutator = (rng, input) => {
  if (input.length < 2) return input;
  const at = rng.int(input.length);
  const n = 1 + rng.int(Math.min(16, input.length - at));
  return concatBytes([input.subarray(0, at), input.subarray(at + n)]);
};

const duplicateBytes: Mutator = (rng, input) => {
  if (input.length === 0) return input;
  const at = rng.int(input.length);
  const n = 1 + rng.int(Math.min(64, input.length - at));
  const times = 1 + rng.int(4);
  const slice = input.subarray(at, at + n);
  return concatBytes([input.subarray(0, at + n), ...Array.from({ length: times }, () => slice), input.subarray(at + n)]);
};

const splice: Mutator = (rng, input, corpus) => {
  const other = rng.pick(corpus);
  const a = rng.int(input.length + 1);
  const b = rng.int(other.length + 1);
  return concatBytes([input.subarray(0, a), other.subarray(b)]);
};

const boundaryInteger: Mutator = (rng, input) => {
  const width = rng.pick([1, 2, 3, 4, 8]);
  if (input.length === 0) return quicVarint(boundary(rng));
  const out = Uint8Array.from(input);
  writeInt(out, rng.int(out.length), width, boundary(rng), rng.chance(0.3));
  return out;
};

const boundaryVarint: Mutator = (rng, input) => {
  const at = rng.int(input.length + 1);
  // Replace one byte (often a varint's first byte) with a full varint at a limit.
  return concatBytes([input.subarray(0, at), quicVarint(boundary(rng)), input.subarray(Math.min(input.length, at + 1))]);
};

const truncate: Mutator = (rng, input) => input.subarray(0, rng.int(input.length + 1));

/**
 * Length-field inflation: a length is usually a small number followed or
 * preceded by the bytes it counts; make one such small byte, u16 or u24
 * claim far more than is there.
 */
const inflateLength: Mutator = (rng, input) => {
  if (input.length === 0) return input;
  const out = Uint8Array.from(input);
  const candidates: number[] = [];
  for (let i = 0; i < out.length; i++) if (out[i]! > 0 && out[i]! < 0x40) candidates.push(i);
  const at = candidates.length > 0 ? rng.pick(candidates) : rng.int(out.length);
  const width = rng.pick([1, 2, 3, 4]);
  const start = Math.max(0, at - width + 1);
  writeInt(out, start, width, rng.pick([0xffn, 0xffffn, 0xffffffn, 0x7fffffffn, 0xffffffffn]), false);
  return out;
};

export const MUTATORS: ReadonlyArray<readonly [string, Mutator]> = [
  ['bit-flip', bitFlip],
  ['byte-set', byteSet],
  ['insert', insertBytes],
  ['delete', deleteBytes],
  ['duplicate', duplicateBytes],
  ['splice', splice],
  ['boundary-int', boundaryInteger],
  ['boundary-varint', boundaryVarint],
  ['truncate', truncate],
  ['inflate-length', inflateLength],
];

/** 1–4 stacked mutations of `input`. */
export function mutate(rng: Rng, input: Uint8Array, corpus: readonly Uint8Array[] = [input]): Uint8Array {
  let out = input;
  const n = 1 + rng.int(rng.chance(0.7) ? 2 : 4);
  for (let i = 0; i < n; i++) out = rng.pick(MUTATORS)[1](rng, out, corpus);
  return out;
}

/**
 * One fuzz input: usually a mutated capture, sometimes a capture as is (so a
 * session gets deep enough for later messages to matter), sometimes noise.
 */
export function fuzzInput(rng: Rng, corpus: readonly Uint8Array[], maxRandom = 256): Uint8Array {
  const roll = rng.int(100);
  if (roll < 10 || corpus.length === 0) return rng.bytes(rng.int(maxRandom + 1));
  if (roll < 25) return rng.pick(corpus);
  return mutate(rng, rng.pick(corpus), corpus);
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export function hex(bytes: Uint8Array, max = 4096): string {
  return Buffer.from(bytes.subarray(0, max)).toString('hex');
}
