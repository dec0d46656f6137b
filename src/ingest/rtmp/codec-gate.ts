/**
 * Which tracks of a publish Polycast can carry, decided from the first
 * media tags: H.264 video and AAC audio are carried; when a publish has
 * nothing else, it is refused with the codec named, so the encoder's
 * operator reads why instead of readers waiting for a picture that never
 * comes (issue 9, fault 7).
 */
import { amfProperties, type AmfValue } from '../../protocols/rtmp/amf0.js';

export type TrackKind = 'video' | 'audio';

export interface CodecVerdict {
  readonly kind: TrackKind;
  readonly supported: boolean;
  /** e.g. "video codec HEVC (FourCC hvc1)". */
  readonly label: string;
}

const LEGACY_VIDEO: Readonly<Record<number, string>> = {
  1: 'JPEG',
  2: 'Sorenson H.263',
  3: 'Screen video',
  4: 'On2 VP6',
  5: 'On2 VP6 with alpha',
  6: 'Screen video v2',
  7: 'H.264',
  12: 'HEVC',
  13: 'AV1',
};

const LEGACY_AUDIO: Readonly<Record<number, string>> = {
  0: 'Linear PCM',
  1: 'ADPCM',
  2: 'MP3',
  3: 'Linear PCM',
  4: 'Nellymoser',
  5: 'Nellymoser',
  6: 'Nellymoser',
  7: 'G.711 A-law',
  8: 'G.711 mu-law',
  10: 'AAC',
  11: 'Speex',
  14: 'MP3',
  15: 'device-specific audio',
};

const FOURCC_NAMES: Readonly<Record<string, string>> = {
  avc1: 'H.264',
  hvc1: 'HEVC',
  av01: 'AV1',
  vp09: 'VP9',
  vp08: 'VP8',
  mp4a: 'AAC',
  Opus: 'Opus',
  fLaC: 'FLAC',
  'ac-3': 'AC-3',
  'ec-3': 'E-AC-3',
  '.mp3': 'MP3',
};

const SUPPORTED_TEXT = 'Polycast carries H.264 and AAC';

function fourCC(body: Uint8Array): string {
  return String.fromCharCode(body[1]!, body[2]!, body[3]!, body[4]!);
}

const printable = (code: string) => (/^[\x20-\x7e]{4}$/.test(code) ? code : [...code].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));

/** The codec of an audio (8) or video (9) message body; undefined when the tag names none (empty, multitrack, ModEx). */
export function codecOf(type: number, body: Uint8Array): CodecVerdict | undefined {
  if (body.length === 0 || (type !== 8 && type !== 9)) return undefined;
  const b0 = body[0]!;
  if (type === 9) {
    if (b0 & 0x80) {
      const packetType = b0 & 0x0f;
      if (packetType === 6 || packetType === 7 || body.length < 5) return undefined;
      const code = fourCC(body);
      return { kind: 'video', supported: code === 'avc1', label: `video codec ${FOURCC_NAMES[code] ?? 'unknown'} (FourCC ${printable(code)})` };
    }
    const id = b0 & 0x0f;
    return { kind: 'video', supported: id === 7, label: `video codec ${LEGACY_VIDEO[id] ?? 'unknown'} (FLV codec id ${id})` };
  }
  const format = b0 >> 4;
  if (format === 9) {
    const packetType = b0 & 0x0f;
    if (packetType === 5 || packetType === 7 || body.length < 5) return undefined;
    const code = fourCC(body);
    return { kind: 'audio', supported: code === 'mp4a', label: `audio codec ${FOURCC_NAMES[code] ?? 'unknown'} (FourCC ${printable(code)})` };
  }
  return { kind: 'audio', supported: format === 10, label: `audio codec ${LEGACY_AUDIO[format] ?? 'unknown'} (FLV sound format ${format})` };
}

export function unsupportedText(verdict: CodecVerdict): string {
  return `${verdict.label} is not supported; ${SUPPORTED_TEXT}`;
}

/**
 * Watches a publish's first tags. A track is usable once its decoder
 * configuration was accepted. The publish is refused when no track is usable
 * and either every track the metadata announced turned out unusable, or an
 * unusable track sent its second tag (encoders send every track's header
 * before the first frame, so by then all tracks have shown themselves).
 */
export class CodecGate {
  private declared: Set<TrackKind> | undefined;
  private usable = false;
  private readonly unusable = new Map<TrackKind, { label: string; tags: number }>();
  private refused = false;

  /** onMetaData: `videocodecid` / `audiocodecid` say which tracks exist. */
  metadata(data: AmfValue | Readonly<Record<string, unknown>>): void {
    const props = (amfProperties(data as AmfValue) ?? data) as Readonly<Record<string, unknown>> | null;
    if (props === null || typeof props !== 'object') return;
    const kinds = new Set<TrackKind>();
    if (props['videocodecid'] !== undefined) kinds.add('video');
    if (props['audiocodecid'] !== undefined) kinds.add('audio');
    if (kinds.size > 0) this.declared = kinds;
  }

  /** A track's configuration was accepted: the publish carries something. */
  accepted(): void {
    this.usable = true;
  }

  /** A tag of an unsupported codec; returns the refusal when the publish has nothing Polycast can carry. */
  unsupported(verdict: CodecVerdict): string | undefined {
    if (this.usable || this.refused) return undefined;
    const seen = this.unusable.get(verdict.kind) ?? { label: verdict.label, tags: 0 };
    seen.tags++;
    this.unusable.set(verdict.kind, seen);
    const everyDeclaredUnusable = this.declared !== undefined && [...this.declared].every((kind) => this.unusable.has(kind));
    if (!everyDeclaredUnusable && seen.tags < 2) return undefined;
    this.refused = true;
    const labels = [...this.unusable.values()].map((u) => u.label);
    return `${labels.join(' and ')} ${labels.length > 1 ? 'are' : 'is'} not supported; ${SUPPORTED_TEXT}`;
  }
}
