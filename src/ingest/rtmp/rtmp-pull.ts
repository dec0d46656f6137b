/**
 * Pulling a path from an RTMP server: an RTMP play client whose FLV tag
 * bodies go through the same tap as a publisher's, so a pulled stream's
 * tracks and frames are exactly those of a published one.
 */
import type { PathFeed } from '../pull/path-feed.js';
import type { PullConnection, PullEvents, PullOptions, Puller } from '../pull/puller.js';
import { mediaLimits } from './connection.js';
import { createMediaTap, type MediaTap } from './flv-tap.js';
import { RtmpPlayClient, type RtmpTarget } from './play-client.js';

export function rtmpPuller(target: RtmpTarget): Puller {
  return (feed, events, options) => pullRtmp(target, feed, events, options);
}

function pullRtmp(target: RtmpTarget, feed: PathFeed, events: PullEvents, o: PullOptions): PullConnection {
  let tap: MediaTap | undefined;
  let over = false;
  const fail = (reason: string) => {
    if (over) return;
    over = true;
    client.close();
    events.closed(reason);
  };
  const client: RtmpPlayClient = new RtmpPlayClient(
    { target, limits: mediaLimits(o.maxMessageSize), readTimeoutMs: o.readTimeoutMs },
    {
      playing: () => events.established(),
      media: (type, timestamp, body) => {
        if (over) return;
        // A stream begins with the first tag after play (or after the origin's publisher came back).
        if (tap === undefined || feed.stream === null) {
          const stream = feed.begin();
          tap = createMediaTap(feed.path, stream, {
            fatal: fail,
            refuse: fail,
            ignored: (reason) => o.log.warn({ source: target.display, reason }, 'ignoring a track Polycast cannot carry'),
          });
        }
        tap.message(type, timestamp, body);
      },
      unpublished: () => {
        tap = undefined;
        feed.end(`the origin's publisher left (${target.display})`);
      },
      closed: (reason) => {
        if (over) return;
        over = true;
        events.closed(reason);
      },
    },
  );
  return {
    close: () => {
      over = true;
      client.close();
    },
  };
}
