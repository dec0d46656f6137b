import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * The player page as the build leaves it (`npm test` builds first): it
 * names every chunk player.js imports, so the browser fetches them beside
 * player.js instead of after parsing it, and those chunks (named by their
 * content) may be cached for good.
 */
let srv: TestServer;

beforeAll(async () => {
  srv = await startServer();
});

afterAll(async () => {
  await srv?.stop();
});

describe('the player page', () => {
  it('preloads the chunks player.js imports, which are cacheable for good; player.js revalidates', async () => {
    const page = await fetch(srv.httpUrl('/live/cam/'));
    expect(page.status).toBe(200);
    const html = await page.text();
    const preloads = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]!);
    expect(preloads.length).toBeGreaterThan(0);
    const player = await fetch(srv.httpUrl('/dist/player.js'));
    const source = await player.text();
    expect(player.headers.get('cache-control')).toBe('no-cache');
    for (const href of preloads) {
      expect(href).toMatch(/^\/dist\/chunks\/[\w.-]+\.js$/);
      // Every preloaded chunk is one player.js imports by name: a stale list would fetch what nothing uses.
      expect(source).toContain(`./${href.slice('/dist/'.length)}`);
      const chunk = await fetch(srv.httpUrl(href));
      expect(chunk.status, href).toBe(200);
      expect(chunk.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      await chunk.arrayBuffer();
    }
  });
});
