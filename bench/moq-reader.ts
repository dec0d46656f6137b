/**
 * A lean moq-lite viewer for load runs (docs/protocols/moq.md), on the
 * shared QUIC/HTTP/3/WebTransport client of wt-client.ts: one WebTransport
 * session to `/moq` offering `moq-lite-04` and `moq-lite-03` as
 * subprotocols (no setup exchange then), one SUBSCRIBE stream per track of
 * the broadcast (the path), and group streams read in place and counted.
 *
 * Each video group opens with the keyframe; its hang legacy container starts
 * with the presentation time in µs on the publisher's timeline, which for
 * the bench clip (no B-frames) is the FLV timestamp × 1000. The keyframe's
 * arrival is stamped, once its whole frame is in, by that timestamp in ms,
 * exactly as the ws-nal readers stamp theirs, so latencies match the
 * reference sink's stamps directly.
 */
import { prefixVarint, MessageWriter } from '../transports/moq/wire.js';
import { readVarint, varintLengthFromFirstByte } from '../src/protocols/http3/index.js';
import { STREAM_READ, WtClientSession, type WtClientState, type WtClientTarget } from './wt-client.js';

export type MoqReaderState = WtClientState;

export interface MoqReaderTarget extends WtClientTarget {
  /** The broadcast: a Polycast path, e.g. `live/bench`. */
  broadcast: string;
  /** Subscribe to `audio` besides `video`, as a player does (default true). */
  audio?: boolean;
}

export interface MoqReaderEvents {
  open?(reader: MoqReader): void;
  end?(reader: MoqReader): void;
}

/** moq-lite stream type of a Subscribe stream, and the data type of a group stream. */
const STREAM_SUBSCRIBE = 2;
const DATA_GROUP = 0;
const VIDEO_SUBSCRIPTION = 0;
const AUDIO_SUBSCRIPTION = 1;
/** Subscriber priorities as @moq/watch asks them (ignored by Polycast, which applies its own). */
const VIDEO_PRIORITY = 60;
const AUDIO_PRIORITY = 80;
/** The versions this reader speaks: those chosen by subprotocol, without a setup exchange. */
export const MOQ_PROTOCOLS = ['moq-lite-04', 'moq-lite-03'] as const;
/** A group header message longer than this is not one. */
const MAX_GROUP_HEADER = 64;

const enum Phase {
  DataType,
  HeaderSize,
  Header,
  FrameSize,
  Frame,
  Drain,
}

/** Parse state of one group stream. */
class GroupStream {
  phase = Phase.DataType;
  /** A varint being read, or the group header's bytes. */
  readonly small = new Uint8Array(MAX_GROUP_HEADER);
  have = 0;
  need = 0;
  remaining = 0;
  subscription = -1;
  frames = 0;
}

export class MoqReader extends WtClientSession<GroupStream> {
  videoFrames = 0;
  audioFrames = 0;
  groups = 0;
  /** Group streams the server reset before their end (superseded, code 7). */
  groupsReset = 0;

  constructor(
    target: MoqReaderTarget,
    private readonly events: MoqReaderEvents = {},
    connectTimeoutMs = 10_000,
  ) {
    super({ ...target, protocols: target.protocols ?? MOQ_PROTOCOLS }, connectTimeoutMs);
  }

  protected override onOpen(): void {
    const t = this.target as MoqReaderTarget;
    if (this.protocol !== 'moq-lite-04' && this.protocol !== 'moq-lite-03') {
      this.finish('failed', `the server chose no moq-lite-03/04 subprotocol (${this.protocol ?? 'none'}); the compat setup is not implemented here`);
      return;
    }
    this.subscribe(VIDEO_SUBSCRIPTION, t.broadcast, 'video', VIDEO_PRIORITY);
    if (t.audio !== false) this.subscribe(AUDIO_SUBSCRIPTION, t.broadcast, 'audio', AUDIO_PRIORITY);
    this.events.open?.(this);
  }

  protected override onEnd(): void {
    this.events.end?.(this);
  }

  /** The server refuses a subscription by resetting its stream (docs/protocols/moq.md). */
  protected override onBidiReset(id: number, e: Error): void {
    this.finish('failed', `subscribe stream ${id} reset: ${e.message}`);
  }

  protected override newStream(): GroupStream {
    this.groups++;
    return new GroupStream();
  }

  protected override onStreamReset(_id: number, s: GroupStream | undefined): void {
    if (s !== undefined) this.groupsReset++;
  }

  /** SUBSCRIBE for lite-03/04: id, broadcast, track, priority, ordered, max latency, start and end group (none). */
  private subscribe(id: number, broadcast: string, track: string, priority: number): void {
    const message = new MessageWriter().varint(id).string(broadcast).string(track).u8(priority).bool(false).varint(0).varint(0).varint(0).sized();
    this.openBidi(prefixVarint(STREAM_SUBSCRIBE, message));
  }

  protected override onStreamData(_id: number, s: GroupStream, from: number, n: number): void {
    let i = from;
    while (i < n) {
      switch (s.phase) {
        case Phase.DataType:
        case Phase.HeaderSize:
        case Phase.FrameSize: {
          if (s.have === 0) s.need = varintLengthFromFirstByte(STREAM_READ[i]!);
          while (s.have < s.need && i < n) s.small[s.have++] = STREAM_READ[i++]!;
          if (s.have < s.need) break;
          const value = readVarint(s.small, 0)!.value;
          s.have = 0;
          if (s.phase === Phase.DataType) {
            if (value !== DATA_GROUP) {
              this.finish('failed', `unknown moq-lite data type ${value}`);
              return;
            }
            s.phase = Phase.HeaderSize;
          } else if (s.phase === Phase.HeaderSize) {
            if (value > MAX_GROUP_HEADER || value === 0) {
              this.finish('failed', `group header of ${value} bytes`);
              return;
            }
            s.need = value;
            s.phase = Phase.Header;
          } else {
            s.remaining = value;
            s.phase = Phase.Frame;
            if (value === 0) this.endFrame(s);
          }
          break;
        }
        case Phase.Header: {
          while (s.have < s.need && i < n) s.small[s.have++] = STREAM_READ[i++]!;
          if (s.have < s.need) break;
          const id = readVarint(s.small, 0);
          s.subscription = id === null ? -1 : id.value;
          s.have = 0;
          s.phase = Phase.FrameSize;
          break;
        }
        case Phase.Frame: {
          const take = Math.min(s.remaining, n - i);
          // Only a video group's first frame is looked into: its leading varint is the keyframe's timestamp.
          if (s.frames === 0 && s.subscription === VIDEO_SUBSCRIPTION) {
            const want = s.have === 0 ? varintLengthFromFirstByte(STREAM_READ[i]!) : s.need;
            s.need = want;
            const keep = Math.min(take, want - s.have);
            if (keep > 0) s.small.set(STREAM_READ.subarray(i, i + keep), s.have);
            s.have += Math.max(0, keep);
          }
          i += take;
          s.remaining -= take;
          if (s.remaining === 0) this.endFrame(s);
          break;
        }
        case Phase.Drain:
          i = n;
          break;
      }
    }
  }

  private endFrame(s: GroupStream): void {
    if (s.subscription === VIDEO_SUBSCRIPTION) {
      this.videoFrames++;
      if (s.frames === 0 && s.have > 0 && s.have >= s.need) this.recordKeyframe(Math.round(readVarint(s.small, 0)!.value / 1000));
    } else if (s.subscription === AUDIO_SUBSCRIPTION) this.audioFrames++;
    s.frames++;
    s.have = 0;
    s.phase = Phase.FrameSize;
  }
}
