/** Synthetic streams for the HLS unit tests: real track configurations, frames on a regular clock. */
import pino from 'pino';
import { Path } from '../../src/stream/path.js';
import type { AacTrackInfo, Frame, H264TrackInfo, StreamDescription } from '../../src/stream/types.js';
import { HlsMuxer, type MuxerSettings } from '../../transports/hls/muxer.js';

// avcC and ASC of an ffmpeg test clip (libx264 320x240 High, AAC-LC 48 kHz stereo).
const AVCC = Uint8Array.from(Buffer.from('0164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000468ef8fcbfdf8f800', 'hex'));
const ASC = Uint8Array.from([0x11, 0x90, 0x56, 0xe5, 0x00]);

export const video: H264TrackInfo = { kind: 'video', codec: 'h264', codecString: 'avc1.64000d', width: 320, height: 240, avcC: AVCC, sps: [], pps: [], nalLengthSize: 4 };
export const audio: AacTrackInfo = { kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, samplesPerFrame: 1024, asc: ASC };
export const description: StreamDescription = { path: 'test', video, audio };

export interface StreamShape {
  /** Frames per second. */
  fps?: number;
  /** Frames per GOP. */
  gop?: number;
  audio?: boolean;
  /** Publisher clock at the first frame (µs). */
  startUs?: number;
  bytesPerFrame?: number;
}

/**
 * `seconds` of interleaved video and audio in dts order, with millisecond
 * timestamps as FLV carries them. Wall clock (ms) = 1.7e12 + publisher clock.
 */
export function frames(seconds: number, shape: StreamShape = {}): Frame[] {
  const fps = shape.fps ?? 30;
  const gop = shape.gop ?? fps;
  const start = shape.startUs ?? 0;
  const size = shape.bytesPerFrame ?? 100;
  const out: Frame[] = [];
  const ms = (us: number) => Math.round(us / 1000) * 1000;
  for (let i = 0; i < seconds * fps; i++) {
    const dts = start + ms((i * 1_000_000) / fps);
    out.push({ kind: 'video', dts, pts: dts, key: i % gop === 0, data: new Uint8Array(size).fill(i % 256), receivedAt: 1.7e12 + dts / 1000 });
  }
  if (shape.audio ?? true) {
    const step = (1024 * 1_000_000) / 48000;
    for (let i = 0; i * step < seconds * 1_000_000; i++) {
      const dts = start + ms(i * step);
      out.push({ kind: 'audio', dts, pts: dts, key: true, data: new Uint8Array(20), receivedAt: 1.7e12 + dts / 1000 });
    }
  }
  // Video before audio at equal timestamps, as an RTMP publisher sends them.
  return out.sort((a, b) => a.dts - b.dts || (a.kind === b.kind ? 0 : a.kind === 'video' ? -1 : 1));
}

export const SETTINGS: MuxerSettings = { lowLatency: true, segmentCount: 7, segmentDurationMs: 1000, partDurationMs: 200, segmentMaxSize: 50 * 1024 * 1024, maxHeld: 8 };

export function muxer(settings: Partial<MuxerSettings> = {}): HlsMuxer {
  const path = new Path('test', { maxReaders: 0, overridePublisher: false }, false);
  return new HlsMuxer({ path, id: '0123456789abcdef', settings: { ...SETTINGS, ...settings }, queueSize: 64, log: pino({ level: 'silent' }) });
}
