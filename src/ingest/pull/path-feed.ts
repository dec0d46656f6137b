import type { Path, PublisherInfo } from '../../stream/path.js';
import type { Stream } from '../../stream/stream.js';
import type { Frame, TrackInfo } from '../../stream/types.js';

/**
 * A pull's side of its path: one publish session per stream the origin
 * serves (a new one after the origin's publisher changed or the connection
 * was lost). The path's readers stay attached across them and are described
 * anew, as they are when a publisher restarts.
 */
export class PathFeed {
  private current: Stream | null = null;

  constructor(
    readonly path: Path,
    private readonly publisher: PublisherInfo,
  ) {}

  get stream(): Stream | null {
    return this.current;
  }

  /** Starts a publish session; throws the path's PathError when it refuses (it is being removed). */
  begin(): Stream {
    this.end('the source started a new stream');
    const stream = this.path.startPublish(this.publisher);
    this.current = stream;
    return stream;
  }

  setTrack(track: TrackInfo): void {
    this.current?.setTrack(track);
  }

  write(frame: Frame): void {
    const stream = this.current;
    if (stream !== null && stream.write(frame)) this.path.markReady(stream);
  }

  /** The origin's stream is over: readers are told (`offline`) and wait for the next one. */
  end(reason: string): void {
    const stream = this.current;
    if (stream === null) return;
    this.current = null;
    this.path.endPublish(stream, reason);
  }
}
