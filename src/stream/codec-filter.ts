import type {
  AacTrackInfo,
  AudioTrackInfo,
  Frame,
  H264TrackInfo,
  StreamDescription,
  TrackInfo,
  VideoTrackInfo,
} from './types.js';

/** A stream description narrowed to the codecs one transport can carry. */
export interface CarriedDescription<V extends VideoTrackInfo, A extends AudioTrackInfo> {
  readonly path: string;
  readonly video?: V;
  readonly audio?: A;
}

/**
 * The codecs a transport carries, as type guards so that TypeScript proves a
 * transport never sees a track it cannot write. Narrowed descriptions are
 * cached per original description: every reader of a transport then shares
 * one object, which keeps the transports' per-description caches shared too.
 */
export class CodecSupport<V extends VideoTrackInfo, A extends AudioTrackInfo> {
  private readonly narrowed = new WeakMap<StreamDescription, CarriedDescription<V, A>>();

  constructor(
    readonly carriesVideo: (track: VideoTrackInfo) => track is V,
    readonly carriesAudio: (track: AudioTrackInfo) => track is A,
  ) {}

  /** The tracks of `desc` this transport carries; the same object when it carries all of them. */
  narrow(desc: StreamDescription): CarriedDescription<V, A> {
    const cached = this.narrowed.get(desc);
    if (cached !== undefined) return cached;
    const video = desc.video !== undefined && this.carriesVideo(desc.video) ? desc.video : undefined;
    const audio = desc.audio !== undefined && this.carriesAudio(desc.audio) ? desc.audio : undefined;
    const result: CarriedDescription<V, A> =
      video === desc.video && audio === desc.audio
        ? (desc as CarriedDescription<V, A>)
        : { path: desc.path, ...(video === undefined ? {} : { video }), ...(audio === undefined ? {} : { audio }) };
    this.narrowed.set(desc, result);
    return result;
  }

  /** The tracks of `desc` left out, one sentence each. */
  refusals(desc: StreamDescription, transport: string): string[] {
    const out: string[] = [];
    if (desc.video !== undefined && !this.carriesVideo(desc.video)) out.push(refusalText(transport, desc.video));
    if (desc.audio !== undefined && !this.carriesAudio(desc.audio)) out.push(refusalText(transport, desc.audio));
    return out;
  }
}

function refusalText(transport: string, track: TrackInfo): string {
  return `${transport} cannot carry ${track.kind} codec ${track.codec} (${track.codecString}) yet; that track is left out`;
}

const isH264 = (track: VideoTrackInfo): track is H264TrackInfo => track.codec === 'h264';
const isAac = (track: AudioTrackInfo): track is AacTrackInfo => track.codec === 'aac';

/** Every codec of the stream model. */
export const ALL_CODECS = new CodecSupport(
  (track: VideoTrackInfo): track is VideoTrackInfo => true,
  (track: AudioTrackInfo): track is AudioTrackInfo => true,
);

/** What every transport carried before the stream model knew other codecs. */
export const H264_AAC = new CodecSupport(isH264, isAac);

/**
 * One reader's view through a `CodecSupport`: narrows each description,
 * reports each refused track once, and tells which frames to drop (frames of
 * a refused track, which the transport has no way to describe).
 */
export class CodecFilter<V extends VideoTrackInfo, A extends AudioTrackInfo> {
  private current: CarriedDescription<V, A> | undefined;
  private readonly reported = new Set<string>();

  constructor(
    private readonly support: CodecSupport<V, A>,
    private readonly transport: string,
    private readonly onRefused: (reason: string) => void,
  ) {}

  /** Narrow a new description; refused tracks are reported (once per distinct reason). */
  describe(desc: StreamDescription): CarriedDescription<V, A> {
    for (const reason of this.support.refusals(desc, this.transport)) {
      if (this.reported.has(reason)) continue;
      this.reported.add(reason);
      this.onRefused(reason);
    }
    this.current = this.support.narrow(desc);
    return this.current;
  }

  /** True when the frame belongs to a track of the last description that this transport carries. */
  carries(frame: Frame): boolean {
    return (frame.kind === 'video' ? this.current?.video : this.current?.audio) !== undefined;
  }
}

/** True when a transport carries none of the tracks the stream has. */
export function carriesNothing(desc: CarriedDescription<VideoTrackInfo, AudioTrackInfo>): boolean {
  return desc.video === undefined && desc.audio === undefined;
}

/** Why a reader is closed when its transport carries none of the stream's tracks. */
export function nothingCarriedReason(full: StreamDescription): string {
  const codecs = [full.video, full.audio].flatMap((t) => (t === undefined ? [] : [t.codecString]));
  return `no track this transport carries: ${codecs.join(', ')}`;
}
