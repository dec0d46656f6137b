import { aacTrackInfo } from '../../codec/aac.js';
import { parseFlvPayload } from '../../codec/flv.js';
import { h264TrackInfo } from '../../codec/h264.js';
import type { Path } from '../../stream/path.js';
import type { Stream } from '../../stream/stream.js';
import type { Frame } from '../../stream/types.js';
import { CodecGate, codecOf, unsupportedText } from './codec-gate.js';

export interface TapEvents {
  /** A problem that makes the publisher unusable (e.g. a corrupt decoder config): the caller ends it. */
  fatal(reason: string): void;
  /** No track of the publish can be carried: the caller refuses the publish with this reason. */
  refuse(reason: string): void;
  /** Something the publisher sends that Polycast ignores (reported once per kind). */
  ignored(reason: string): void;
}

export interface MediaTap {
  /** One audio (8), video (9) or data (18) message of the publish: an FLV tag body. */
  message(type: number, timestamp: number, body: Uint8Array): void;
}

const wallClockMs = (): number => performance.timeOrigin + performance.now();

/**
 * Turns a publisher's RTMP media messages (FLV tag bodies, RTMP 1.0 §7.1.5
 * and the FLV spec's annex E) into the stream model's tracks and frames.
 * Message bodies come from the chunk reader as buffers of their own, so
 * frames keep views into them without copying.
 */
export function createMediaTap(path: Path, stream: Stream, events: TapEvents): MediaTap {
  const reported = new Set<string>();
  const gate = new CodecGate();
  const once = (reason: string) => {
    if (reported.has(reason)) return;
    reported.add(reason);
    events.ignored(reason);
  };

  return {
    message(type, timestamp, body) {
      const codec = codecOf(type, body);
      if (codec !== undefined && !codec.supported) {
        const refusal = gate.unsupported(codec);
        if (refusal !== undefined) events.refuse(refusal);
        else once(unsupportedText(codec));
        return;
      }
      const tag = parseFlvPayload(type, timestamp, body);
      switch (tag.type) {
        case 'video-config':
        case 'audio-config': {
          let track;
          try {
            track = tag.type === 'video-config' ? h264TrackInfo(tag.avcC) : aacTrackInfo(tag.asc);
          } catch (err) {
            events.fatal(`invalid ${tag.type === 'video-config' ? 'H.264 decoder' : 'AAC audio specific'} configuration: ${(err as Error).message}`);
            return;
          }
          gate.accepted();
          stream.setTrack(track);
          return;
        }
        case 'video': {
          const frame: Frame = {
            kind: 'video',
            dts: tag.timestamp * 1000,
            pts: (tag.timestamp + tag.compositionTime) * 1000,
            key: tag.key,
            data: tag.data,
            receivedAt: wallClockMs(),
          };
          if (stream.write(frame)) path.markReady(stream);
          return;
        }
        case 'audio': {
          const us = tag.timestamp * 1000;
          if (stream.write({ kind: 'audio', dts: us, pts: us, key: true, data: tag.data, receivedAt: wallClockMs() })) path.markReady(stream);
          return;
        }
        case 'script':
          if (tag.name === 'onMetaData' || tag.name === '@setDataFrame') gate.metadata(tag.data);
          return;
        case 'unsupported':
        case 'invalid':
          // One bad tag must not end the stream; say so once per kind of problem.
          once(tag.reason);
          return;
        default:
          return;
      }
    },
  };
}
