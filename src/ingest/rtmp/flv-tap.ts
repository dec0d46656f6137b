import { Av1Error, stripTemporalDelimiters } from '../../codec/av1.js';
import { parseFlvPayload, type FlvTag, type FlvTrackRef } from '../../codec/flv.js';
import { parseVp9Keyframe, vp9TrackInfo, Vp9Error } from '../../codec/vp9.js';
import type { Path } from '../../stream/path.js';
import type { Stream } from '../../stream/stream.js';
import type { Frame, TrackKind } from '../../stream/types.js';
import { CodecGate, unsupportedText } from './codec-gate.js';
import { audioTrackOfConfig, CONFIG_NAME, MODEL_CODEC, videoTrackOfConfig } from './track-configs.js';

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

type VideoTag = Extract<FlvTag, { type: 'video' }>;

/**
 * Turns a publisher's RTMP media messages (FLV tag bodies, RTMP 1.0 §7.1.5,
 * the FLV spec's annex E and enhanced RTMP) into the stream model's tracks
 * and frames. Message bodies come from the chunk reader as buffers of their
 * own, so frames keep views into them without copying.
 */
export function createMediaTap(path: Path, stream: Stream, events: TapEvents): MediaTap {
  const reported = new Set<string>();
  const gate = new CodecGate();
  const once = (reason: string) => {
    if (reported.has(reason)) return;
    reported.add(reason);
    events.ignored(reason);
  };
  /** Multitrack publishes: the one track id carried per kind, the first one seen. */
  const carriedTrack: Partial<Record<TrackKind, number>> = {};
  /** A VP9 record waiting for the keyframe that states the picture size. */
  let pendingVpcC: Uint8Array | undefined;

  const isCarried = (kind: TrackKind, track: FlvTrackRef | undefined): boolean => {
    if (track === undefined) return true;
    const ignore = (id: number) => once(`${kind} track ${id} of the multitrack publish is ignored: Polycast carries one ${kind} track (the first, track ${carriedTrack[kind]})`);
    carriedTrack[kind] ??= track.id;
    for (const id of track.ignored) if (id !== carriedTrack[kind]) ignore(id);
    if (track.id === carriedTrack[kind]) return true;
    ignore(track.id);
    return false;
  };

  /** A sequence start's track; a configuration that does not parse ends the publisher, with the reason. */
  const configured = <T>(codec: keyof typeof CONFIG_NAME, parse: () => T): T | undefined => {
    try {
      const track = parse();
      gate.accepted();
      return track;
    } catch (err) {
      events.fatal(`invalid ${CONFIG_NAME[codec]}: ${(err as Error).message}`);
      return undefined;
    }
  };

  const write = (frame: Frame) => {
    if (stream.write(frame)) path.markReady(stream);
  };

  /** The frame's payload in the stream model's format, or undefined when it must be dropped. */
  const videoData = (tag: VideoTag): Uint8Array | undefined => {
    const configured = stream.description.video?.codec;
    const codec = MODEL_CODEC[tag.codec];
    if (tag.codec === 'vp09' && tag.key && (pendingVpcC !== undefined || configured === 'vp9')) {
      if (!describeVp9(tag.data)) return undefined;
    } else if (configured !== codec) {
      once(`${codec} video frames before (or without) their sequence start are dropped`);
      return undefined;
    }
    if (tag.codec !== 'av01') return tag.data;
    try {
      // AV1 in the stream model is MP4's sample format: temporal delimiters are left out.
      return stripTemporalDelimiters(tag.data);
    } catch (err) {
      if (!(err instanceof Av1Error)) throw err;
      once(`invalid AV1 temporal unit dropped: ${err.message}`);
      return undefined;
    }
  };

  /**
   * A frame flagged as a VP9 keyframe: the track starts at the first one
   * (the record has no picture size) and is described again when one states
   * a new size. False when the frame is dropped: a broken header (one bad
   * frame must not end the publish), or no keyframe header before the track
   * exists, when nothing could decode it yet.
   */
  const describeVp9 = (frame: Uint8Array): boolean => {
    const current = stream.description.video;
    const vpcC = pendingVpcC ?? (current?.codec === 'vp9' ? current.vpcC : undefined);
    if (vpcC === undefined) return false;
    let key;
    try {
      key = parseVp9Keyframe(frame);
    } catch (err) {
      if (!(err instanceof Vp9Error)) throw err;
      once(`VP9 frame dropped: ${err.message}`);
      return false;
    }
    // An encoder's intra-only frame flagged as key: fine inside a running track.
    if (key === undefined) return pendingVpcC === undefined;
    if (pendingVpcC === undefined && current?.width === key.width && current.height === key.height) return true;
    try {
      stream.setTrack(vp9TrackInfo(vpcC, frame));
    } catch (err) {
      if (!(err instanceof Vp9Error)) throw err;
      events.fatal(`invalid ${CONFIG_NAME.vp09}: ${err.message}`);
      return false;
    }
    pendingVpcC = undefined;
    return true;
  };

  return {
    message(type, timestamp, body) {
      const tag = parseFlvPayload(type, timestamp, body);
      switch (tag.type) {
        case 'video-config': {
          if (!isCarried('video', tag.track)) return;
          const track = configured(tag.codec, () => videoTrackOfConfig(tag.codec, tag.config));
          if (track === undefined) return;
          if ('kind' in track) {
            pendingVpcC = undefined;
            stream.setTrack(track);
          } else {
            pendingVpcC = track.vpcC;
          }
          return;
        }
        case 'audio-config': {
          if (!isCarried('audio', tag.track)) return;
          const track = configured(tag.codec, () => audioTrackOfConfig(tag.codec, tag.config));
          if (track !== undefined) stream.setTrack(track);
          return;
        }
        case 'video': {
          if (!isCarried('video', tag.track)) return;
          const data = videoData(tag);
          if (data === undefined) return;
          write({ kind: 'video', dts: tag.timestamp * 1000, pts: (tag.timestamp + tag.compositionTime) * 1000, key: tag.key, data, receivedAt: wallClockMs() });
          return;
        }
        case 'audio': {
          if (!isCarried('audio', tag.track)) return;
          if (stream.description.audio?.codec !== MODEL_CODEC[tag.codec]) {
            once(`${MODEL_CODEC[tag.codec]} audio frames before (or without) their sequence start are dropped`);
            return;
          }
          const us = tag.timestamp * 1000;
          write({ kind: 'audio', dts: us, pts: us, key: true, data: tag.data, receivedAt: wallClockMs() });
          return;
        }
        case 'script':
          if (tag.name === 'onMetaData' || tag.name === '@setDataFrame') gate.metadata(tag.data);
          return;
        case 'unsupported': {
          if (tag.codec === undefined) {
            once(tag.reason);
            return;
          }
          const refusal = gate.unsupported(tag.codec);
          if (refusal !== undefined) events.refuse(refusal);
          else once(unsupportedText(tag.codec));
          return;
        }
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
