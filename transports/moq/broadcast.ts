import { randomBytes } from 'node:crypto';
import { GopCache } from '../../src/stream/gop-cache.js';
import type { Path } from '../../src/stream/path.js';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import type { Frame, StreamDescription } from '../../src/stream/types.js';
import type { BroadcastPosition, TrackSubscription } from './tracks.js';

/**
 * One session's view of one broadcast (a Polycast path): a single Reader,
 * however many of the broadcast's tracks the session subscribes to, so a
 * viewer counts once against `maxReaders`.
 *
 * A client subscribes to the media tracks after reading the catalog, a
 * round trip after subscribing to it, or together with it when it already
 * holds a catalog (the player page carries one). The reader's GOP replay
 * may have been delivered before a media subscription arrives, so the
 * viewer keeps its own references to the frames since the newest keyframe
 * and replays them to each media subscription as it arrives: every track
 * starts at the newest group, complete, in either order.
 */
export class BroadcastViewer implements ReaderSink, BroadcastPosition {
  readonly id = randomBytes(4).toString('hex');
  readonly reader: Reader;
  readonly subscriptions = new Set<TrackSubscription>();
  /** Audio group streams flush with the video frame's: one visit, one flush, shared packets. */
  readonly audioRidesWithVideo = true;
  private readonly cache = new GopCache();
  private desc: StreamDescription | undefined;
  gop = 0;

  constructor(
    readonly path: Path,
    remoteAddress: string,
    queueSize: number,
  ) {
    this.reader = new Reader({ id: this.id, protocol: 'moq', remoteAddress }, this, queueSize);
  }

  get description(): StreamDescription | undefined {
    return this.desc;
  }

  add(sub: TrackSubscription): void {
    this.subscriptions.add(sub);
    if (this.desc === undefined) return;
    sub.describe(this.desc);
    for (const frame of this.cache.snapshot()) sub.frame(frame, this);
  }

  remove(sub: TrackSubscription): void {
    this.subscriptions.delete(sub);
    sub.close();
  }

  /** Group senders queue and drop per group; the reader never needs to hold frames back. */
  writable(): boolean {
    return true;
  }

  write(frame: Frame): void {
    if (frame.kind === 'video' && frame.key) this.gop++;
    if (this.desc?.video !== undefined) this.cache.add(frame);
    for (const sub of this.subscriptions) sub.frame(frame, this);
  }

  describe(description: StreamDescription): void {
    if (description.video !== this.desc?.video) this.cache.clear();
    this.desc = description;
    for (const sub of this.subscriptions) sub.describe(description);
  }

  offline(): void {
    this.desc = undefined;
    this.cache.clear();
    for (const sub of this.subscriptions) sub.offline();
  }

  close(): void {
    for (const sub of this.subscriptions) sub.close();
    this.subscriptions.clear();
    this.cache.clear();
  }
}
