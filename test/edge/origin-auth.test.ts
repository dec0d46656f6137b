/** An edge pulling from an origin that authenticates its readers: credentials go in the source URL. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { waitFor } from '../helpers/ops.js';
import { startServer, type TestServer } from '../helpers/server.js';

let origin: TestServer;
let edge: TestServer;
let pub: Publisher;

beforeAll(async () => {
  origin = await startServer(
    [
      'authInternalUsers:',
      '  - user: any',
      '    permissions: [{ action: publish }]',
      '  - user: edge',
      '    pass: s3cret',
      '    permissions: [{ action: read }]',
      'paths:',
      '  all_others:',
      '',
    ].join('\n'),
  );
  pub = publish(origin.rtmpUrl('live/x'), { size: '160x120', rate: 25, gop: 25, audio: false });
  const ws = `ws://127.0.0.1:${origin.webPort}`;
  edge = await startServer(
    ['paths:', '  good:', `    source: ${ws.replace('//', '//edge:s3cret@')}/live/x/ws/nal`, '  bad:', `    source: ${ws.replace('//', '//edge:wrong@')}/live/x/ws/nal`, ''].join('\n'),
  );
}, 20_000);

afterAll(async () => {
  await edge?.stop();
  await pub?.stop();
  await origin?.stop();
});

describe('an origin that authenticates its readers', () => {
  it('is pulled with the credentials of the source URL, and refuses wrong ones with a logged reason', async () => {
    await waitFor(() => edge.server.paths.get('good')?.stream?.ready === true, 15_000, 'the path pulled with good credentials');
    await waitFor(() => edge.logs.some((l) => l['msg'] === 'source unreachable, retrying' && l['path'] === 'bad'), 10_000, 'the refusal');
    const refusal = edge.logs.find((l) => l['msg'] === 'source unreachable, retrying' && l['path'] === 'bad')!;
    expect(refusal['reason']).toBe("the origin closed the connection (1008 authentication failed: wrong credentials, or no permission to read 'live/x')");
    // A refusing origin is retried with a growing back-off, not hammered.
    const delays = () => edge.logs.filter((l) => l['path'] === 'bad' && typeof l['retryInMs'] === 'number').map((l) => l['retryInMs'] as number);
    await waitFor(() => delays().length >= 3, 10_000, 'three retries');
    expect(delays().slice(0, 3)).toEqual([500, 1000, 2000]);
    // Credentials never reach the logs.
    expect(JSON.stringify(edge.logs)).not.toContain('s3cret');
    expect(edge.server.paths.get('bad')?.stream ?? null).toBeNull();
  });
});
