import type { SendStream } from '../stream-session.js';
import type { StreamPriority } from './session.js';

/** What a GroupSender needs of its session: WebTransport and QMux sessions both qualify. */
export interface UniStreamOpener {
  createUniStream(priority?: StreamPriority): Promise<SendStream>;
}

export interface GroupSenderOptions {
  /** Groups allowed on the wire at once, newest included; starting one more resets the oldest. */
  maxInFlight?: number;
  /** Bytes one group may have queued that quiche has not taken; past this the group is dropped. */
  maxQueuedBytes?: number;
  /** Priority of the newest group's stream (RFC 9218: lower urgency is more urgent). */
  priority?: StreamPriority;
  /** Priority a group drops to once a newer group starts, so the newest always goes first. */
  demoted?: StreamPriority;
  /** Application code for the RESET_STREAM of a dropped group. */
  dropCode?: number;
}

interface Group {
  readonly sequence: number;
  stream: SendStream | undefined;
  /** Writes made before the stream opened. */
  pending: Uint8Array[];
  ended: boolean;
  dropped: boolean;
}

/**
 * "One stream per group, newest first" for live media over WebTransport:
 * each group (a GOP) goes on its own unidirectional stream, newer groups at
 * a higher priority, and a group that is still not through when later ones
 * start is reset instead of queued, so a slow receiver skips ahead to the
 * newest group rather than falling further behind.
 */
export class GroupSender {
  private readonly groups: Group[] = [];
  private readonly maxInFlight: number;
  private readonly maxQueuedBytes: number;
  /** Groups reset before they were through. */
  dropped = 0;
  private closed = false;

  constructor(
    private readonly session: UniStreamOpener,
    private readonly o: GroupSenderOptions = {},
  ) {
    this.maxInFlight = o.maxInFlight ?? 2;
    this.maxQueuedBytes = o.maxQueuedBytes ?? 4 * 1024 * 1024;
  }

  /** The group being written, if any (undefined after a drop until the next `startGroup`). */
  get current(): number | undefined {
    const g = this.groups.at(-1);
    return g !== undefined && !g.dropped && !g.ended ? g.sequence : undefined;
  }

  /** Opens the stream for a new group, ends the current one, and drops groups beyond `maxInFlight`. */
  startGroup(sequence: number, header: Uint8Array): void {
    if (this.closed) return;
    const previous = this.groups.at(-1);
    if (previous !== undefined) {
      this.endGroup(previous);
      const d = this.o.demoted;
      if (d !== undefined && previous.stream !== undefined && !previous.dropped) {
        try {
          previous.stream.setPriority(d.urgency ?? 5, d.incremental ?? false);
        } catch {
          // Already gone.
        }
      }
    }
    const group: Group = { sequence, stream: undefined, pending: [header], ended: false, dropped: false };
    this.groups.push(group);
    while (this.groups.length > this.maxInFlight) this.drop(this.groups.shift()!);
    this.session.createUniStream(this.o.priority).then(
      (stream) => {
        if (group.dropped || this.closed) {
          stream.abort(this.o.dropCode ?? 0);
          return;
        }
        group.stream = stream;
        // A newer group started while this stream was opening: it goes second.
        const d = this.o.demoted;
        if (d !== undefined && this.groups.at(-1) !== group) stream.setPriority(d.urgency ?? 5, d.incremental ?? false);
        for (const chunk of group.pending.splice(0)) this.send(group, chunk);
        if (group.ended) this.finish(group);
      },
      () => this.forget(group),
    );
  }

  /** Appends bytes to the current group; ignored when there is none (dropped, or not started). */
  write(bytes: Uint8Array): void {
    const group = this.groups.at(-1);
    if (group === undefined || group.ended || group.dropped) return;
    if (group.stream === undefined) group.pending.push(bytes);
    else this.send(group, bytes);
  }

  /** Ends the current group (FIN) without starting another. */
  endCurrent(): void {
    const group = this.groups.at(-1);
    if (group !== undefined) this.endGroup(group);
  }

  /** Drops everything in flight. */
  close(): void {
    this.closed = true;
    for (const g of this.groups.splice(0)) if (!g.ended) this.drop(g);
  }

  private send(group: Group, bytes: Uint8Array): void {
    const stream = group.stream!;
    if (stream.bufferedAmount + bytes.byteLength > this.maxQueuedBytes) {
      // The receiver cannot keep up even with this one group: give it up, the next keyframe starts fresh.
      this.drop(group);
      return;
    }
    // Failure shows in `end`'s promise (or the next group's drop): no promise per frame and session.
    stream.send(bytes);
  }

  private endGroup(group: Group): void {
    if (group.ended || group.dropped) return;
    group.ended = true;
    if (group.stream !== undefined) this.finish(group);
  }

  private finish(group: Group): void {
    group.stream!.end().then(
      () => {
        // Through to quiche; it stays "in flight" (resettable) until newer groups push it out.
      },
      () => this.forget(group),
    );
  }

  private drop(group: Group): void {
    if (group.dropped) return;
    group.dropped = true;
    group.pending = [];
    // A group the receiver already has in full is no loss; `abort` says whether anything was left.
    let lost = group.stream === undefined;
    try {
      if (group.stream !== undefined) lost = group.stream.abort(this.o.dropCode ?? 0);
    } catch {
      lost = false;
    }
    if (lost) this.dropped++;
    this.forget(group);
  }

  private forget(group: Group): void {
    const i = this.groups.indexOf(group);
    if (i >= 0 && group !== this.groups.at(-1)) this.groups.splice(i, 1);
  }
}
