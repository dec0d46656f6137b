/**
 * What the server wrote into the player page about the stream and itself
 * (src/web/player-page.ts, docs/protocols/ws-nal.md#the-player-pages-stream-hint):
 * known before any connection, never more than a hint.
 */
import type { VideoInit } from './protocol/ws-nal-wire.js';

export interface PageHint {
  readonly video?: VideoInit;
  /** The WebTransport certificate's SHA-256, 64 hex digits, as `/certificate.sha256` serves it. */
  readonly certificateSha256?: string;
  /** The hang catalog `/moq` would send first (JSON, checked by whoever reads it: wt-raw's `parseCatalog`). */
  readonly moqCatalog?: unknown;
}

const HINT_ID = 'polycast-stream';
const HASH_PATTERN = /^[0-9a-f]{64}$/i;

/** The page's hint, with anything malformed left out; empty on pages without one (an embedding page). */
export function readPageHint(): PageHint {
  try {
    const text = typeof document === 'undefined' ? null : document.getElementById(HINT_ID)?.textContent;
    if (!text) return {};
    const raw = JSON.parse(text) as { video?: Partial<VideoInit>; certificateSha256?: unknown; moqCatalog?: unknown };
    const { codec, codedWidth, codedHeight } = raw.video ?? {};
    const video = typeof codec === 'string' && typeof codedWidth === 'number' && typeof codedHeight === 'number' ? { codec, codedWidth, codedHeight } : undefined;
    const hash = typeof raw.certificateSha256 === 'string' && HASH_PATTERN.test(raw.certificateSha256) ? raw.certificateSha256 : undefined;
    const catalog = typeof raw.moqCatalog === 'object' && raw.moqCatalog !== null ? raw.moqCatalog : undefined;
    return { ...(video ? { video } : {}), ...(hash ? { certificateSha256: hash } : {}), ...(catalog ? { moqCatalog: catalog } : {}) };
  } catch {
    return {};
  }
}

/** 64 hex digits as 32 bytes; null for anything else. */
export function sha256Bytes(hex: string): Uint8Array<ArrayBuffer> | null {
  if (!HASH_PATTERN.test(hex)) return null;
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}
