/**
 * A page playing a Polycast path in `<moq-watch>` (@moq/watch bundled with
 * esbuild), served from its own origin, with a sampler that reads the canvas
 * back and the element's stats. Shared by the Chromium and Firefox tests.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { bundleForBrowser } from './bundle.js';

export interface Sample {
  width: number;
  height: number;
  /** Share of canvas pixels that are not (near) black. */
  litFraction: number;
  hash: number;
  status: string;
  frames: number;
  /** Media time of the frame on screen, ms. */
  videoMs: number | null;
  audioBytes: number;
}

/** Runs in the page: reads the canvas back and the element's own stats. */
export const SAMPLER = `
window.sample = () => {
  const el = document.querySelector('moq-watch');
  const c = el.querySelector('canvas');
  let lit = 0, hash = 0;
  if (c.width > 0 && c.height > 0) {
    const o = new OffscreenCanvas(c.width, c.height);
    const ctx = o.getContext('2d');
    ctx.drawImage(c, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] + d[i + 1] + d[i + 2] > 60) lit++;
      hash = (Math.imul(hash, 31) + d[i] + d[i + 1] * 7 + d[i + 2] * 13) >>> 0;
    }
  }
  const v = el.video.out, a = el.audio.out;
  return {
    width: c.width, height: c.height, litFraction: c.width ? lit / (c.width * c.height) : 0, hash,
    status: el.broadcast.out.status.peek(),
    frames: v.stats.peek()?.frameCount ?? 0,
    videoMs: v.timestamp.peek() ?? null,
    audioBytes: a.stats.peek()?.bytesReceived ?? 0,
  };
};`;

export interface WatchPages {
  /** `<moq-watch>` playing the path; `?nowt` takes WebTransport away first, for drivers without init scripts. */
  readonly url: string;
  /**
   * @moq/net's own `connect()` (the newest, not the one @moq/watch brings):
   * `window.netResult` becomes `{ version, groups }` after three video
   * groups, each opening with a keyframe, or `{ error }`.
   */
  readonly netUrl: string;
  close(): Promise<void>;
}

const NET_SOURCE = `
import * as Net from '@moq/net';
const params = new URLSearchParams(location.search);
(async () => {
  try {
    const conn = await Net.Connection.connect(new URL(params.get('url')));
    const track = conn.consume(Net.Path.from(params.get('name'))).track('video').subscribe({ priority: 60 });
    let groups = 0;
    while (groups < 3) {
      const group = await track.nextGroup();
      const frame = await group.readFrame();
      const [, avcc] = Net.Varint.decode(frame.payload ?? frame);
      // AVCC: 4-byte lengths, each followed by a NAL unit; a group opens with an IDR picture (type 5).
      const types = [];
      for (let at = 0; at + 4 < avcc.length; at += 4 + ((avcc[at] << 24) | (avcc[at + 1] << 16) | (avcc[at + 2] << 8) | avcc[at + 3])) types.push(avcc[at + 4] & 0x1f);
      if (!types.includes(5)) throw new Error('group without a keyframe first: NAL types ' + types.join(','));
      groups++;
    }
    window.netResult = { version: conn.version, groups };
  } catch (err) {
    window.netResult = { error: String(err) };
  }
})();`;

/** Serves the pages for `name` on Polycast's web port `webPort`. */
export async function startWatchPages(webPort: number, name: string): Promise<WatchPages> {
  const bundles = { w: await bundleForBrowser("import '@moq/watch/element';"), n: await bundleForBrowser(NET_SOURCE) };
  const pages = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/' || url === '/?nowt') {
      res.writeHead(200, { 'content-type': 'text/html' });
      // The http:// URL makes @moq/net fetch /certificate.sha256 and pin it for https:// on the same port.
      res.end(
        `<!doctype html><meta charset="utf-8">${url === '/?nowt' ? '<script>delete globalThis.WebTransport;</script>' : ''}` +
          `<script type="module" src="/w/${bundles.w.entry}"></script>` +
          `<moq-watch url="http://127.0.0.1:${webPort}/moq" name="${name}"><canvas></canvas></moq-watch><script>${SAMPLER}</script>`,
      );
      return;
    }
    if (url.startsWith('/net?')) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><meta charset="utf-8"><script type="module" src="/n/${bundles.n.entry}"></script>`);
      return;
    }
    const bundle = url.startsWith('/w/') ? bundles.w : url.startsWith('/n/') ? bundles.n : undefined;
    const file = bundle === undefined ? '' : normalize(join(bundle.dir, url.slice(3)));
    if (bundle === undefined || !file.startsWith(bundle.dir) || !file.endsWith('.js')) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  return {
    url: `${origin}/`,
    netUrl: `${origin}/net?url=${encodeURIComponent(`http://127.0.0.1:${webPort}/moq`)}&name=${encodeURIComponent(name)}`,
    close: async () => {
      await new Promise((r) => pages.close(r));
      bundles.w.remove();
      bundles.n.remove();
    },
  };
}
