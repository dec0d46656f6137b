/**
 * A lean `wt-fmp4` viewer for load runs, on the shared QUIC/HTTP/3/
 * WebTransport client of wt-client.ts (quiche's native binding, one
 * connection per session).
 *
 * Stream bytes are parsed in place in the read buffer shared by every reader
 * of the process, and media segments are counted, not kept: the only
 * allocations per packet are the ones the binding makes for its return
 * values. Many readers can live in one process.
 *
 * Each group's first video segment is the keyframe: its arrival is stamped
 * with the segment's decode time in ms (tfdt / 90). That is the shared fMP4
 * writer's timeline, whose origin (the first frame it muxed) is not on the
 * wire: the FLV timestamp is `ms + origin`, and wt-fanout.ts finds the
 * origin once per run by lining the arrivals up with the sink's stamps.
 */
import { STREAM_READ, WtClientSession, type WtClientState, type WtClientTarget } from './wt-client.js';

export type WtReaderState = WtClientState;
export type WtReaderTarget = WtClientTarget;

export interface WtReaderEvents {
  open?(reader: WtReader): void;
  end?(reader: WtReader): void;
  /** A JSON control message (`hello`, `init`, `offline`, `stats`, `pong`). */
  control?(reader: WtReader, message: { type?: unknown; [key: string]: unknown }): void;
  /** A video media segment; `first` is the first one of its group, i.e. the keyframe. */
  video?(reader: WtReader, first: boolean): void;
}

/**
 * Bytes kept from the start of each media segment: moof header (8), mfhd
 * (16), traf header (8), tfhd (16, track_ID at 44), then tfdt version 1
 * (12, then the u64 baseMediaDecodeTime at 60). Polycast writes one track
 * per segment (src/mux/fmp4), video as track 1.
 */
const SEGMENT_HEAD = 68;
const TRACK_ID_AT = 44;
const DECODE_TIME_AT = 60;
const VIDEO_TRACK_ID = 1;
/** Video timescale of src/mux/fmp4 (VIDEO_TIMESCALE): ticks per ms. */
const VIDEO_TICKS_PER_MS = 90;
/** wt-fmp4 framing (docs/protocols/wt-fmp4.md). */
const KIND_CONTROL = 0x01;
const KIND_GROUP = 0x02;
const RECORD_JSON = 0x01;
const RECORD_INIT = 0x02;
const RECORD_SEGMENT = 0x03;
/** A control record larger than this is not a JSON control message. */
const MAX_JSON_RECORD = 64 * 1024;

type Phase = 'kind' | 'group-head' | 'record-head' | 'record-body';

/** Parse state of one server stream after its WebTransport header, advanced byte range by byte range. */
class FmpStream {
  phase: Phase = 'kind';
  readonly small = new Uint8Array(8);
  have = 0;
  need = 1;
  kind = 0;
  recordType = 0;
  remaining = 0;
  json: Uint8Array | undefined;
  jsonAt = 0;
  readonly segment = new Uint8Array(SEGMENT_HEAD);
  segmentAt = 0;
  segmentsInGroup = 0;
}

export class WtReader extends WtClientSession<FmpStream> {
  videoFrames = 0;
  audioFrames = 0;
  groups = 0;
  /** Group streams the server reset before their end (a GOP given up for this viewer). */
  groupsReset = 0;
  inits = 0;
  controlMessages = 0;

  constructor(
    target: WtReaderTarget,
    private readonly events: WtReaderEvents = {},
    connectTimeoutMs = 10_000,
  ) {
    super(target, connectTimeoutMs);
  }

  protected override onOpen(): void {
    this.events.open?.(this);
  }

  protected override onEnd(): void {
    this.events.end?.(this);
  }

  protected override newStream(): FmpStream {
    return new FmpStream();
  }

  protected override onStreamReset(_id: number, s: FmpStream | undefined): void {
    if (s !== undefined && s.kind === KIND_GROUP) this.groupsReset++;
  }

