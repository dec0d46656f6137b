import { createInitSegment, FragmentWriter, mseMimeType } from '../../src/mux/fmp4/index.js';
import { serializeOnce, type Frame, type StreamDescription } from '../../src/stream/types.js';

/**
 * The fMP4 bytes of one stream description, shared by every viewer of this
 * transport: init segments are built once per description, and each frame's
 * one-frame media segment once, whatever the number of viewers.
 */
export interface StreamSegments {
  readonly id: number;
  readonly combinedInit: Uint8Array;
  readonly combinedMime: string;
  readonly videoInit?: Uint8Array;
  readonly audioInit?: Uint8Array;
  readonly videoMime?: string;
  readonly audioMime?: string;
  /** One-frame media segment for `frame` on the stream's shared timeline. */
  segment(frame: Frame): Uint8Array;
}

const cache = new WeakMap<StreamDescription, StreamSegments>();
let nextId = 1;

export function segmentsFor(desc: StreamDescription): StreamSegments {
  let s = cache.get(desc);
  if (s === undefined) {
    s = build(desc);
    cache.set(desc, s);
  }
  return s;
}

function build(desc: StreamDescription): StreamSegments {
  const { video, audio } = desc;
  const id = nextId++;
  // One writer per description: its decode-time origin and sequence numbers
  // are shared, so a frame's segment is the same bytes for every viewer.
  const writer = new FragmentWriter({ video, audio });
  const key = `fmp4:${id}`;
  return {
    id,
    combinedInit: createInitSegment({ video, audio }),
    combinedMime: mseMimeType({ video, audio }),
    videoInit: video && createInitSegment({ video }),
    audioInit: audio && createInitSegment({ audio }),
    videoMime: video && mseMimeType({ video }),
    audioMime: audio && mseMimeType({ audio }),
    segment: (frame) => serializeOnce(frame, key, (f) => writer.fragment(f.kind, [f])),
  };
}

/**
 * Batches frames into N-frame segments for one viewer (`webSocketSegmentSize`
 * > 1). Fewer, bigger messages at the cost of N−1 frames of latency, so each
 * viewer has its own writer.
 */
export class SegmentBatcher {
  private readonly writer: FragmentWriter;
  private pending: { video: Frame[]; audio: Frame[] } = { video: [], audio: [] };

  constructor(
    desc: StreamDescription,
    private readonly size: number,
  ) {
    this.writer = new FragmentWriter({ video: desc.video, audio: desc.audio });
  }

  /** Adds a frame; returns a segment when its track has `size` frames. */
  push(frame: Frame): Uint8Array | undefined {
    const list = this.pending[frame.kind];
    // A keyframe starts a new segment so a viewer can always start or resume at one.
    if (frame.kind === 'video' && frame.key && list.length > 0) {
      const out = this.writer.fragment('video', list);
      this.pending.video = [frame];
      return out;
    }
    list.push(frame);
    if (list.length < this.size) return undefined;
    this.pending[frame.kind] = [];
    return this.writer.fragment(frame.kind, list);
  }
}
