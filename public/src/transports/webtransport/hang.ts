/**
 * The hang media format as Polycast's `/moq` endpoint serves it
 * (docs/protocols/moq.md): the `catalog.json` track, and the legacy
 * container (a QUIC varint timestamp in µs, then the codec payload). Pure.
 */
import type { AudioInit, VideoInit } from '../../protocol/ws-nal-wire.js';

export const CATALOG_TRACK = 'catalog.json';

export interface Rendition<T> {
  /** The track that carries it. */
  readonly track: string;
  readonly init: T;
}

export interface HangCatalog {
  readonly video: Rendition<VideoInit> | null;
  readonly audio: Rendition<AudioInit> | null;
  /** Renditions passed over, each with why (another container, a missing field). */
  readonly skipped: readonly string[];
}

type Json = Record<string, unknown>;

function object(value: unknown): Json | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : null;
}

function hexBytes(value: unknown): Uint8Array | null {
  if (typeof value !== 'string' || value.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(value)) return null;
  const out = new Uint8Array(value.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(value.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function positive(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}

/** `{ "kind": "legacy" }`, or the bare string older catalogs used. */
function containerKind(value: unknown): string {
  if (value === undefined) return 'legacy';
  if (typeof value === 'string') return value;
  const kind = object(value)?.['kind'];
  return typeof kind === 'string' ? kind : 'unknown';
}

function renditions(section: unknown): [string, Json][] {
  const list = object(object(section)?.['renditions']);
  if (!list) return [];
  return Object.entries(list).flatMap(([name, value]) => {
    const rendition = object(value);
    return rendition ? [[name, rendition] as [string, Json]] : [];
  });
}

export function parseCatalog(value: unknown): HangCatalog {
  const root = object(value);
  const skipped: string[] = [];
  let video: Rendition<VideoInit> | null = null;
  let audio: Rendition<AudioInit> | null = null;
  for (const [track, r] of renditions(root?.['video'])) {
    if (video) break;
    const container = containerKind(r['container']);
    const codec = r['codec'];
    const description = hexBytes(r['description']);
    const codedWidth = positive(r['codedWidth']);
    const codedHeight = positive(r['codedHeight']);
    if (container !== 'legacy') skipped.push(`video ${track}: container ${container}`);
    else if (typeof codec !== 'string' || !codec.startsWith('avc1') || !description) skipped.push(`video ${track}: not H.264 with an avcC description`);
    else if (codedWidth === null || codedHeight === null) skipped.push(`video ${track}: no coded size`);
    else video = { track, init: { codec, codedWidth, codedHeight, description } };
  }
  for (const [track, r] of renditions(root?.['audio'])) {
    if (audio) break;
    const container = containerKind(r['container']);
    const codec = r['codec'];
    const sampleRate = positive(r['sampleRate']);
    const numberOfChannels = positive(r['numberOfChannels']);
    const description = hexBytes(r['description']);
    if (container !== 'legacy') skipped.push(`audio ${track}: container ${container}`);
    else if (typeof codec !== 'string' || sampleRate === null || numberOfChannels === null) skipped.push(`audio ${track}: incomplete`);
    else audio = { track, init: { codec, sampleRate, numberOfChannels, ...(description && description.byteLength > 0 ? { description } : {}) } };
  }
  return { video, audio, skipped };
}

export interface LegacyFrame {
  readonly timestampUs: number;
  readonly payload: Uint8Array;
}

/** One legacy-container frame; null when it is malformed or an empty marker. */
export function decodeLegacyFrame(bytes: Uint8Array): LegacyFrame | null {
  if (bytes.byteLength === 0) return null;
  const first = bytes[0]!;
  const length = 1 << (first >> 6);
  if (bytes.byteLength <= length) return null;
  let value = first & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + bytes[i]!;
  return { timestampUs: value, payload: bytes.subarray(length) };
}
