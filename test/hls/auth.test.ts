import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { parsePlaylist, text, variantUri } from './ll-client.js';

let srv: TestServer;
let pub: Publisher;
const base = () => srv.httpUrl('/secret/cam');

beforeAll(async () => {
  srv = await startServer(
    [
      'authMaxFailures: 0',
      'authInternalUsers:',
      '  - user: any',
      '    permissions: [{ action: publish }]',
      '  - user: viewer',
      '    pass: secret',
      '    permissions: [{ action: read }]',
      'paths:',
      '  all_others:',
      '',
    ].join('\n'),
  );
  pub = publish(srv.rtmpUrl('secret/cam'), { gop: 30 });
  const deadline = Date.now() + 15_000;
  while (srv.server.paths.get('secret/cam')?.stream?.ready !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
});

afterAll(async () => {
  await pub?.stop();
  await srv?.stop();
});

describe('HLS authorization', () => {
  it('refuses without credentials (401 and a challenge) and with wrong ones (403), uncached', async () => {
    const none = await text(`${base()}/index.m3u8`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="polycast"');
    expect(none.headers.get('cache-control')).toBe('no-store');
    const wrong = await text(`${base()}/index.m3u8?user=viewer&pass=nope`);
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get('cache-control')).toBe('no-store');
  });

  it('query credentials: playlists are private and hand the credentials on to every URI; media stay shared', async () => {
    const creds = '?user=viewer&pass=secret';
    const index = await text(`${base()}/index.m3u8${creds}`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('private, max-age=1');
    const uri = variantUri(index.body);
    expect(uri).toMatch(/-stream\.m3u8\?user=viewer&pass=secret$/);
    const playlist = await text(`${base()}/${uri}`);
    expect(playlist.status).toBe(200);
    expect(playlist.headers.get('cache-control')).toBe('private, max-age=1');
    const p = parsePlaylist(playlist.body);
    const blocking = await text(`${base()}/${uri}&_HLS_msn=${p.next.msn}&_HLS_part=${p.next.part}`);
    expect(blocking.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
    const part = await fetch(`${base()}/${p.parts[0]!.uri}`);
    expect(part.status).toBe(200);
    expect(part.headers.get('cache-control')).toBe('public, max-age=86400, immutable');
    // The same media name without credentials is refused by the origin (a cache in front serves it by name).
    expect((await fetch(`${base()}/${p.parts[0]!.uri.split('?')[0]}`)).status).toBe(401);
  });

  it('basic authentication works the same, and its playlists are private', async () => {
    const headers = { authorization: `Basic ${Buffer.from('viewer:secret').toString('base64')}` };
    const index = await text(`${base()}/index.m3u8`, { headers });
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('private, max-age=1');
    expect(variantUri(index.body)).toMatch(/^[0-9a-f]{16}-stream\.m3u8$/);
    const init = await fetch(`${base()}/${parsePlaylist((await text(`${base()}/${variantUri(index.body)}`, { headers })).body).maps[0]}`, { headers });
    expect(init.status).toBe(200);
  });
});
