/**
 * Opus in MPEG-TS (the mapping of ETSI TS 102 366's style published for Opus:
 * stream type 0x06, registration descriptor `Opus`): each Opus packet in a
 * PES is preceded by a control header of an 11-bit prefix 0x3FF, trim and
 * extension flags, and the packet size as a run of 0xFF bytes plus a last one.
 */

export const OPUS_REGISTRATION = 'Opus';

export function splitOpusPackets(data: Uint8Array): { packets: Uint8Array[]; problem?: string } {
  const packets: Uint8Array[] = [];
  let pos = 0;
  while (pos + 2 <= data.length) {
    if (data[pos] !== 0x7f || (data[pos + 1]! & 0xe0) !== 0xe0) return { packets, problem: 'Opus control header prefix missing' };
    const flags = data[pos + 1]!;
    pos += 2;
    let size = 0;
    for (;;) {
      if (pos >= data.length) return { packets, problem: 'Opus control header truncated' };
      const b = data[pos++]!;
      size += b;
      if (b !== 0xff) break;
    }
    if (flags & 0x10) pos += 2; // start trim
    if (flags & 0x08) pos += 2; // end trim
    if (flags & 0x04) {
      if (pos >= data.length) return { packets, problem: 'Opus control extension truncated' };
      pos += 1 + data[pos]!;
    }
    if (pos + size > data.length) return { packets, problem: 'Opus packet runs past the PES' };
    packets.push(data.subarray(pos, pos + size));
    pos += size;
  }
  return { packets };
}
