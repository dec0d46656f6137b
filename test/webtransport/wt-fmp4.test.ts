import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WtFmp4Transport } from '../../transports/wt-fmp4/server.js';
import { launchChromium, type Browser } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let browser: Browser;
const publishers: Publisher[] = [];

interface PageResult {
  control: Array<Record<string, unknown>>;
  inits: number;
  groups: Array<{ generation: number; sequence: number; records: number; firstSync: boolean; error?: string }>;
  currentTime: number;
  frames: number;
  error?: string;
}

/**
 * Runs a wt-fmp4 client in the page: reads the control stream and group
 * streams, plays through MSE, optionally leaves group streams unread for a
 * while (a slow reader).
 */
const client = async ({ url, hashHex, seconds, stallMs }: { url: string; hashHex: string; seconds: number; stallMs: number }): Promise<PageResult> => {
  const out: PageResult = { control: [], inits: 0, groups: [], currentTime: 0, frames: 0 };
  const hash = new Uint8Array(hashHex.match(/../g)!.map((h) => parseInt(h, 16)));
  const wt = new WebTransport(url, { serverCertificateHashes: [{ algorithm: 'sha-256', value: hash }] });
  await wt.ready;
  const video = document.createElement('video');
  video.muted = true;
  document.body.append(video);
  const ms = new MediaSource();
  video.src = URL.createObjectURL(ms);
  await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
  let sb: SourceBuffer | undefined;
  const queue: Uint8Array[] = [];
  const pump = () => {
    if (!sb || sb.updating || queue.length === 0 || ms.readyState !== 'open') return;
    sb.appendBuffer(queue.shift()! as Uint8Array<ArrayBuffer>);
  };
  let mime = '';
  let newest = -1;
  let appending: number | undefined;
  const held = new Map<number, Uint8Array[]>();
  const stallUntil = performance.now() + stallMs;
  const readRecords = async (stream: ReadableStream<Uint8Array>, onKind: (kind: number, head: DataView) => number, onRecord: (type: number, payload: Uint8Array) => void) => {
    const r = stream.getReader();
    let buf = new Uint8Array(0);
    let headerDone = false;
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf);
      joined.set(value, buf.length);
      let at = 0;
      if (!headerDone) {
        const need = onKind(joined[0]!, new DataView(joined.buffer));
        if (joined.length < need) { buf = joined; continue; }
        at = need;
        headerDone = true;
      }
      while (joined.length - at >= 5) {
        const len = new DataView(joined.buffer, at + 1, 4).getUint32(0);
        if (joined.length - at - 5 < len) break;
        onRecord(joined[at]!, joined.slice(at + 5, at + 5 + len));
        at += 5 + len;
      }
      buf = joined.slice(at);
    }
  };
  const streams = wt.incomingUnidirectionalStreams.getReader();
  void (async () => {
    for (;;) {
      const { value: stream, done } = await streams.read();
      if (done) return;
      void (async () => {
        let group: PageResult['groups'][number] | undefined;
        // A slow reader: group streams are left alone for a while.
        const peek = stream.getReader();
        const first = await peek.read();
        peek.releaseLock();
        const kind = first.value?.[0];
        if (kind === 0x02 && performance.now() < stallUntil) await new Promise((r) => setTimeout(r, stallUntil - performance.now()));
        const rest = new ReadableStream<Uint8Array>({
          start(c) { if (first.value) c.enqueue(first.value); },
          async pull(c) {
            const rr = stream.getReader();
            try {
              const { value, done } = await rr.read();
              if (done) c.close(); else c.enqueue(value);
            } catch (e) { c.error(e); } finally { rr.releaseLock(); }
          },
        });
        try {
          await readRecords(
            rest,
            (k, view) => {
              if (k === 0x02) {
                if (view.byteLength < 9) return 9;
                group = { generation: view.getUint32(1), sequence: view.getUint32(5), records: 0, firstSync: false };
                out.groups.push(group);
                newest = Math.max(newest, group.sequence);
                return 9;
              }
              return 1;
            },
            (type, payload) => {
              if (type === 0x01) {
                const msg = JSON.parse(new TextDecoder().decode(payload));
                out.control.push(msg);
                if (msg.type === 'init') mime = msg.mime;
              } else if (type === 0x02) {
                out.inits++;
                if (!sb) {
                  sb = ms.addSourceBuffer(mime);
                  sb.addEventListener('updateend', pump);
                  sb.addEventListener('error', () => { out.error ??= `SourceBuffer error, media error ${video.error?.code}: ${video.error?.message}`; });
                  // QUIC streams are independent: a GOP's records can come before the control
                  // stream's first init segment, and MSE needs the init segment first.
                  queue.unshift(payload);
                } else {
                  queue.push(payload);
                }
                pump();
              } else if (type === 0x03 && group) {
                if (group.records === 0) {
                  // trun first-sample flags: is_non_sync bit clear means a sync sample.
                  const s = new TextDecoder('latin1').decode(payload.slice(0, 200));
                  const at = s.indexOf('trun') - 4;
                  const dv = new DataView(payload.buffer);
                  const flags = dv.getUint32(at + 8) & 0xffffff;
                  let p = at + 16;
                  if (flags & 1) p += 4;
                  if (flags & 0x100) p += 4;
                  if (flags & 0x200) p += 4;
                  group.firstSync = ((dv.getUint32(p) >>> 16) & 1) === 0;
                }
                group.records++;
                // GOPs go to MSE one after another, in order: a newer GOP's segments wait
                // until the one being appended has ended (its stream finished or was reset).
                if (appending === undefined) appending = group.sequence;
                if (group.sequence === appending) {
                  queue.push(payload);
                  pump();
                } else if (group.sequence > appending) {
                  (held.get(group.sequence) ?? held.set(group.sequence, []).get(group.sequence)!).push(payload);
                }
              }
            },
          );
        } catch (e) {
          if (group) group.error = String(e);
        }
        if (group !== undefined && group.sequence === appending) {
          const next = [...held.keys()].sort((x, y) => x - y)[0];
          appending = next;
          if (next !== undefined) {
            queue.push(...held.get(next)!);
            held.delete(next);
            pump();
          }
        }
      })();
    }
  })();
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 200));
    // Groups from parallel streams can interleave here (this client is deliberately naive),
    // and MSE may then give up on the SourceBuffer: that must not abort the measurement.
    try {
      if (sb && ms.readyState === 'open' && sb.buffered.length > 0 && video.paused) {
        video.currentTime = sb.buffered.start(0);
        void video.play().catch(() => undefined);
      }
    } catch (e) {
      out.error = String(e);
    }
  }
  out.currentTime = video.currentTime;
  out.frames = video.getVideoPlaybackQuality().totalVideoFrames;
  wt.close();
  return out;
};