  protected override onStreamData(_id: number, s: FmpStream, from: number, n: number): void {
    let i = from;
    while (i < n && this.state !== 'failed') {
      switch (s.phase) {
        case 'kind':
          s.kind = STREAM_READ[i++]!;
          if (s.kind === KIND_GROUP) {
            s.phase = 'group-head';
            s.need = 8;
            this.groups++;
          } else if (s.kind === KIND_CONTROL) {
            s.phase = 'record-head';
            s.need = 5;
          } else this.finish('failed', `unknown wt-fmp4 stream kind 0x${s.kind.toString(16)}`);
          break;
        case 'group-head':
          i = this.fill(s, i, n);
          if (s.have < s.need) break;
          // generation and sequence are not needed to count frames.
          s.have = 0;
          s.need = 5;
          s.phase = 'record-head';
          break;
        case 'record-head':
          i = this.fill(s, i, n);
          if (s.have < s.need) break;
          s.have = 0;
          s.recordType = s.small[0]!;
          s.remaining = ((s.small[1]! << 24) | (s.small[2]! << 16) | (s.small[3]! << 8) | s.small[4]!) >>> 0;
          if (s.recordType === RECORD_JSON) {
            if (s.remaining > MAX_JSON_RECORD) {
              this.finish('failed', `control record of ${s.remaining} bytes`);
              break;
            }
            s.json = new Uint8Array(s.remaining);
            s.jsonAt = 0;
          }
          s.segmentAt = 0;
          s.phase = 'record-body';
          if (s.remaining === 0) this.endRecord(s);
          break;
        case 'record-body': {
          const take = Math.min(s.remaining, n - i);
          if (s.recordType === RECORD_JSON) {
            s.json!.set(STREAM_READ.subarray(i, i + take), s.jsonAt);
            s.jsonAt += take;
          } else if (s.recordType === RECORD_SEGMENT && s.segmentAt < SEGMENT_HEAD) {
            const keep = Math.min(take, SEGMENT_HEAD - s.segmentAt);
            s.segment.set(STREAM_READ.subarray(i, i + keep), s.segmentAt);
            s.segmentAt += keep;
          }
          i += take;
          s.remaining -= take;
          if (s.remaining === 0) this.endRecord(s);
          break;
        }
      }
    }
  }

  private fill(s: FmpStream, i: number, n: number): number {
    while (s.have < s.need && i < n) s.small[s.have++] = STREAM_READ[i++]!;
    return i;
  }

  private endRecord(s: FmpStream): void {
    s.phase = 'record-head';
    s.need = 5;
    if (s.recordType === RECORD_SEGMENT) {
      const g = s.segment;
      const track = s.segmentAt >= TRACK_ID_AT + 4 ? ((g[TRACK_ID_AT]! << 24) | (g[TRACK_ID_AT + 1]! << 16) | (g[TRACK_ID_AT + 2]! << 8) | g[TRACK_ID_AT + 3]!) >>> 0 : 0;
      if (track === VIDEO_TRACK_ID) {
        this.videoFrames++;
        const first = s.kind === KIND_GROUP && s.segmentsInGroup === 0;
        if (first && s.segmentAt >= DECODE_TIME_AT + 8) {
          const high = ((g[DECODE_TIME_AT]! << 24) | (g[DECODE_TIME_AT + 1]! << 16) | (g[DECODE_TIME_AT + 2]! << 8) | g[DECODE_TIME_AT + 3]!) >>> 0;
          const low = ((g[DECODE_TIME_AT + 4]! << 24) | (g[DECODE_TIME_AT + 5]! << 16) | (g[DECODE_TIME_AT + 6]! << 8) | g[DECODE_TIME_AT + 7]!) >>> 0;
          this.recordKeyframe(Math.round((high * 0x1_0000_0000 + low) / VIDEO_TICKS_PER_MS));
        }
        this.events.video?.(this, s.segmentsInGroup === 0);
        s.segmentsInGroup++;
      } else this.audioFrames++;
    } else if (s.recordType === RECORD_INIT) {
      this.inits++;
    } else if (s.recordType === RECORD_JSON) {
      const bytes = s.json!;
      s.json = undefined;
      this.controlMessages++;
      let message: { type?: unknown; [key: string]: unknown };
      try {
        message = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as typeof message;
      } catch {
        this.finish('failed', 'a control record is not JSON');
        return;
      }
      this.events.control?.(this, message);
    }
  }
}
