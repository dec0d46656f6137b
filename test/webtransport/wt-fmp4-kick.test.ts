import { afterAll, beforeAll, expect, it } from 'vitest';
import { WtReader } from '../../bench/wt-reader.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { waitFor } from '../helpers/ops.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * A wt-fmp4 reader the path ends (its transport failed, the path was
 * removed, an API kick) must see its session closed with a code, not be left
 * open with no media: wt-fmp4 had no `kick`, so the reader was only detached.
 */

let srv: TestServer;
let publisher: Publisher;

beforeAll(async () => {
  srv = await startServer('paths:\n  all_others:\n', { webTransport: true });
  publisher = publish(srv.rtmpUrl('live/kick'), { size: '320x180', gop: 15 });
});

afterAll(async () => {
  await publisher?.stop();
  await srv?.stop();
});

it('closes the session with 500 when the path ends the reader with 1011, and 404 when the path goes', async () => {
  const hash = (await (await fetch(srv.httpUrl('/certificate.sha256'))).text()).trim();
  const open = () => new WtReader({ host: '127.0.0.1', port: srv.webPort, path: '/live/kick/wt/fmp4', certificateSha256: hash });
  const first = open();
  const second = open();
  try {
    await waitFor(() => first.videoFrames > 0 && second.videoFrames > 0, 20_000, 'video on both sessions');
    const path = srv.server.paths.get('live/kick')!;
    const firstReader = [...path.readers].find((r) => r.info.protocol === 'wt-fmp4')!;
    // What the path does when a reader's transport throws (src/stream/path.ts).
    firstReader.kick!('transport failed', 1011);
    await waitFor(() => first.state !== 'open', 5000, 'the first session to close');
    expect(first.closeInfo?.code).toBe(500);
    // The other session goes on.
    const frames = second.videoFrames;
    await waitFor(() => second.videoFrames > frames + 10, 5000, 'more video on the second session');
    path.kickReaders('path removed', 4404);
    await waitFor(() => second.state !== 'open', 5000, 'the second session to close');
    expect(second.closeInfo?.code).toBe(404);
    expect([...path.readers].filter((r) => r.info.protocol === 'wt-fmp4')).toEqual([]);
  } finally {
    first.close();
    second.close();
  }
});
