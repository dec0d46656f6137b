/**
 * Pulling a path from another Polycast over its `ws-nal` endpoint
 * (docs/protocols/ws-nal.md, "Edges"), without re-muxing: the origin's
 * `init` becomes the tracks, its media messages the frames, with the
 * origin's timestamps. The edge reads like a player: the `ws` client
 * answers the origin's pings, which are both its keep-alive and its pacing.
 */
import WebSocket from 'ws';
import { stripTemporalDelimiters } from '../../codec/av1.js';
import { annexBToAvcc, NalType } from '../../codec/h264.js';
import { hevcNalTypeOfByte, HevcNalType } from '../../codec/hevc.js';
import type { SourceTarget } from '../../config/source.js';
import { FLAG_KEYFRAME, MEDIA_HEADER_SIZE, MSG_AUDIO, MSG_VIDEO, readMediaHeader } from '../../protocols/ws-nal/media-header.js';
import type { Frame, VideoTrackInfo } from '../../stream/types.js';
import type { PathFeed } from '../pull/path-feed.js';
import type { PullConnection, PullEvents, PullOptions, Puller } from '../pull/puller.js';
import { tracksOfInit } from './init-tracks.js';

export type WsNalTarget = Extract<SourceTarget, { protocol: 'ws-nal' }>;

/** The origin puts parameter sets in front of every keyframe; the stream model keeps them in the track, as the ingests do. */
const H264_PARAMETER_SETS: ReadonlySet<number> = new Set([NalType.sps, NalType.pps]);
const HEVC_PARAMETER_SETS: ReadonlySet<number> = new Set([HevcNalType.vps, HevcNalType.sps, HevcNalType.pps]);

/** The ws-nal version edges ask for: version 2 carries every codec of the stream model (version 1 only H.264 and AAC). */
const PULL_VERSION = 2;

const wallClockMs = (): number => performance.timeOrigin + performance.now();

export function wsNalPuller(target: WsNalTarget): Puller {
  return (feed, events, options) => pullWsNal(target, feed, events, options);
}

function pullWsNal(target: WsNalTarget, feed: PathFeed, events: PullEvents, o: PullOptions): PullConnection {
  const ws = new WebSocket(withVersion(target.url), { perMessageDeflate: false, handshakeTimeout: o.readTimeoutMs, maxPayload: o.maxMessageSize });
  let over = false;
  let heardAt = performance.now();
  const finish = () => {
    over = true;
    clearInterval(watchdog);
    ws.removeAllListeners();
    ws.on('error', () => undefined);
    ws.terminate();
  };
  const fail = (reason: string) => {
    if (over) return;
    finish();
    events.closed(reason);
  };
  // A silent origin (a cut link that TCP has not given up on yet) is left after readTimeout; pings from it count.
  const watchdog = setInterval(() => {
    if (performance.now() - heardAt > o.readTimeoutMs) fail(`nothing from the origin for ${o.readTimeoutMs} ms (readTimeout)`);
  }, Math.max(250, Math.min(1000, o.readTimeoutMs / 4)));
  watchdog.unref();

  ws.on('ping', () => (heardAt = performance.now()));
  ws.on('error', (err) => fail(err.message));
  ws.on('close', (code, reason) => fail(`the origin closed the connection (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
  ws.on('message', (data: Buffer, isBinary) => {
    heardAt = performance.now();
    if (over) return;
    try {
      if (isBinary) media(data);
      else text(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
    } catch (err) {
      fail(`the origin sent ${isBinary ? 'media' : 'a message'} Polycast cannot use: ${(err as Error).message}`);
    }
  });

  const text = (message: Record<string, unknown>) => {
    switch (message['type']) {
      case 'hello':
        events.established();
        return;
      case 'init': {
        const tracks = tracksOfInit(message);
        // After `offline` (or at first) this is a new stream; otherwise a track's configuration changed.
        if (feed.stream === null) feed.begin();
        if (tracks.video !== undefined) feed.setTrack(tracks.video);
        if (tracks.audio !== undefined) feed.setTrack(tracks.audio);
        return;
      }
      case 'offline':
        feed.end(`the origin is offline: ${typeof message['reason'] === 'string' ? message['reason'] : 'no reason given'}`);
        return;
      default:
        // pong, stats, and whatever later versions add.
        return;
    }
  };

  const media = (message: Buffer) => {
    // Binary types a later origin may add are not for us.
    if (message[0] !== MSG_VIDEO && message[0] !== MSG_AUDIO) return;
    const header = readMediaHeader(message);
    if ('error' in header) throw new Error(header.error);
    const stream = feed.stream;
    if (stream === null) return;
    const payload = message.subarray(MEDIA_HEADER_SIZE);
    let data: Uint8Array;
    if (header.type === MSG_VIDEO) {
      const video = stream.description.video;
      if (video === undefined) return;
      data = videoFrameData(video, payload);
    } else {
      // A copy: the message may be a view into the socket's read buffer, which a cached frame would keep alive.
      data = payload.slice();
    }
    const frame: Frame = {
      kind: header.type === MSG_VIDEO ? 'video' : 'audio',
      dts: header.dts,
      pts: header.pts,
      key: header.type === MSG_VIDEO ? (header.flags & FLAG_KEYFRAME) !== 0 : true,
      data,
      // This server's clock: what its own readers' latency figures are measured against.
      receivedAt: wallClockMs(),
    };
    feed.write(frame);
  };

  return { close: finish };
}

/** The origin's URL asking for the newest version this edge reads (a `version` already in it is the operator's choice). */
function withVersion(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has('version')) u.searchParams.set('version', String(PULL_VERSION));
  return u.href;
}

/**
 * A video payload as the stream model holds it: NAL units length-prefixed
 * again, and AV1 without temporal delimiters, which the model has no use for.
 */
function videoFrameData(video: VideoTrackInfo, payload: Buffer): Uint8Array {
  switch (video.codec) {
    case 'h264':
      return annexBToAvcc(payload, video.nalLengthSize, H264_PARAMETER_SETS);
    case 'h265':
      return annexBToAvcc(payload, video.nalLengthSize, HEVC_PARAMETER_SETS, hevcNalTypeOfByte);
    case 'av1':
      return stripTemporalDelimiters(payload).slice();
    case 'vp9':
      // A copy, as for audio: the message may be a view into the socket's read buffer.
      return payload.slice();
  }
}
