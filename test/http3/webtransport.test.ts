/**
 * WebTransportServer against real headless Chromium: session setup and
 * rejection, streams both ways, datagrams, close codes, stream resets and
 * priorities, on each of the two QUIC stacks.
 */
import { createHash } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSelfSignedCertificate,
  WebTransportServer,
  type WebTransportSession,
} from '../../src/protocols/webtransport/index.js';
import type { QuicStack } from '../../src/protocols/webtransport/server.js';
import { launchBrowser, type TestBrowser } from './browser.js';

const cert = generateSelfSignedCertificate();
const MiB = 1024 * 1024;

/** Deterministic bytes, so both ends can check content and not just length. */
function pattern(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of readable as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
  return Buffer.concat(chunks);
}

let browser: TestBrowser;
let server: WebTransportServer;
let page: Page;
const sessions: WebTransportSession[] = [];
const closedSessions: Array<{ path: string; code: number; reason: string }> = [];

function onSession(s: WebTransportSession): void {
  sessions.push(s);
  void s.closed.then((info) => closedSessions.push({ path: s.path, ...info }));
  switch (s.path) {
    case '/echo':
      s.onBidiStream = (stream) => {
        void readAll(stream.readable).then(async (data) => {
          await stream.write(data);
          await stream.end();
        });
      };
      s.onUniStream = (stream) => {
        void readAll(stream.readable).then(async (data) => {
          const back = await s.createUniStream();
          await back.write(data);
          await back.end();
        });
      };
      s.onDatagram = (d) => {
        s.sendDatagram(Buffer.concat([Buffer.from('echo:'), d]));
      };
      break;
    case '/big':
      void (async () => {
        const out = await s.createUniStream();
        const data = pattern(MiB);
        for (let off = 0; off < data.length; off += 64 * 1024) await out.write(data.subarray(off, off + 64 * 1024));
        await out.end();
      })();
      break;
    case '/close':
      setTimeout(() => s.close(4242, 'done here ✓'), 50);
      break;
    case '/abort':
      void (async () => {
        const out = await s.createUniStream();
        await out.write(new Uint8Array(1000));
        setTimeout(() => out.abort(7), 50);
      })();
      break;
    case '/server-bidi':
      void (async () => {
        const st = await s.createBidiStream();
        await st.write(Buffer.from('ping'));
        await st.end();
        const reply = Buffer.from(await readAll(st.readable)).toString();
        s.sendDatagram(Buffer.from(`got:${reply}`));
      })();
      break;
    case '/upload':
      // A slow reader: the receive queue fills, reads from quiche pause, and flow control holds the browser back.
      s.onUniStream = (stream) => {
        void (async () => {
          const hash = createHash('sha256');
          let length = 0;
          for await (const c of stream.readable as unknown as AsyncIterable<Uint8Array>) {
            hash.update(c);
            length += c.length;
            await new Promise((r) => setTimeout(r, 2));
          }
          const back = await s.createUniStream();
          await back.write(Buffer.from(`${length}:${hash.digest('hex')}`));
          await back.end();
        })();
      };
      break;
    case '/many':
      // More streams than the browser's initial MAX_STREAMS (about 100): openers must wait for credit.
      void (async () => {
        for (let i = 0; i < 250; i++) {
          const out = await s.createUniStream();
          void out.write(Uint8Array.of(i & 0xff, i >> 8)).then(() => out.end());
        }
      })();
      break;
    case '/priority':
      void (async () => {
        // Opened first but least urgent: it should still finish last.
        const slow = await s.createUniStream({ urgency: 7 });
        const fast = await s.createUniStream({ urgency: 0 });
        const size = 768 * 1024;
        void slow.write(pattern(size, 1)).then(() => slow.end());
        void fast.write(pattern(size, 2)).then(() => fast.end());
      })();
      break;
  }
}

beforeAll(async () => {
  browser = await launchBrowser();
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
});

async function startServer(quic: QuicStack): Promise<void> {
  server = new WebTransportServer({
    host: '127.0.0.1',
    port: 0,
    cert: cert.certPem,
    key: cert.keyPem,
    quic,
    onRequest: ({ path, origin }) => {
      if (origin !== browser.origin) return { status: 403 };
      return { status: ['/echo', '/big', '/close', '/abort', '/server-bidi', '/priority', '/upload', '/many'].includes(path) ? 200 : 404 };
    },
  });
  expect(server.quicStack, server.quicStackWhy).toBe(quic);
  server.on('session', onSession);
  await server.listen();
}

