/**
 * The reference clock of every latency in the bench: ffmpeg's tee muxer
 * writes the same FLV it sends to the server to this TCP sink, and the sink
 * notes when each video keyframe tag has fully arrived. A reader's latency
 * for a keyframe is its own arrival time minus this one, both taken the same
 * way (message complete) with the same clock.
 */
import net from 'node:net';
import { flvTimestamp, isFlvVideoKeyframe } from './ws-wire.js';

const FLV_HEADER = 9;
const TAG_HEADER = 11;
const PREVIOUS_TAG_SIZE = 4;
/** A tag larger than this is corruption, not video. */
const MAX_TAG = 16 * 1024 * 1024;

export const wallClock = (): number => performance.timeOrigin + performance.now();

type State = 'file-header' | 'skip' | 'tag-header' | 'body';

/** Incremental FLV reader that reports each complete video keyframe tag (not the AVC sequence header) by its timestamp. */
export class FlvKeyframeScanner {
  private state: State = 'file-header';
  private readonly header = new Uint8Array(TAG_HEADER);
  private have = 0;
  private skip = 0;
  private bodyLeft = 0;
  private bodyRead = 0;
  private tagType = 0;
  private tagMs = 0;
  private b0 = 0;
  private b1 = 0;
  private failed: string | undefined;
  tags = 0;

  constructor(private readonly onKeyframe: (ms: number, at: number) => void) {}

  get error(): string | undefined {
    return this.failed;
  }

  /** `at` is the arrival time of this chunk, given to every keyframe that completes in it. */
  push(buf: Uint8Array, at: number): void {
    let i = 0;
    const end = buf.length;
    while (i < end && this.failed === undefined) {
      switch (this.state) {
        case 'file-header': {
          while (this.have < FLV_HEADER && i < end) this.header[this.have++] = buf[i++]!;
          if (this.have < FLV_HEADER) return;
          const h = this.header;
          if (h[0] !== 0x46 || h[1] !== 0x4c || h[2] !== 0x56) {
            this.failed = 'not an FLV stream';
            return;
          }
          const dataOffset = ((h[5]! << 24) | (h[6]! << 16) | (h[7]! << 8) | h[8]!) >>> 0;
          if (dataOffset < FLV_HEADER || dataOffset > 1024) {
            this.failed = `implausible FLV data offset ${dataOffset}`;
            return;
          }
          this.skip = dataOffset - FLV_HEADER + PREVIOUS_TAG_SIZE;
          this.have = 0;
          this.state = 'skip';
          break;
        }
        case 'skip': {
          const take = Math.min(this.skip, end - i);
          i += take;
          this.skip -= take;
          if (this.skip === 0) this.state = 'tag-header';
          break;
        }
        case 'tag-header': {
          while (this.have < TAG_HEADER && i < end) this.header[this.have++] = buf[i++]!;
          if (this.have < TAG_HEADER) return;
          const h = this.header;
          this.have = 0;
          this.tagType = h[0]! & 0x1f;
          this.bodyLeft = (h[1]! << 16) | (h[2]! << 8) | h[3]!;
          if (this.bodyLeft > MAX_TAG) {
            this.failed = `FLV tag of ${this.bodyLeft} bytes`;
            return;
          }
          this.tagMs = flvTimestamp(h, 4);
          this.bodyRead = 0;
          this.state = 'body';
          if (this.bodyLeft === 0) this.endTag(at);
          break;
        }
        case 'body': {
          const take = Math.min(this.bodyLeft, end - i);
          if (this.bodyRead === 0 && take > 0) this.b0 = buf[i]!;
          if (this.bodyRead <= 1 && this.bodyRead + take > 1) this.b1 = buf[i + 1 - this.bodyRead]!;
          this.bodyRead += take;
          this.bodyLeft -= take;
          i += take;
          if (this.bodyLeft === 0) this.endTag(at);
          break;
        }
      }
    }
  }

  private endTag(at: number): void {
    this.tags++;
    if (this.tagType === 9 && this.bodyRead >= 2 && isFlvVideoKeyframe(this.b0, this.b1)) this.onKeyframe(this.tagMs, at);
    this.skip = PREVIOUS_TAG_SIZE;
    this.state = 'skip';
  }
}

/** Keyframe stamps of the current publish, by FLV timestamp (ms). */
export class ReferenceSink {
  readonly stamps = new Map<number, number>();
  /** Stamps in arrival order, for windows and colour matching. */
  readonly order: Array<{ ms: number; at: number }> = [];
  private readonly server = net.createServer((socket) => this.accept(socket));
  private current: net.Socket | undefined;
  private scannerError: string | undefined;

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  get error(): string | undefined {
    return this.scannerError;
  }

  /** Stamps with `from <= at <= to`. */
  between(from: number, to: number): Array<{ ms: number; at: number }> {
    return this.order.filter((s) => s.at >= from && s.at <= to);
  }

  async close(): Promise<void> {
    this.current?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    // One publisher at a time: a new connection is a restarted ffmpeg, and its timestamps start over.
    this.current?.destroy();
    this.current = socket;
    this.stamps.clear();
    this.order.length = 0;
    const scanner = new FlvKeyframeScanner((ms, at) => {
      this.stamps.set(ms, at);
      this.order.push({ ms, at });
    });
    socket.on('data', (chunk: Buffer) => {
      scanner.push(chunk, wallClock());
      if (scanner.error !== undefined && this.scannerError === undefined) {
        this.scannerError = scanner.error;
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
  }
}