beforeAll(async () => {
  srv = await startServer('paths:\n  ~^live/.+$:\n', { webTransport: true });
  publishers.push(publish(srv.rtmpUrl('live/wt'), { size: '640x360' }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(publishers.map((p) => p.stop()));
  await srv?.stop();
});

const wtTransport = () => srv.server.transports.find((t) => t.name === 'wt-fmp4') as WtFmp4Transport;

describe('wt-fmp4 over WebTransport in Chromium', () => {
  it('delivers init on the control stream and one stream per GOP that MSE plays', async () => {
    const hashHex = await (await fetch(srv.httpUrl('/certificate.sha256'))).text();
    expect(hashHex).toMatch(/^[0-9a-f]{64}$/);
    const page = await browser.context.newPage();
    await page.goto(srv.httpUrl('/'));
    const result = (await page.evaluate(client, { url: srv.wtUrl('/live/wt/wt/fmp4'), hashHex, seconds: 5, stallMs: 0 })) as PageResult;
    expect(result.control[0]).toMatchObject({ type: 'hello', path: 'live/wt' });
    const init = result.control.find((m) => m.type === 'init')!;
    expect(init.mime).toMatch(/^video\/mp4; codecs="avc1\.[0-9a-f]{6}, mp4a\.40\.2"$/);
    expect(result.inits).toBeGreaterThanOrEqual(1);
    expect(result.groups.length).toBeGreaterThanOrEqual(3);
    for (const g of result.groups) expect(g.firstSync).toBe(true);
    const seqs = result.groups.map((g) => g.sequence);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
    const why = JSON.stringify({ error: result.error, groups: result.groups.slice(0, 4), inits: result.inits });
    expect(result.currentTime, why).toBeGreaterThan(1);
    expect(result.frames, why).toBeGreaterThan(20);
    await page.close();
  });

  it('a reader that stops reading skips to the newest GOP instead of queueing', async () => {
    publishers.push(
      publish(srv.rtmpUrl('live/wt-slow'), {
        inputArgs: ['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30,noise=alls=80:allf=t'],
        audio: false,
        gop: 15,
        videoArgs: ['-b:v', '30M', '-maxrate', '30M', '-bufsize', '8M'],
      }),
    );
    await new Promise((r) => setTimeout(r, 1500));
    const hashHex = await (await fetch(srv.httpUrl('/certificate.sha256'))).text();
    const page = await browser.context.newPage();
    await page.goto(srv.httpUrl('/'));
    const before = wtTransport().groupsDropped;
    const started = Date.now();
    const result = (await page.evaluate(client, { url: srv.wtUrl('/live/wt-slow/wt/fmp4'), hashHex, seconds: 14, stallMs: 9000 })) as PageResult;
    const elapsedGroups = ((Date.now() - started) / 1000) * 2; // a GOP every 0.5 s
    expect(wtTransport().groupsDropped).toBeGreaterThan(before);
    // Groups that were reset never complete in the page.
    expect(result.groups.some((g) => g.error !== undefined)).toBe(true);
    // The newest group the page saw is close to live: sequences kept advancing with the stream.
    const newest = Math.max(...result.groups.map((g) => g.sequence));
    expect(newest).toBeGreaterThan(elapsedGroups - 8);
    await page.close();
  }, 60_000);

  it('rotates its generated certificate without dropping a live session', async () => {
    const oldHash = await (await fetch(srv.httpUrl('/certificate.sha256'))).text();
    const page = await browser.context.newPage();
    await page.goto(srv.httpUrl('/'));
    const live = page.evaluate(client, { url: srv.wtUrl('/live/wt/wt/fmp4'), hashHex: oldHash, seconds: 6, stallMs: 0 });
    await new Promise((r) => setTimeout(r, 2000));
    srv.server.webTransport!.rotate();
    const newHash = await (await fetch(srv.httpUrl('/certificate.sha256'))).text();
    expect(newHash).not.toBe(oldHash);
    const result = (await live) as PageResult;
    // Groups kept coming after the rotation (the session spans it: 6 s at a GOP per second).
    expect(result.groups.length).toBeGreaterThanOrEqual(5);
    const page2 = await browser.context.newPage();
    await page2.goto(srv.httpUrl('/'));
    const fresh = (await page2.evaluate(client, { url: srv.wtUrl('/live/wt/wt/fmp4'), hashHex: newHash, seconds: 2, stallMs: 0 })) as PageResult;
    expect(fresh.groups.length).toBeGreaterThanOrEqual(1);
    await page.close();
    await page2.close();
  });

  it('refuses an unknown path with 404 and closes a session that sends garbage, leaving others', async () => {
    const hashHex = await (await fetch(srv.httpUrl('/certificate.sha256'))).text();
    const page = await browser.context.newPage();
    await page.goto(srv.httpUrl('/'));
    const outcome = await page.evaluate(async ({ url, bad, hashHex }) => {
      const hash = new Uint8Array(hashHex.match(/../g)!.map((h) => parseInt(h, 16)));
      const opts = { serverCertificateHashes: [{ algorithm: 'sha-256', value: hash }] };
      const missing = new WebTransport(bad, opts);
      const missingResult = await missing.ready.then(() => 'ready', (e) => `rejected: ${e}`);
      const wt = new WebTransport(url, opts);
      await wt.ready;
      const s = await wt.createUnidirectionalStream();
      const w = s.getWriter();
      await w.write(new Uint8Array([0x03, 0x01, 0, 0, 0, 5, 0x7b, 0x78, 0x78, 0x78, 0x7d]));
      const closed = await wt.closed.then((i) => i, (e) => ({ error: String(e) }));
      return { missingResult, closed };
    }, { url: srv.wtUrl('/live/wt/wt/fmp4'), bad: srv.wtUrl('/nope/x/wt/fmp4'), hashHex });
    expect(outcome.missingResult).toMatch(/^rejected/);
    // The server closed that session for a protocol error. The browser normally sees the
    // close capsule (code 1); on a loaded machine the QUIC connection may go first.
    expect(srv.logs.some((l) => l.msg === 'closing WebTransport viewer: protocol error')).toBe(true);
    const closed = outcome.closed as { closeCode?: number; error?: string };
    if (closed.error === undefined) expect(closed).toMatchObject({ closeCode: 1 });
    else expect(closed.error).toMatch(/WebTransportError/);
    // The stream keeps playing for a new session.
    const again = (await page.evaluate(client, { url: srv.wtUrl('/live/wt/wt/fmp4'), hashHex, seconds: 3, stallMs: 0 })) as PageResult;
    expect(again.groups.length).toBeGreaterThanOrEqual(1);
    await page.close();
  });
});
