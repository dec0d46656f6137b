/**
 * Which tracks of a publish Polycast can carry, decided from the first
 * media tags: H.264, HEVC, AV1 and VP9 video and AAC and Opus audio are
 * carried (FLV itself carries only H.264 and AAC; the rest come over
 * enhanced RTMP). When a publish has nothing else, it is refused with the
 * codec named, so the encoder's operator reads why instead of readers
 * waiting for a picture that never comes (issue 9, fault 7).
 */
import type { FlvCodecLabel } from '../../codec/flv.js';
import { amfProperties, type AmfValue } from '../../protocols/rtmp/amf0.js';

export type TrackKind = FlvCodecLabel['kind'];

const SUPPORTED_TEXT = 'Polycast carries H.264, HEVC, AV1 and VP9 video (the last three over enhanced RTMP) and AAC and Opus audio';

export function unsupportedText(codec: FlvCodecLabel): string {
  return `${codec.label} is not supported; ${SUPPORTED_TEXT}`;
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
  unsupported(codec: FlvCodecLabel): string | undefined {
    if (this.usable || this.refused) return undefined;
    const seen = this.unusable.get(codec.kind) ?? { label: codec.label, tags: 0 };
    seen.tags++;
    this.unusable.set(codec.kind, seen);
    const everyDeclaredUnusable = this.declared !== undefined && [...this.declared].every((kind) => this.unusable.has(kind));
    if (!everyDeclaredUnusable && seen.tags < 2) return undefined;
    this.refused = true;
    const labels = [...this.unusable.values()].map((u) => u.label);
    return `${labels.join(' and ')} ${labels.length > 1 ? 'are' : 'is'} not supported; ${SUPPORTED_TEXT}`;
  }
}
