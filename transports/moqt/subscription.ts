/**
 * One SUBSCRIBE being served: each group of the track on its own
 * unidirectional stream (SUBGROUP_HEADER, then objects), at most two
 * groups on the wire, the newer one first; a group a slow subscriber has
 * not taken when a newer one starts is reset, never queued behind it.
 */
import { GroupSender, type UniStreamOpener } from '../../src/protocols/webtransport/group-sender.js';
import { encodeSubgroupHeader } from '../../src/protocols/moqt/objects.js';
import type { MoqtDraft } from '../../src/protocols/moqt/version.js';
import { AUDIO_TRACK, CATALOG_TRACK, VIDEO_TRACK, type MoqtTrackName } from './msf.js';

/** RFC 9218 urgencies (lower first): the catalog before media, audio before video, a superseded group after the newest. */
const URGENCY: Record<MoqtTrackName, { newest: number; superseded: number }> = {
  [CATALOG_TRACK]: { newest: 0, superseded: 0 },
  [AUDIO_TRACK]: { newest: 1, superseded: 2 },
  [VIDEO_TRACK]: { newest: 3, superseded: 4 },
};

/** WebTransport reset code of a group given up for a newer one. */
const GROUP_DROPPED = 0x1;

export interface SubscriptionOptions {
  readonly session: UniStreamOpener;
  readonly draft: MoqtDraft;
  readonly requestId: number;
  readonly alias: number;
  readonly track: MoqtTrackName;
  readonly maxGroupsInFlight?: number;
  readonly maxQueuedBytes?: number;
}

export class MoqtSubscription {
  private readonly sender: GroupSender;
  groups = 0;

  constructor(private readonly o: SubscriptionOptions) {
    const u = URGENCY[o.track];
    this.sender = new GroupSender(o.session, {
      maxInFlight: o.maxGroupsInFlight ?? 2,
      maxQueuedBytes: o.maxQueuedBytes,
      priority: { urgency: u.newest },
      demoted: { urgency: u.superseded },
      dropCode: GROUP_DROPPED,
    });
  }

  get requestId(): number {
    return this.o.requestId;
  }

  get alias(): number {
    return this.o.alias;
  }

  get track(): MoqtTrackName {
    return this.o.track;
  }

  get dropped(): number {
    return this.sender.dropped;
  }

  startGroup(group: number): void {
    this.groups++;
    const header = encodeSubgroupHeader(this.o.draft, { alias: this.o.alias, group, properties: this.o.track !== CATALOG_TRACK });
    this.sender.startGroup(group, header);
  }

  /** An encoded object for the open group; dropped when there is none (joined mid-group, or the group was given up). */
  object(bytes: Uint8Array): void {
    this.sender.write(bytes);
  }

  endGroup(): void {
    this.sender.endCurrent();
  }

  close(): void {
    this.sender.close();
  }
}
