/**
 * How each video codec is fed to the snapshot decoder's ffmpeg on stdin: a
 * demuxer that needs no probing and the bytes for each frame. NAL-unit
 * codecs go as Annex B elementary streams with their parameter sets before
 * every keyframe (a decoder started mid-stream joins there); AV1 and VP9,
 * which have no start codes to delimit frames, go inside IVF.
 *
 * An elementary stream is read with no probing and unbuffered (`-probesize
 * 32 -avioflags direct`), so each frame reaches the decoder as it is
 * written. IVF must not be: its demuxer reads its header in pieces that a
 * direct pipe returns short ("Invalid frame rate"), and a 32-byte probe
 * makes the AV1 parser split temporal units. It needs no probing anyway,
 * since its header names the codec and size.
 */
import { avccToAnnexB } from '../../src/codec/h264.js';
import { hevcToAnnexB } from '../../src/codec/hevc.js';
import { ivfFrame, ivfHeader } from '../../src/codec/ivf.js';
import type { Frame, VideoTrackInfo } from '../../src/stream/types.js';

export interface DecoderInput {
  /** ffmpeg input options before `-i pipe:0`. */
  readonly args: readonly string[];
  /** Bytes before the first frame (a container header). */
  readonly header?: Uint8Array;
  /** A frame's bytes on the decoder's stdin. */
  frame(frame: Frame): Uint8Array;
}

const ELEMENTARY = ['-probesize', '32', '-avioflags', 'direct'] as const;

export function decoderInputFor(video: VideoTrackInfo): DecoderInput {
  switch (video.codec) {
    case 'h264':
      return { args: [...ELEMENTARY, '-f', 'h264'], frame: (f) => avccToAnnexB(f.data, video.nalLengthSize, f.key ? [...video.sps, ...video.pps] : undefined) };
    case 'h265':
      return { args: [...ELEMENTARY, '-f', 'hevc'], frame: (f) => hevcToAnnexB(f.data, video.nalLengthSize, f.key ? [...video.vps, ...video.sps, ...video.pps] : undefined) };
    case 'av1':
      return { args: ['-f', 'ivf'], header: ivfHeader('AV01', video.width, video.height), frame: (f) => ivfFrame(f.data, f.pts / 1000) };
    case 'vp9':
      return { args: ['-f', 'ivf'], header: ivfHeader('VP90', video.width, video.height), frame: (f) => ivfFrame(f.data, f.pts / 1000) };
  }
}
