/**
 * A small MPEG-TS demultiplexer (ISO/IEC 13818-1) for live ingest: 188-byte
 * packets in, whole PES packets of the first program's elementary streams
 * out. Continuity counters are checked per PID: a gap discards the PES being
 * assembled (its decoder would see a hole), a repeated packet is dropped.
 * Everything it holds is bounded: one partial TS packet, one partial section
 * per table PID, one PES per selected stream up to `maxPesSize`.
 */
import { parsePat, parsePmt, type ElementaryStreamInfo } from './psi.js';

export const TS_PACKET_SIZE = 188;
const SYNC_BYTE = 0x47;
const PAT_PID = 0x0000;
const NULL_PID = 0x1fff;
/** section_length is 12 bits, at most 1021 for PSI tables. */
const MAX_SECTION_SIZE = 1024;

export interface PesPacket {
  readonly pid: number;
  readonly streamType: number;
  /** 90 kHz, 33 bits, as carried. */
  readonly pts: number | undefined;
  readonly dts: number | undefined;
  readonly data: Uint8Array;
}

export interface TsDemuxerEvents {
  /**
   * The program's elementary streams, whenever a new PMT version arrives;
   * returns the PIDs to assemble PES for. Only those cost memory: a PMT may
   * list streams by the hundred.
   */
  program(streams: readonly ElementaryStreamInfo[]): readonly number[];
  pes(packet: PesPacket): void;
  /** Something was wrong and dropped (continuity gap, bad CRC, oversized PES): counted by the caller. */
  problem(reason: string): void;
}

interface PesAssembly {
  readonly info: ElementaryStreamInfo;
  chunks: Uint8Array[];
  size: number;
  /** PES_packet_length + 6 when the header gave one (audio), else 0 (video: ends at the next unit start). */
  expected: number;
  /** A gap was seen: drop everything up to the next unit start. */
  broken: boolean;
  started: boolean;
}

export class TsDemuxer {
  private partial = new Uint8Array(0);
  private readonly continuity = new Map<number, number>();
  private readonly sections = new Map<number, { chunks: Uint8Array[]; size: number }>();
  private pmtPid: number | undefined;
  private pmtVersion: string | undefined;
  private readonly streams = new Map<number, PesAssembly>();

  constructor(
    private readonly events: TsDemuxerEvents,
    private readonly maxPesSize = 8 * 1024 * 1024,
  ) {}

  push(bytes: Uint8Array): void {
    let data = bytes;
    if (this.partial.length > 0) {
      data = Buffer.concat([this.partial, bytes]);
      this.partial = new Uint8Array(0);
    }
    let pos = 0;
    while (pos + TS_PACKET_SIZE <= data.length) {
      if (data[pos] !== SYNC_BYTE) {
        const next = data.indexOf(SYNC_BYTE, pos + 1);
        this.events.problem('lost TS sync');
        if (next < 0) return;
        pos = next;
        continue;
      }
      this.packet(data.subarray(pos, pos + TS_PACKET_SIZE));
      pos += TS_PACKET_SIZE;
    }
    if (pos < data.length) this.partial = data.slice(pos);
  }

  /** The publisher is done: what is assembled is complete as far as it goes. */
  flush(): void {
    for (const s of this.streams.values()) this.emit(s);
  }

  private packet(p: Uint8Array): void {
    if (p[1]! & 0x80) return this.events.problem('transport error indicator set');
    const unitStart = (p[1]! & 0x40) !== 0;
    const pid = ((p[1]! & 0x1f) << 8) | p[2]!;
    if (pid === NULL_PID) return;
    const adaptation = (p[3]! >> 4) & 0x3;
    const cc = p[3]! & 0x0f;
    let pos = 4;
    let discontinuity = false;
    if (adaptation & 0x2) {
      const length = p[4]!;
      if (length > 183) return this.events.problem('adaptation field longer than the packet');
      discontinuity = length > 0 && (p[5]! & 0x80) !== 0;
      pos = 5 + length;
    }
    if ((adaptation & 0x1) === 0) return;
    const last = this.continuity.get(pid);
    this.continuity.set(pid, cc);
    let gap = false;
    if (last !== undefined && !discontinuity) {
      if (cc === last) return; // a duplicate packet, which 13818-1 allows once
      gap = cc !== ((last + 1) & 0x0f);
    }
    const payload = p.subarray(pos);
    if (pid === PAT_PID || pid === this.pmtPid) return this.section(pid, unitStart, payload, gap);
    const stream = this.streams.get(pid);
    if (stream !== undefined) this.pesPayload(stream, unitStart, payload, gap);
  }

  private section(pid: number, unitStart: boolean, payload: Uint8Array, gap: boolean): void {
    let pending = this.sections.get(pid);
    if (gap) pending = undefined;
    if (unitStart) {
      const pointer = payload[0]!;
      if (pending !== undefined) this.appendSection(pid, pending, payload.subarray(1, 1 + pointer));
      pending = { chunks: [payload.subarray(1 + pointer)], size: payload.length - 1 - pointer };
    } else if (pending !== undefined) {
      pending.chunks.push(payload);
      pending.size += payload.length;
    } else {
      return;
    }
    if (pending.size > MAX_SECTION_SIZE + TS_PACKET_SIZE) {
      this.sections.delete(pid);
      return this.events.problem('oversized table section');
    }
    this.sections.set(pid, pending);
    this.tryTable(pid, pending);
  }

