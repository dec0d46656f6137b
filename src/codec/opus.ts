/**
 * Opus: the identification header `OpusHead` (RFC 7845 §5.1) that enhanced
 * RTMP and Ogg carry, the `dOps` box payload of Opus in ISOBMFF (§4.3.2,
 * the same fields big-endian) and packet durations from the TOC byte
 * (RFC 6716 §3.1).
 */

import type { OpusTrackInfo } from '../stream/types.js';

export class OpusError extends Error {
  override readonly name = 'OpusError';
}

export interface OpusHead {
  readonly channels: number;
  readonly preSkip: number;
  readonly inputSampleRate: number;
  /** Q7.8 dB, signed. */
  readonly outputGain: number;
  readonly channelMappingFamily: number;
  /** Family ≠ 0 only: stream count, coupled count and the channel mapping. */
  readonly mapping?: { readonly streams: number; readonly coupled: number; readonly table: Uint8Array };
}

const MAGIC = 'OpusHead';
const HEAD_SIZE = 19;

/** Parse an identification header. Throws `OpusError` when malformed. */
export function parseOpusHead(head: Uint8Array): OpusHead {
  if (head.length < HEAD_SIZE) throw new OpusError(`OpusHead too short: ${head.length} byte(s), need ${HEAD_SIZE}`);
  if (String.fromCharCode(...head.subarray(0, 8)) !== MAGIC) throw new OpusError('identification header lacks the OpusHead magic');
  // Versions whose upper four bits are 0 are compatible with version 1 (RFC 7845 §5.1).
  if (head[8]! > 15) throw new OpusError(`unsupported OpusHead version ${head[8]}`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const channels = head[9]!;
  if (channels === 0) throw new OpusError('OpusHead declares zero channels');
  const channelMappingFamily = head[18]!;
  const base = { channels, preSkip: view.getUint16(10, true), inputSampleRate: view.getUint32(12, true), outputGain: view.getInt16(16, true), channelMappingFamily };
  if (channelMappingFamily === 0) {
    if (channels > 2) throw new OpusError(`mapping family 0 allows 1 or 2 channels, not ${channels}`);
    return base;
  }
  if (head.length < HEAD_SIZE + 2 + channels) throw new OpusError(`OpusHead channel mapping truncated: need ${HEAD_SIZE + 2 + channels} byte(s)`);
  const streams = head[19]!;
  const coupled = head[20]!;
  if (streams === 0 || coupled > streams) throw new OpusError(`invalid stream counts: ${streams} stream(s), ${coupled} coupled`);
  return { ...base, mapping: { streams, coupled, table: head.slice(21, 21 + channels) } };
}

/** The OpusSpecificBox payload (Version 0, big-endian fields) for an identification header. */
export function opusHeadToDops(h: OpusHead): Uint8Array {
  const size = 11 + (h.mapping === undefined ? 0 : 2 + h.channels);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = 0;
  out[1] = h.channels;
  view.setUint16(2, h.preSkip);
  view.setUint32(4, h.inputSampleRate);
  view.setInt16(8, h.outputGain);
  out[10] = h.channelMappingFamily;
  if (h.mapping !== undefined) {
    out[11] = h.mapping.streams;
    out[12] = h.mapping.coupled;
    out.set(h.mapping.table, 13);
  }
  return out;
}

/** The identification header (little-endian, RFC 7845 §5.1) for an OpusSpecificBox payload. Throws `OpusError`. */
export function opusHeadFromDops(dOps: Uint8Array): Uint8Array {
  if (dOps.length < 11) throw new OpusError(`dOps too short: ${dOps.length} byte(s), need 11`);
  if (dOps[0] !== 0) throw new OpusError(`unsupported dOps version ${dOps[0]}`);
  const family = dOps[10]!;
  const channels = dOps[1]!;
  const mappingBytes = family === 0 ? 0 : 2 + channels;
  if (dOps.length < 11 + mappingBytes) throw new OpusError('dOps channel mapping truncated');
  const d = new DataView(dOps.buffer, dOps.byteOffset, dOps.byteLength);
  const head = new Uint8Array(HEAD_SIZE + mappingBytes);
  const h = new DataView(head.buffer);
  head.set(new TextEncoder().encode(MAGIC));
  head[8] = 1;
  head[9] = channels;
  h.setUint16(10, d.getUint16(2), true);
  h.setUint32(12, d.getUint32(4), true);
  h.setInt16(16, d.getInt16(8), true);
  head[18] = family;
  head.set(dOps.subarray(11, 11 + mappingBytes), HEAD_SIZE);
  return head;
}

/** Track description from an identification header. Throws `OpusError`. */
export function opusTrackInfo(head: Uint8Array): OpusTrackInfo {
  const h = parseOpusHead(head);
  return {
    kind: 'audio',
    codec: 'opus',
    codecString: 'opus',
    sampleRate: 48000,
    inputSampleRate: h.inputSampleRate,
    channels: h.channels,
    preSkip: h.preSkip,
    outputGain: h.outputGain,
    channelMappingFamily: h.channelMappingFamily,
    opusHead: head.slice(),
    dOps: opusHeadToDops(h),
  };
}

/** Frame duration in 48 kHz samples of each TOC configuration group (RFC 6716 Table 2). */
function frameSamples(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config % 4]!; // SILK: 10, 20, 40, 60 ms
  if (config < 16) return [480, 960][config % 2]!; // hybrid: 10, 20 ms
  return [120, 240, 480, 960][config % 4]!; // CELT: 2.5, 5, 10, 20 ms
}

/** Samples (at 48 kHz) a packet decodes to, from its TOC byte and frame count. Throws `OpusError` when the packet cannot say. */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length === 0) throw new OpusError('empty Opus packet');
  const toc = packet[0]!;
  const perFrame = frameSamples(toc >> 3);
  switch (toc & 3) {
    case 0:
      return perFrame;
    case 1:
    case 2:
      return 2 * perFrame;
    default: {
      if (packet.length < 2) throw new OpusError('Opus code 3 packet lacks its frame count byte');
      const frames = packet[1]! & 0x3f;
      if (frames === 0 || frames * perFrame > 5760) throw new OpusError(`Opus packet of ${frames} frame(s) exceeds 120 ms`);
      return frames * perFrame;
    }
  }
}
