/** Reads `moof`/`mdat` pairs back into samples, independently of the muxer. */

import { child, childrenOf, i32, readBoxes, u32, u64, type Box } from './mp4.js';

export interface ParsedSample {
  readonly trackId: number;
  readonly sequence: number;
  readonly decodeTime: number;
  readonly duration: number;
  readonly compositionOffset: number;
  readonly flags: number;
  readonly data: Uint8Array;
}

export interface ParsedTraf {
  readonly trackId: number;
  readonly tfhdFlags: number;
  readonly tfdtVersion: number;
  readonly trunVersion: number;
  readonly trunFlags: number;
  readonly dataOffset: number;
}

function fullBoxHeader(b: Box): { version: number; flags: number } {
  return { version: b.body[0] as number, flags: u32(b.body, 0) & 0xffffff };
}

/** Every sample of every fragment in a byte stream (an init segment first is skipped). */
export function parseFragments(stream: Uint8Array): { samples: ParsedSample[]; trafs: ParsedTraf[]; sequences: number[] } {
  const top = readBoxes(stream);
  const samples: ParsedSample[] = [];
  const trafs: ParsedTraf[] = [];
  const sequences: number[] = [];
  for (let i = 0; i < top.length; i++) {
    const moof = top[i] as Box;
    if (moof.type !== 'moof') continue;
    const mdat = top[i + 1];
    if (mdat?.type !== 'mdat') throw new Error(`moof at ${moof.start} is not followed by an mdat`);
    const kids = childrenOf(moof);
    const sequence = u32(child(kids, 'mfhd').body, 4);
    sequences.push(sequence);
    for (const traf of kids.filter((b) => b.type === 'traf')) {
      const parts = childrenOf(traf);
      const tfhd = child(parts, 'tfhd');
      const tfdt = child(parts, 'tfdt');
      const trun = child(parts, 'trun');
      const tfhdHeader = fullBoxHeader(tfhd);
      if (tfhdHeader.flags !== 0x020000) throw new Error(`unexpected tfhd flags ${tfhdHeader.flags.toString(16)}`);
      const trackId = u32(tfhd.body, 4);
      const tfdtHeader = fullBoxHeader(tfdt);
      const baseDecode = tfdtHeader.version === 1 ? u64(tfdt.body, 4) : u32(tfdt.body, 4);
      const { version: trunVersion, flags: trunFlags } = fullBoxHeader(trun);
      const count = u32(trun.body, 4);
      let p = 8;
      if (!(trunFlags & 0x1)) throw new Error('trun without data offset');
      const dataOffset = i32(trun.body, p);
      p += 4;
      if (trunFlags & 0x4) p += 4;
      trafs.push({ trackId, tfhdFlags: tfhdHeader.flags, tfdtVersion: tfdtHeader.version, trunVersion, trunFlags, dataOffset });
      let decode = baseDecode;
      let at = moof.start + dataOffset;
      for (let s = 0; s < count; s++) {
        const duration = trunFlags & 0x100 ? u32(trun.body, (p += 4) - 4) : 0;
        const size = trunFlags & 0x200 ? u32(trun.body, (p += 4) - 4) : 0;
        const flags = trunFlags & 0x400 ? u32(trun.body, (p += 4) - 4) : 0;
        const compositionOffset = trunFlags & 0x800
          ? (trunVersion === 1 ? i32(trun.body, (p += 4) - 4) : u32(trun.body, (p += 4) - 4))
          : 0;
        const mdatPayloadStart = mdat.start + mdat.headerSize;
        if (at < mdatPayloadStart || at + size > mdat.start + mdat.size) {
          throw new Error(`sample data [${at}, ${at + size}) outside mdat payload [${mdatPayloadStart}, ${mdat.start + mdat.size})`);
        }
        samples.push({ trackId, sequence, decodeTime: decode, duration, compositionOffset, flags, data: stream.subarray(at, at + size) });
        decode += duration;
        at += size;
      }
    }
  }
  return { samples, trafs, sequences };
}