  private appendSection(pid: number, pending: { chunks: Uint8Array[]; size: number }, tail: Uint8Array): void {
    pending.chunks.push(tail);
    pending.size += tail.length;
    this.tryTable(pid, pending);
  }

  private tryTable(pid: number, pending: { chunks: Uint8Array[]; size: number }): void {
    const section = pending.chunks.length === 1 ? pending.chunks[0]! : Buffer.concat(pending.chunks, pending.size);
    if (section.length < 3 || section[0] === 0xff) return;
    const length = 3 + (((section[1]! & 0x0f) << 8) | section[2]!);
    if (section.length < length) return;
    this.sections.delete(pid);
    if (pid === PAT_PID) return this.pat(section);
    this.pmt(section);
  }

  private pat(section: Uint8Array): void {
    const programs = parsePat(section);
    if (typeof programs === 'string') return this.events.problem(`PAT: ${programs}`);
    // One program per publish: the first one listed, as encoders send.
    const pmtPid = programs.values().next().value;
    if (pmtPid !== undefined && pmtPid !== this.pmtPid) {
      this.pmtPid = pmtPid;
      this.pmtVersion = undefined;
    }
  }

  private pmt(section: Uint8Array): void {
    // Encoders repeat the PMT every few hundred milliseconds: only a changed one (its CRC differs) matters.
    const end = 3 + (((section[1]! & 0x0f) << 8) | section[2]!);
    const version = Buffer.from(section.subarray(end - 4, end)).toString('hex');
    if (version === this.pmtVersion) return;
    const streams = parsePmt(section);
    if (typeof streams === 'string') return this.events.problem(`PMT: ${streams}`);
    this.pmtVersion = version;
    const selected = new Set(this.events.program(streams));
    const keep = new Map(streams.filter((s) => selected.has(s.pid)).map((s) => [s.pid, s]));
    for (const pid of this.streams.keys()) if (!keep.has(pid)) this.streams.delete(pid);
    for (const info of keep.values()) {
      const current = this.streams.get(info.pid);
      if (current === undefined || current.info.streamType !== info.streamType) {
        this.streams.set(info.pid, { info, chunks: [], size: 0, expected: 0, broken: false, started: false });
      }
    }
  }

  private pesPayload(s: PesAssembly, unitStart: boolean, payload: Uint8Array, gap: boolean): void {
    if (unitStart) {
      this.emit(s);
      s.started = true;
      s.broken = false;
      if (payload.length >= 6) {
        const declared = (payload[4]! << 8) | payload[5]!;
        s.expected = declared === 0 ? 0 : declared + 6;
      }
    } else if (gap && s.started) {
      s.broken = true;
      this.events.problem('continuity gap: PES discarded');
    }
    if (!s.started || s.broken) return;
    if (s.size + payload.length > this.maxPesSize) {
      s.broken = true;
      s.chunks = [];
      s.size = 0;
      return this.events.problem(`PES larger than ${this.maxPesSize} bytes discarded`);
    }
    s.chunks.push(payload);
    s.size += payload.length;
    // A PES that declared its length is complete as soon as it is all here: no need to wait for the next one.
    if (s.expected > 0 && s.size >= s.expected) this.emit(s);
  }

  private emit(s: PesAssembly): void {
    const chunks = s.chunks;
    const size = s.size;
    const broken = s.broken;
    s.chunks = [];
    s.size = 0;
    s.started = false;
    if (broken || size === 0) return;
    // Payload views point into datagrams; a frame must own its bytes.
    const pes = Buffer.concat(chunks, size);
    const parsed = parsePesHeader(pes);
    if (typeof parsed === 'string') return this.events.problem(parsed);
    this.events.pes({ pid: s.info.pid, streamType: s.info.streamType, ...parsed });
  }
}

/** PES header (§2.4.3.6): timestamps and where the elementary stream data begins. */
function parsePesHeader(pes: Uint8Array): { pts: number | undefined; dts: number | undefined; data: Uint8Array } | string {
  if (pes.length < 9 || pes[0] !== 0 || pes[1] !== 0 || pes[2] !== 1) return 'PES without a start code';
  const declared = (pes[4]! << 8) | pes[5]!;
  const end = declared === 0 ? pes.length : Math.min(pes.length, 6 + declared);
  const flags = pes[7]!;
  const headerEnd = 9 + pes[8]!;
  if (headerEnd > end) return 'PES header longer than the packet';
  let pts: number | undefined;
  let dts: number | undefined;
  if (flags & 0x80) {
    if (headerEnd < 14) return 'PES header too short for its PTS';
    pts = timestamp(pes, 9);
    if (flags & 0x40) {
      if (headerEnd < 19) return 'PES header too short for its DTS';
      dts = timestamp(pes, 14);
    }
  }
  return { pts, dts: dts ?? pts, data: pes.subarray(headerEnd, end) };
}

/** A 33-bit 90 kHz timestamp in its 5-byte, marker-bit form. */
function timestamp(b: Uint8Array, at: number): number {
  return ((b[at]! >> 1) & 0x07) * 2 ** 30 + (b[at + 1]! << 22) + ((b[at + 2]! >> 1) << 15) + (b[at + 3]! << 7) + (b[at + 4]! >> 1);
}
