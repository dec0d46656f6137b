/**
 * `<moq-watch>` (@moq/watch with its @moq/net) in headless Firefox ESR: over
 * whatever @moq/net picks there, and over the WebSocket (QMux) once the page
 * has no WebTransport. Pictures are checked on the canvas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MoqTransport } from '../../transports/moq/server.js';
import type { Engine, EnginePage } from '../helpers/engine-page.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { launchFirefox } from '../helpers/firefox.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startWatchPages, type Sample, type WatchPages } from './watch-page.js';

let srv: TestServer;
let pub: Publisher;
let pages: WatchPages;
let firefox: Engine;
let moq: MoqTransport;

beforeAll(async () => {
  srv = await startServer('paths:\n  live/cam:\n', { webTransport: true });
  moq = srv.server.transports.find((t) => t.name === 'moq') as MoqTransport;
  pub = publish(srv.rtmpUrl('live/cam'), { gop: 30 });
  pages = await startWatchPages(srv.webPort, 'live/cam');
  firefox = await launchFirefox({});
});

afterAll(async () => {
  await firefox?.close();
  await pages?.close();
  await pub?.stop();
  await srv?.stop();
});

describe('<moq-watch> in headless Firefox', () => {
  it.each(['as it comes', 'without WebTransport'])('plays a Polycast path (%s)', async (how) => {
    let page: EnginePage | undefined;
    try {
      page = await firefox.open('about:blank');
      if (how === 'without WebTransport') {
        // Navigating to a page that deletes WebTransport before @moq/net loads, from the page's own first script.
        await page.goto(`${pages.url}?nowt`);
      } else await page.goto(pages.url);
      const first = await page.waitFor<Sample | false>(
        // A picture, not a black canvas: the watch element may show one black frame while it sizes its canvas.
        "() => { const s = window.sample(); return s.status === 'live' && s.frames >= 30 && s.litFraction > 0.8 ? s : false; }",
        null,
        30_000,
        'the first second of video, lit',
      );
      expect(first).not.toBe(false);
      const s = first as Sample;
      expect([s.width, s.height]).toEqual([640, 360]);
      expect(s.litFraction).toBeGreaterThan(0.8);
      const later = await page.waitFor<Sample | false>(
        `() => { const s = window.sample(); return s.frames >= ${s.frames + 30} && s.hash !== ${s.hash} ? s : false; }`,
        null,
        10_000,
        'more frames',
      );
      expect(later).not.toBe(false);
      // @moq/watch 0.4.6 brings @moq/net 0.2.8, which turns WebTransport off on every Firefox: WebSocket either way.
      expect([...moq.sessions].map((x) => [x.binding, x.negotiatedVersion])).toEqual([['websocket', 'moq-lite-05']]);
    } finally {
      await page?.close();
      const deadline = Date.now() + 10_000;
      while (moq.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('@moq/net 0.3.4 connects by itself and reads keyframe groups', async () => {
    const page = await firefox.open(pages.netUrl);
    try {
      const result = await page.waitFor<{ version?: string; groups?: number; error?: string } | false>(
        '() => window.netResult ?? false',
        null,
        30_000,
        '@moq/net to read three groups',
      );
      expect(result).toMatchObject({ groups: 3 });
      // WebTransport gets a 500 ms head start on Firefox 153+ and wins on loopback. Firefox sends no
      // wt-available-protocols, so no version is pinned there and the compat setup settles on lite-02;
      // over the WebSocket the subprotocol would pin lite-05.
      const sessions = [...moq.sessions].map((x) => [x.binding, x.negotiatedVersion]);
      expect(sessions).toHaveLength(1);
      expect([JSON.stringify(['webtransport', 'moq-lite-02']), JSON.stringify(['websocket', 'moq-lite-05'])]).toContain(JSON.stringify(sessions[0]));
      expect(result).toMatchObject({ version: sessions[0]![1] });
      console.log(`${firefox.version}, @moq/net 0.3.4: ${sessions[0]!.join(', ')}`);
    } finally {
      await page.close();
    }
  });
});
