/**
 * What one moq-lite subscription sends: the hang catalog, or one media track
 * cut into groups. Each subscription owns a GroupSender, so its groups go on
 * their own unidirectional streams, newest first, at most two in flight.
 */
import type { Frame, StreamDescription } from '../../src/stream/types.js';
import { GroupSender, type UniStreamOpener } from '../../src/protocols/webtransport/group-sender.js';
import { AUDIO_TRACK, buildCatalog, CATALOG_TRACK, legacyTimestampUs, VIDEO_TRACK, wireFrame } from './hang.js';
import { encodeFrame, encodeGroupHeader, encodeTimestampDelta, MoqErrorCode } from './messages.js';

export type TrackName = typeof CATALOG_TRACK | typeof VIDEO_TRACK | typeof AUDIO_TRACK;

export function isTrackName(name: string): name is TrackName {
  return name === CATALOG_TRACK || name === VIDEO_TRACK || name === AUDIO_TRACK;
}

/**
 * Stream urgencies (RFC 9218, lower goes first): the catalog before any
 * media, audio before video, and within a track the newest group before the
 * one it superseded.
 */
const URGENCY: Record<TrackName, { newest: number; superseded: number }> = {
  [CATALOG_TRACK]: { newest: 0, superseded: 0 },
  [AUDIO_TRACK]: { newest: 1, superseded: 2 },
  [VIDEO_TRACK]: { newest: 3, superseded: 4 },
};

/** lite-05 TRACK_INFO publisher priority (higher first): the catalog, then audio, then video. */
export const TRACK_PRIORITY: Record<TrackName, number> = {
  [CATALOG_TRACK]: 2,
  [AUDIO_TRACK]: 1,
  [VIDEO_TRACK]: 0,
};

/** An audio-only stream has no GOPs to follow: start an audio group this often (µs of media). */
const AUDIO_ONLY_GROUP_US = 1_000_000;

export interface TrackSubscriptionOptions {
  readonly session: UniStreamOpener;
  readonly id: bigint;
  readonly track: TrackName;
  /** lite-05: every frame opens with its timestamp, as a delta from the previous one in its group. */
  readonly timestamps?: boolean;
  readonly maxInFlight?: number;
  readonly maxQueuedBytes?: number;
}

/** Where the broadcast is: what a subscription needs to place its group boundaries. */
export interface BroadcastPosition {
  readonly description: StreamDescription | undefined;
  /** Counts video keyframes since the reader attached; audio starts a group whenever it changes. */
  readonly gop: number;
}

export class TrackSubscription {
  readonly sender: GroupSender;
  /** Groups started (including ones later dropped). */
  groups = 0;
  private nextSequence = 0;
  /** Catalog: the JSON last sent. Media: the configuration the open group was coded with. */
  private lastCatalog: string | undefined;
  private config: unknown;
  /** Audio: the GOP (or, audio-only, the start time) the open group belongs to. */
  private groupGop = -1;
  private groupStartPts = 0;
  /** lite-05: the timestamp of the group's previous frame (a group starts from 0). */
  private lastTimestamp = 0;

  constructor(private readonly o: TrackSubscriptionOptions) {
    const u = URGENCY[o.track];
    this.sender = new GroupSender(o.session, {
      maxInFlight: o.maxInFlight ?? 2,
      maxQueuedBytes: o.maxQueuedBytes,
      priority: { urgency: u.newest },
      demoted: { urgency: u.superseded },
      dropCode: MoqErrorCode.GroupDropped,
    });
  }

  get id(): bigint {
    return this.o.id;
  }

  get track(): TrackName {
    return this.o.track;
  }

  get dropped(): number {
    return this.sender.dropped;
  }

  private startGroup(): void {
    const sequence = this.nextSequence++;
    this.groups++;
    this.sender.startGroup(sequence, encodeGroupHeader(this.o.id, sequence));
    this.lastTimestamp = 0;
  }

  /** A frame into the open group; the serialized frame is shared, the lite-05 timestamp delta is this group's own. */
  private send(wire: Uint8Array, timestampUs: number): void {
    if (this.o.timestamps === true) {
      this.sender.write(encodeTimestampDelta(timestampUs - this.lastTimestamp));
      this.lastTimestamp = timestampUs;
    }
    this.sender.write(wire);
  }

  /** The tracks are known or changed. */
  describe(desc: StreamDescription): void {
    switch (this.o.track) {
      case CATALOG_TRACK: {
        // One group per catalog version, its only frame the whole JSON document.
        const json = JSON.stringify(buildCatalog(desc));
        if (json === this.lastCatalog) return;
        this.lastCatalog = json;
        this.startGroup();
        this.send(encodeFrame(new TextEncoder().encode(json)), 0);
        this.sender.endCurrent();
        return;
      }
      case VIDEO_TRACK:
        // Frames after a new configuration belong to a new group, which the next keyframe opens.
        if (desc.video !== this.config) this.sender.endCurrent();
        this.config = desc.video;
        return;
      case AUDIO_TRACK:
        if (desc.audio !== this.config) this.sender.endCurrent();
        this.config = desc.audio;
        return;
    }
  }

  /** A frame of the broadcast, in order; subscriptions take their own kind. */
  frame(frame: Frame, at: BroadcastPosition): void {
    if (this.o.track === VIDEO_TRACK) {
      if (frame.kind !== 'video') return;
      // A group is a GOP: it starts at a keyframe, and nothing is sent until the first one.
      if (frame.key) this.startGroup();
      this.send(wireFrame(frame), legacyTimestampUs(frame));
    } else if (this.o.track === AUDIO_TRACK) {
      if (frame.kind !== 'audio') return;
      const hasVideo = at.description?.video !== undefined;
      const due = hasVideo
        ? at.gop !== this.groupGop
        : this.groupGop < 0 || frame.pts - this.groupStartPts >= AUDIO_ONLY_GROUP_US || frame.pts < this.groupStartPts;
      if (due || this.sender.current === undefined) {
        this.groupGop = hasVideo ? at.gop : 0;
        this.groupStartPts = frame.pts;
        this.startGroup();
      }
      this.send(wireFrame(frame), legacyTimestampUs(frame));
    }
  }

  /** The publisher left: close what is open; the next stream starts new groups. */
  offline(): void {
    this.sender.endCurrent();
    this.groupGop = -1;
  }

  close(): void {
    this.sender.close();
  }
}