/** Runs `body` in the page with `wt` connected to `path`; returns what it returns. */
async function inPage<T>(path: string, body: string): Promise<T> {
  const { port } = server.address();
  const fn = new Function(
    'args',
    `return (async () => {
      const wt = new WebTransport('https://127.0.0.1:' + args.port + args.path, {
        serverCertificateHashes: [{ algorithm: 'sha-256', value: new Uint8Array(args.hash) }],
      });
      ${body}
    })();`,
  ) as (args: unknown) => Promise<T>;
  return page.evaluate(fn, { port, path, hash: [...cert.sha256] });
}

// Both QUIC stacks: ngtcp2 (the default) and quiche (where native/quic-ngtcp2 is not built).
describe.each(['ngtcp2', 'quiche'] as const)('WebTransport in Chromium, QUIC on %s', (quic) => {
  beforeAll(() => startServer(quic));
  afterAll(() => server?.close());

  it('establishes a session, passing path and origin to the decision callback', async () => {
    const before = sessions.length;
    const r = await inPage<string>('/echo', `await wt.ready; wt.close(); return 'ready';`);
    expect(r).toBe('ready');
    const s = sessions[before]!;
    expect(s.path).toBe('/echo');
    expect(s.request.origin).toBe(browser.origin);
    expect(s.request.authority).toBe(`127.0.0.1:${server.address().port}`);
  });

  it('rejects wt.ready for a path the callback answers 404', async () => {
    const r = await inPage<string>('/nope', `try { await wt.ready; return 'ready'; } catch (e) { return 'rejected:' + e.name; }`);
    expect(r).toBe('rejected:WebTransportError');
  });

  it('delivers 1 MiB intact on a server-opened unidirectional stream', async () => {
    const r = await inPage<{ length: number; sha256: string }>(
      '/big',
      `await wt.ready;
      const reader = wt.incomingUnidirectionalStreams.getReader();
      const { value: stream } = await reader.read();
      const chunks = []; let length = 0;
      for await (const c of stream) { chunks.push(c); length += c.byteLength; }
      const all = new Uint8Array(length); let off = 0;
      for (const c of chunks) { all.set(c, off); off += c.byteLength; }
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
      wt.close();
      return { length, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('') };`,
    );
    expect(r.length).toBe(MiB);
    expect(r.sha256).toBe(createHash('sha256').update(pattern(MiB)).digest('hex'));
  });

  it('echoes a client bidirectional stream and a client unidirectional stream', async () => {
    const r = await inPage<{ bidi: string; uni: string }>(
      '/echo',
      `await wt.ready;
      const enc = new TextEncoder(), dec = new TextDecoder();
      const readText = async (rs) => { let t = ''; for await (const c of rs) t += dec.decode(c, { stream: true }); return t; };
      const bidi = await wt.createBidirectionalStream();
      const w = bidi.writable.getWriter();
      await w.write(enc.encode('hello '.repeat(20000)));
      await w.close();
      const bidiText = await readText(bidi.readable);
      const uni = await wt.createUnidirectionalStream();
      const uw = uni.getWriter();
      await uw.write(enc.encode('one way'));
      await uw.close();
      const { value: back } = await wt.incomingUnidirectionalStreams.getReader().read();
      const uniText = await readText(back);
      wt.close();
      return { bidi: bidiText, uni: uniText };`,
    );
    expect(r.bidi).toBe('hello '.repeat(20000));
    expect(r.uni).toBe('one way');
  });

  it('takes a 4 MiB upload through a slow reader without loss (receive flow control)', async () => {
    const r = await inPage<{ mine: string; theirs: string }>(
      '/upload',
      `await wt.ready;
      const data = new Uint8Array(4 * 1024 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
      const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', data))].map((b) => b.toString(16).padStart(2, '0')).join('');
      const st = await wt.createUnidirectionalStream();
      const w = st.getWriter();
      for (let off = 0; off < data.length; off += 256 * 1024) await w.write(data.subarray(off, off + 256 * 1024));
      await w.close();
      const { value: back } = await wt.incomingUnidirectionalStreams.getReader().read();
      let text = ''; for await (const c of back) text += new TextDecoder().decode(c);
      wt.close();
      return { mine: data.length + ':' + digest, theirs: text };`,
    );
    expect(r.theirs).toBe(r.mine);
  });

  it('carries datagrams both ways', async () => {
    const r = await inPage<string>(
      '/echo',
      `await wt.ready;
      const writer = wt.datagrams.writable.getWriter();
      const reader = wt.datagrams.readable.getReader();
      // Datagrams may be lost: keep sending until one echo comes back.
      const timer = setInterval(() => writer.write(new TextEncoder().encode('dg')), 50);
      const { value } = await reader.read();
      clearInterval(timer);
      wt.close();
      return new TextDecoder().decode(value);`,
    );
    expect(r).toBe('echo:dg');
  });

  it('opens a server bidirectional stream and reads the reply', async () => {
    const r = await inPage<string>(
      '/server-bidi',
      `await wt.ready;
      const { value: st } = await wt.incomingBidirectionalStreams.getReader().read();
      let text = ''; for await (const c of st.readable) text += new TextDecoder().decode(c);
      const w = st.writable.getWriter(); await w.write(new TextEncoder().encode('pong:' + text)); await w.close();
      const { value } = await wt.datagrams.readable.getReader().read();
      wt.close();
      return new TextDecoder().decode(value);`,
    );
    expect(r).toBe('got:pong:ping');
  });

  it('closes the session from the server with a code and reason the browser sees', async () => {
    const r = await inPage<{ closeCode: number; reason: string }>(
      '/close',
      `await wt.ready; const info = await wt.closed; return { closeCode: info.closeCode, reason: info.reason };`,
    );
    expect(r).toEqual({ closeCode: 4242, reason: 'done here ✓' });
  });

  it('reports a close code and reason from the browser on session.closed', async () => {
    const before = sessions.length;
    await inPage<void>('/echo', `await wt.ready; wt.close({ closeCode: 77, reason: 'bye' }); await wt.closed;`);
    const s = sessions[before]!;
    await expect(s.closed).resolves.toEqual({ code: 77, reason: 'bye' });
  });

  it('resets a stream with an application code (abort)', async () => {
    const r = await inPage<{ code: number | null; name: string }>(
      '/abort',
      `await wt.ready;
      const { value: st } = await wt.incomingUnidirectionalStreams.getReader().read();
      try { for await (const _ of st) {} return { code: null, name: 'ended' }; }
      catch (e) { wt.close(); return { code: e.streamErrorCode, name: e.name }; }`,
    );
    expect(r).toEqual({ code: 7, name: 'WebTransportError' });
  });

  it('opens more streams than the initial stream limit, waiting for credit', async () => {
    const r = await inPage<{ count: number; sum: number }>(
      '/many',
      `await wt.ready;
      const reader = wt.incomingUnidirectionalStreams.getReader();
      let count = 0, sum = 0;
      while (count < 250) {
        const { value: st } = await reader.read();
        for await (const c of st) { sum += c[0] + (c[1] << 8); }
        count++;
      }
      wt.close();
      return { count, sum };`,
    );
    expect(r).toEqual({ count: 250, sum: (249 * 250) / 2 });
  });

  it('sends the more urgent of two streams first', async () => {
    // The slow stream (urgency 7, opened first) must finish after the fast one (urgency 0).
    // Streams are told apart by their first byte, not by the order the page learned of them.
    // Priority only orders what flow control lets through: on a loaded machine the page reads
    // late, the urgent stream waits for credit and the other one fills the gap, so one run can
    // end the wrong way round. Without priorities (FIFO) it ends the wrong way every time:
    // three inversions in a row fail the test.
    const expected = [pattern(1, 2)[0], pattern(1, 1)[0]];
    const orders: number[][] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await inPage<number[]>(
        '/priority',
        `await wt.ready;
        const reader = wt.incomingUnidirectionalStreams.getReader();
        const order = [];
        const drain = async (st) => { let first = -1; for await (const c of st) if (first < 0) first = c[0]; return first; };
        const a = (await reader.read()).value, b = (await reader.read()).value;
        await Promise.all([a, b].map((st) => drain(st).then((first) => order.push(first))));
        wt.close();
        return order;`,
      );
      orders.push(r);
      if (r[0] === expected[0]) break;
    }
    expect(orders[orders.length - 1], `orders seen: ${JSON.stringify(orders)}`).toEqual(expected);
  });
});
