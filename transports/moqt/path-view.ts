/**
 * One session's reader of one Polycast path, turned into the three MOQT
 * tracks of its namespace. Group and object numbers are the track's, not a
 * subscriber's: video groups are GOPs (a keyframe opens the next), audio
 * groups are half-second runs of frames (each audio frame decodes alone, so
 * a group boundary is a join point, and a stream per frame would cost a
 * QUIC stream every 20 ms), the catalog has a group per version.
 */
import { randomBytes } from 'node:crypto';
import { encodeObject } from '../../src/protocols/moqt/objects.js';
import type { Location } from '../../src/protocols/moqt/messages.js';
import { usesLeadingOnes, type MoqtDraft } from '../../src/protocols/moqt/version.js';
import { GopCache } from '../../src/stream/gop-cache.js';
import type { Path } from '../../src/stream/path.js';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import { serializeOnce, type Frame, type StreamDescription } from '../../src/stream/types.js';
import { AUDIO_TRACK, buildMsfCatalog, CATALOG_TRACK, VIDEO_TRACK, type MoqtTrackName } from './msf.js';
import type { MoqtSubscription } from './subscription.js';

const AUDIO_GROUP_US = 500_000;

/** Where a track is: its open group and how many objects that group has. */
interface TrackPosition {
  group: number;
  objects: number;
  open: boolean;
}

export class PathView implements ReaderSink {
  readonly id = randomBytes(4).toString('hex');
  readonly reader: Reader;
  readonly subscriptions = new Set<MoqtSubscription>();
  /** Audio objects flush with the video frame's: one visit, one flush, shared packets. */
  readonly audioRidesWithVideo = true;
  private readonly cache = new GopCache();
  private readonly positions: Record<MoqtTrackName, TrackPosition> = {
    [CATALOG_TRACK]: { group: -1, objects: 0, open: false },
    [VIDEO_TRACK]: { group: -1, objects: 0, open: false },
    [AUDIO_TRACK]: { group: -1, objects: 0, open: false },
  };
  private catalogObject: Uint8Array | undefined;
  private catalogJson: string | undefined;
  private videoConfig: unknown;
  private audioGroupStartUs = 0;

  constructor(
    readonly path: Path,
    private readonly draft: MoqtDraft,
    remoteAddress: string,
    queueSize: number,
  ) {
    this.reader = new Reader({ id: this.id, protocol: 'moqt', remoteAddress }, this, queueSize);
  }

  /** The newest object of a track, for SUBSCRIBE_OK's Largest Location. */
  largest(track: MoqtTrackName): Location | undefined {
    const p = this.positions[track];
    return p.group < 0 ? undefined : { group: p.group, object: Math.max(0, p.objects - 1) };
  }

  /** Starts a subscription; unless it asked for the next group only, it gets the group in progress from its start (the catalog, or the GOP so far). */
  add(sub: MoqtSubscription, fromCurrentGroup: boolean): void {
    this.subscriptions.add(sub);
    if (!fromCurrentGroup) return;
    if (sub.track === CATALOG_TRACK && this.catalogObject !== undefined) {
      sub.startGroup(this.positions[CATALOG_TRACK].group);
      sub.object(this.catalogObject);
      sub.endGroup();
    } else if (sub.track === VIDEO_TRACK && this.positions[VIDEO_TRACK].open) {
      const gop = this.cache.snapshot().filter((f) => f.kind === 'video');
      // An overflowed cache no longer holds the group's head: such a subscription waits for the next keyframe.
      if (gop.length !== this.positions[VIDEO_TRACK].objects) return;
      sub.startGroup(this.positions[VIDEO_TRACK].group);
      for (const frame of gop) sub.object(this.objectOf(frame));
    }
  }

  remove(sub: MoqtSubscription): void {
    this.subscriptions.delete(sub);
    sub.close();
  }

  /** Group senders bound what they hold per subscription, so the reader never has to hold frames back. */
  writable(): boolean {
    return true;
  }

  write(frame: Frame): void {
    this.cache.add(frame);
    if (frame.kind === 'video') {
      // A group starts at a keyframe; frames before the first one (or after a new configuration) cannot start a decoder.
      if (frame.key) this.startGroup(VIDEO_TRACK);
      else if (!this.positions[VIDEO_TRACK].open) return;
      this.append(VIDEO_TRACK, frame);
      return;
    }
    const audio = this.positions[AUDIO_TRACK];
    if (!audio.open || frame.pts - this.audioGroupStartUs >= AUDIO_GROUP_US || frame.pts < this.audioGroupStartUs) {
      this.audioGroupStartUs = frame.pts;
      this.startGroup(AUDIO_TRACK);
    }
    this.append(AUDIO_TRACK, frame);
  }

  describe(description: StreamDescription): void {
    if (description.video !== this.videoConfig) {
      this.videoConfig = description.video;
      this.cache.clear();
      this.endGroup(VIDEO_TRACK);
    }
    const json = JSON.stringify(buildMsfCatalog(description));
    if (json === this.catalogJson) return;
    this.catalogJson = json;
    this.catalogObject = encodeObject(this.draft, new TextEncoder().encode(json));
    this.startGroup(CATALOG_TRACK);
    this.positions[CATALOG_TRACK].objects = 1;
    for (const sub of this.subscribed(CATALOG_TRACK)) sub.object(this.catalogObject);
    this.endGroup(CATALOG_TRACK);
  }

  offline(): void {
    this.cache.clear();
    this.endGroup(VIDEO_TRACK);
    this.endGroup(AUDIO_TRACK);
  }

  close(): void {
    for (const sub of this.subscriptions) sub.close();
    this.subscriptions.clear();
    this.cache.clear();
  }

  private *subscribed(track: MoqtTrackName): Iterable<MoqtSubscription> {
    for (const sub of this.subscriptions) if (sub.track === track) yield sub;
  }

  private startGroup(track: MoqtTrackName): void {
    const p = this.positions[track];
    p.group++;
    p.objects = 0;
    p.open = true;
    for (const sub of this.subscribed(track)) sub.startGroup(p.group);
  }

  private endGroup(track: MoqtTrackName): void {
    const p = this.positions[track];
    if (!p.open) return;
    p.open = false;
    for (const sub of this.subscribed(track)) sub.endGroup();
  }

  private append(track: MoqtTrackName, frame: Frame): void {
    this.positions[track].objects++;
    const bytes = this.objectOf(frame);
    for (const sub of this.subscribed(track)) sub.object(bytes);
  }

  /** A frame as a LOC object, built once per varint encoding and shared by every session and subscription. */
  private objectOf(frame: Frame): Uint8Array {
    const draft = this.draft;
    const key = usesLeadingOnes(draft) ? 'moqt-loc:leading-ones' : 'moqt-loc:quic';
    return serializeOnce(frame, key, (f) => encodeObject(draft, f.data, Math.max(0, Math.round(f.pts))));
  }
}
