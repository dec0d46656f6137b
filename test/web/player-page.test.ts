import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { waitFor } from '../helpers/ops.js';
import { fillPlayerPage, STREAM_HINT_MARKER } from '../../src/web/player-page.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * The player page as the build leaves it (`npm test` builds first): its
 * inline script names the chunk that holds the player and every chunk that
 * one imports, so the browser fetches them together instead of one after
 * parsing the other, and those chunks (named by their content) may be cached
 * for good.
 */
let srv: TestServer;
let locked: TestServer;
const publishers: Publisher[] = [];

beforeAll(async () => {
  srv = await startServer();
  // Anyone may publish; reading takes credentials.
  locked = await startServer(
    ['authInternalUsers:', '  - user: any', '    permissions:', '      - action: publish', '  - user: viewer', '    pass: secret', '    permissions:', '      - action: read', 'paths:', '  all_others:', ''].join('\n'),
    { webTransport: true },
  );
  publishers.push(publish(srv.rtmpUrl('live/hinted'), { size: '320x180' }), publish(locked.rtmpUrl('live/hinted'), { size: '320x180' }));
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await srv?.stop();
  await locked?.stop();
});

const HINT = /<script type="application\/json" id="polycast-stream">(.*?)<\/script>/;

/** The page once the server has a picture size for the path (ffmpeg needs a moment to connect). */
async function livePage(server: TestServer, path: string): Promise<string> {
  let html = '';
  await waitFor(async () => HINT.test((html = await (await fetch(server.httpUrl(`/${path}/`))).text())), 20_000, `a stream hint in the page of ${path}`);
  return html;
}

async function pathReady(server: TestServer, path: string): Promise<boolean> {
  const listing = (await (await fetch(server.httpUrl('/_api/paths'))).json()) as { items: Array<{ name: string; ready: boolean }> };
  return listing.items.some((i) => i.name === path && i.ready);
}

describe('the player page', () => {
  it("names the player's chunks for its inline script, which are those player.js imports and cacheable for good; player.js revalidates", async () => {
    const page = await fetch(srv.httpUrl('/live/cam/'));
    expect(page.status).toBe(200);
    const html = await page.text();
    // No module script of its own: the inline script runs the player once the first picture is up (public/src/early.ts).
    expect(html).not.toMatch(/<script[^>]+type="module"/);
    const named = /\{main:"([^"]+)",imports:\[([^\]]*)\]/.exec(html);
    expect(named).not.toBeNull();
    const main = named![1]!;
    const imports = [...named![2]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
    expect(imports.length).toBeGreaterThan(0);
    const player = await fetch(srv.httpUrl('/dist/player.js'));
    const source = await player.text();
    expect(player.headers.get('cache-control')).toBe('no-cache');
    // player.js is the same code: it re-exports the main chunk.
    expect(source).toContain(`./${main.slice('/dist/'.length)}`);
    for (const href of [main, ...imports]) {
      expect(href).toMatch(/^\/dist\/chunks\/[\w.-]+\.js$/);
      const chunk = await fetch(srv.httpUrl(href));
      expect(chunk.status, href).toBe(200);
      expect(chunk.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const code = await chunk.text();
      // Every import named is one the main chunk really imports: a stale list would fetch what nothing uses.
      if (href !== main) expect((await (await fetch(srv.httpUrl(main))).text())).toContain(`./${href.slice('/dist/chunks/'.length)}`);
      expect(code.length).toBeGreaterThan(0);
    }
  });

  it("carries the live stream's video codec and size for the head script, and its moq catalog, and is tagged by its content", async () => {
    const html = await livePage(srv, 'live/hinted');
    const hint = JSON.parse(HINT.exec(html)![1]!) as unknown;
    const codec = expect.stringMatching(/^avc1\.[0-9a-f]{6}$/);
    expect(hint).toEqual({
      video: { codec, codedWidth: 320, codedHeight: 180 },
      // What /moq's catalog track would say first, the avcC and AudioSpecificConfig included.
      moqCatalog: {
        video: { renditions: { video: { codec, container: { kind: 'legacy' }, description: expect.stringMatching(/^01[0-9a-f]+$/), codedWidth: 320, codedHeight: 180, optimizeForLatency: true } } },
        audio: { renditions: { audio: { codec: 'mp4a.40.2', container: { kind: 'legacy' }, description: expect.stringMatching(/^[0-9a-f]{4,}$/), sampleRate: 48000, numberOfChannels: 1 } } },
      },
    });
    // Before the page's inline script, which reads it.
    expect(html.indexOf('id="polycast-stream"')).toBeLessThan(html.indexOf('<script>'));
    const first = await fetch(srv.httpUrl('/live/hinted/'));
    const tag = first.headers.get('etag');
    expect(tag).toMatch(/^"[\w-]+"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    await first.text();
    const again = await fetch(srv.httpUrl('/live/hinted/'), { headers: { 'if-none-match': tag! } });
    expect(again.status).toBe(304);
    // A path with nothing published says nothing, and so is another page.
    const idle = await fetch(srv.httpUrl('/live/idle/'));
    expect(HINT.test(await idle.text())).toBe(false);
    expect(idle.headers.get('etag')).not.toBe(tag);
  });

  it("says nothing of a stream that takes credentials to read, and carries the WebTransport certificate's hash", async () => {
    await waitFor(() => pathReady(locked, 'live/hinted'), 20_000, 'live/hinted on the locked server');
    const html = await (await fetch(locked.httpUrl('/live/hinted/'))).text();
    const served = (await (await fetch(locked.httpUrl('/certificate.sha256'))).text()).trim();
    expect(served).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(HINT.exec(html)![1]!)).toEqual({ certificateSha256: served });
  });

  it('cannot be made to close its script element by what the hint holds', () => {
    const html = fillPlayerPage(`<head>${STREAM_HINT_MARKER}</head>`, { video: { codec: '</script><script>alert(1)</script>', codedWidth: 1, codedHeight: 1 } });
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    expect(JSON.parse(HINT.exec(html)![1]!).video.codec).toBe('</script><script>alert(1)</script>');
  });
});
