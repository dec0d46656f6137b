import { aacTrackInfo } from '../../codec/aac.js';
import { FlvDemuxer, type FlvTag } from '../../codec/flv.js';
import { h264TrackInfo } from '../../codec/h264.js';
import type { Path } from '../../stream/path.js';
import type { Stream } from '../../stream/stream.js';
import type { Frame } from '../../stream/types.js';
import { BaseSession, type NmsSession } from './nms.js';

export interface TapEvents {
  /** A problem that makes the publisher unusable (e.g. a corrupt decoder config): the caller ends it. */
  fatal(reason: string): void;
  /** Something the publisher sends that Polycast ignores (logged once per kind). */
  ignored(reason: string): void;
}

const wallClockMs = (): number => performance.timeOrigin + performance.now();

/**
 * An internal reader of node-media-server's broadcast, the same pattern its
 * record session uses: the broadcast hands it FLV tags, it turns them into
 * the stream model's tracks and frames.
 *
 * The library reads the composition time unsigned and parses tags into a
 * reused buffer; going through the FLV tags it builds (a fresh buffer per
 * tag) and our own parser gets both right.
 */
export function createFlvTap(path: Path, stream: Stream, events: TapEvents): NmsSession {
  const tap = new BaseSession();
  tap.protocol = 'flv';
  // An empty ip marks an internal session: the library then emits no play events for it.
  tap.ip = '';
  tap.streamPath = '/' + path.name;

  const ignoredKinds = new Set<string>();

  const onTag = (_raw: Uint8Array, tag: FlvTag): void => {
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
      case 'unsupported':
      case 'invalid':
        // One bad tag must not end the stream; say so once per kind of problem.
        if (!ignoredKinds.has(tag.reason)) {
          ignoredKinds.add(tag.reason);
          events.ignored(tag.reason);
        }
        return;
      default:
        return;
    }
  };

  const demuxer = new FlvDemuxer(onTag);
  tap.sendBuffer = (buffer: Buffer) => {
    try {
      demuxer.push(buffer);
    } catch (err) {
      events.fatal(`unreadable media from publisher: ${(err as Error).message}`);
    }
  };
  return tap;
}
