import { describe, expect, it } from 'vitest';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import { publish } from '../helpers/ffmpeg.js';
import { NalClient } from '../helpers/nal-client.js';
import { waitFor, wsOutcome } from '../helpers/ops.js';
import { startServer } from '../helpers/server.js';

describe('graceful shutdown', () => {
  it("stops accepting, delivers the publisher's last frames to readers, then closes them with 1001", async () => {
    const srv = await startServer('paths:\n  all_others:\n');
    const pub = publish(srv.rtmpUrl('live/cam'), { size: '320x240', rate: 25 });
    try {
      await waitFor(() => srv.server.paths.get('live/cam')?.stream?.ready === true, 20_000, 'publish');
      const viewer = new NalClient(srv.wsUrl('live/cam'));
      await viewer.until(() => viewer.video.length >= 10, 15_000, 'frames');
      // An in-process reader sees every frame the stream fans out, synchronously.
      let lastDts = -1;
      let frames = 0;
      const sink: ReaderSink = {
        writable: () => true,
        write: (frame) => {
          if (frame.kind === 'video') {
            lastDts = frame.dts;
            frames++;
          }
        },
        describe: () => undefined,
        offline: () => undefined,
      };
      srv.server.paths.get('live/cam')!.addReader(new Reader({ id: 'witness', protocol: 'test', remoteAddress: 'in-process' }, sink, 1024));
      await waitFor(() => frames >= 5, 5000, 'witness frames');

      const stopping = srv.stop();
      // New viewers are refused at once.
      expect(await wsOutcome(srv.wsUrl('live/cam'))).toMatchObject({ opened: false, status: 503 });
      await stopping;
      const closed = await viewer.closed;
      expect(closed).toEqual({ code: 1001, reason: 'server shutting down' });
      // Every frame the publisher got in before the end reached the viewer.
      expect(viewer.video.at(-1)!.dts).toBe(lastDts);
      const order = srv.logs.map((l) => l.msg);
      expect(order.indexOf('publisher disconnected')).toBeLessThan(order.indexOf('Polycast stopped'));
      expect(order.lastIndexOf('viewer disconnected')).toBeGreaterThan(order.indexOf('publisher disconnected'));
    } finally {
      await pub.stop();
      await srv.stop();
    }
  });
});
