/**
 * MPEG-TS program tables (ISO/IEC 13818-1 §2.4.4): the PAT that names each
 * program's PMT, and the PMT that lists elementary streams with their stream
 * types and descriptors. Sections are checked against their CRC-32.
 */

export interface ElementaryStreamInfo {
  readonly pid: number;
  readonly streamType: number;
  /** format_identifier of a registration descriptor (tag 5), e.g. `Opus`, when there is one. */
  readonly registration?: string;
  /** Other descriptors by tag, as carried (the Opus channel configuration lives in an extension descriptor). */
  readonly descriptors: ReadonlyArray<{ tag: number; body: Uint8Array }>;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x8000_0000 ? (c << 1) ^ 0x04c1_1db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC-32/MPEG-2 (no reflection, no final XOR): a section including its CRC sums to 0. */
export function crc32Mpeg(data: Uint8Array): number {
  let crc = 0xffff_ffff;
  for (const b of data) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  return crc;
}

/** A whole section (from table_id on): checks length and CRC, returns the part after the 8-byte long header and before the CRC. */
function sectionBody(section: Uint8Array, tableId: number): Uint8Array | string {
  if (section.length < 12) return 'truncated section';
  if (section[0] !== tableId) return `table id ${section[0]} where ${tableId} was expected`;
  const length = ((section[1]! & 0x0f) << 8) | section[2]!;
  if (3 + length > section.length || length < 9) return 'section length runs past its data';
  const whole = section.subarray(0, 3 + length);
  if (crc32Mpeg(whole) !== 0) return 'section CRC mismatch';
  // current_next_indicator 0: a table announced for later, not in force yet.
  if ((whole[5]! & 1) === 0) return 'not current';
  return whole.subarray(8, whole.length - 4);
}

/** PMT PIDs by program number (program 0, the network PID, left out). */
export function parsePat(section: Uint8Array): Map<number, number> | string {
  const body = sectionBody(section, 0x00);
  if (typeof body === 'string') return body;
  const programs = new Map<number, number>();
  for (let i = 0; i + 4 <= body.length; i += 4) {
    const program = (body[i]! << 8) | body[i + 1]!;
    const pid = ((body[i + 2]! & 0x1f) << 8) | body[i + 3]!;
    if (program !== 0) programs.set(program, pid);
  }
  return programs;
}

export function parsePmt(section: Uint8Array): ElementaryStreamInfo[] | string {
  const body = sectionBody(section, 0x02);
  if (typeof body === 'string') return body;
  if (body.length < 4) return 'truncated PMT';
  const programInfoLength = ((body[2]! & 0x0f) << 8) | body[3]!;
  let pos = 4 + programInfoLength;
  const streams: ElementaryStreamInfo[] = [];
  while (pos + 5 <= body.length) {
    const streamType = body[pos]!;
    const pid = ((body[pos + 1]! & 0x1f) << 8) | body[pos + 2]!;
    const infoLength = ((body[pos + 3]! & 0x0f) << 8) | body[pos + 4]!;
    const end = pos + 5 + infoLength;
    if (end > body.length) return 'PMT descriptor loop runs past the section';
    const descriptors: Array<{ tag: number; body: Uint8Array }> = [];
    let registration: string | undefined;
    for (let d = pos + 5; d + 2 <= end; ) {
      const tag = body[d]!;
      const len = body[d + 1]!;
      const content = body.subarray(d + 2, Math.min(end, d + 2 + len));
      if (tag === 0x05 && content.length >= 4) registration = String.fromCharCode(...content.subarray(0, 4));
      else descriptors.push({ tag, body: content });
      d += 2 + len;
    }
    streams.push(registration === undefined ? { pid, streamType, descriptors } : { pid, streamType, registration, descriptors });
    pos = end;
  }
  return streams;
}
