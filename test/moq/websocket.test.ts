/**
 * /moq over a WebSocket carrying QMux, driven from Node by the reference
 * client: @moq/net's own connect(), which in a runtime without WebTransport
 * takes the WebSocket path of @moq/qmux.
 */
import { describe, expect, it } from 'vitest';
import * as Net from '@moq/net';
import * as Qmux from '@moq/qmux';
import { expectVideoThenClose, liveServerFixture, readGroups, startLiveServer } from './live-server.js';
import { nalTypes } from './raw-client.js';

const g = globalThis as unknown as { WebTransport?: unknown };

const fx = liveServerFixture('paths:\n  live/x:\n', 'live/x');

/** @moq/qmux's client with exactly these subprotocols, for pinning a QMux draft or leaving the version to moq-lite. */
async function qmuxTransport(protocols: string[], config?: Qmux.Config): Promise<WebTransport> {
  // No protocols: the library offers only the bare drafts (and the legacy `webtransport`).
  const session = new Qmux.default(fx.srv.httpUrl('/moq'), { protocols, requireProtocol: protocols.length > 0, ...(config ? { config } : {}) });
  await session.ready;
  return session as unknown as WebTransport;
}

describe('@moq/net over WebSocket (QMux)', () => {
  it('negotiates qmux-02 + moq-lite-05 by itself and plays announce, catalog, video and audio with frame timestamps', async () => {
    expect(g.WebTransport).toBeUndefined();
    const conn = await Net.Connection.connect(new URL(fx.srv.httpUrl('/moq')));
    try {
      expect(conn.version).toBe('moq-lite-05');
      const session = [...fx.moq.sessions].find((s) => s.negotiatedVersion === 'moq-lite-05');
      expect(session?.binding).toBe('websocket');
      const announced = conn.announced(Net.Path.from('live'));
      expect(await announced.next()).toEqual({ path: 'x', active: true });
      announced.close();
      const broadcast = conn.consume(Net.Path.from('live/x'));
      const catalog = broadcast.track('catalog.json').subscribe({ priority: 100 });
      const cf = (await (await catalog.nextGroup())!.readFrame()) as unknown as { payload: Uint8Array };
      expect(JSON.parse(new TextDecoder().decode(cf.payload))).toHaveProperty('video.renditions.video');
      const video = await readGroups(broadcast.track('video').subscribe({ priority: 60 }), 3);
      for (const [i, grp] of video.entries()) {
        if (i > 0) expect(grp.sequence).toBe(video[i - 1]!.sequence + 1);
        expect(nalTypes(grp.frames[0]!.data)).toContain(5);
        expect(grp.frames.length).toBeGreaterThanOrEqual(10);
        // lite-05 carries each frame's time in moq-lite itself: the same instant the hang container names.
        for (const f of grp.frames) expect(f.wireTs).toBe(f.ts);
      }
      const audio = await readGroups(broadcast.track('audio').subscribe({ priority: 80 }), 2);
      for (const grp of audio) {
        expect(grp.frames.length).toBeGreaterThan(5);
        for (const f of grp.frames) expect(f.wireTs).toBe(f.ts);
      }
      broadcast.close();
    } finally {
      conn.close();
    }
  });

  it('is served by a server without WebTransport too (webTransport: no): browsers without it are who need it', async () => {
    const plain = await startLiveServer('paths:\n  live/y:\n', 'live/y', false);
    try {
      expect(plain.srv.server.listening?.webTransport).toBeUndefined();
      const conn = await Net.Connection.connect(new URL(plain.srv.httpUrl('/moq')));
      expect(conn.version).toBe('moq-lite-05');
      await expectVideoThenClose(conn, 'live/y');
    } finally {
      await plain.stop();
    }
  });

  it.each([
    ['qmux-01.moq-lite-04', 'moq-lite-04'],
    ['qmux-00.moq-lite-03', 'moq-lite-03'],
    ['', 'moq-lite-02'],
    ['qmux-01.moql', 'moq-lite-02'],
  ])('"%s" runs %s', async (protocol, version) => {
    const conn = await Net.Connection.connect(new URL(fx.srv.httpUrl('/moq')), { transport: await qmuxTransport(protocol === '' ? [] : [protocol]) });
    expect(conn.version).toBe(version);
    await expectVideoThenClose(conn, 'live/x');
  });

  it('opens streams only as the client allows them and sends only within its windows, for many groups', async () => {
    // Four streams at once and 64 kB of credit: a dozen video groups need both refilled, over and over.
    const transport = await qmuxTransport(['qmux-02.moq-lite-05'], { maxStreamsUni: 4n, maxData: 65_536n, maxStreamDataUni: 32_768n });
    const conn = await Net.Connection.connect(new URL(fx.srv.httpUrl('/moq')), { transport });
    try {
      const broadcast = conn.consume(Net.Path.from('live/x'));
      const audio = broadcast.track('audio').subscribe({ priority: 80 });
      const video = await readGroups(broadcast.track('video').subscribe({ priority: 60 }), 12);
      expect(video.every((grp) => nalTypes(grp.frames[0]!.data).includes(5))).toBe(true);
      expect(video.at(-1)!.sequence).toBeGreaterThanOrEqual(11);
      expect((await readGroups(audio, 1))[0]!.frames.length).toBeGreaterThan(5);
      broadcast.close();
    } finally {
      conn.close();
    }
  });

  it('retires finished streams, so a long session can subscribe again and again', async () => {
    // Each lite-05 subscription costs two bidirectional streams (TRACK, SUBSCRIBE); we allow 100 open at once.
    const conn = await Net.Connection.connect(new URL(fx.srv.httpUrl('/moq')), { transport: await qmuxTransport(['qmux-02.moq-lite-05']) });
    try {
      expect(conn.version).toBe('moq-lite-05');
      // 120 × 2 streams: with one of the two never retired the client would run out at the 100th.
      for (let i = 0; i < 120; i++) {
        const broadcast = conn.consume(Net.Path.from('live/x'));
        const catalog = broadcast.track('catalog.json').subscribe({ priority: 100 });
        expect(await catalog.nextGroup()).toBeDefined();
        catalog.close();
        broadcast.close();
      }
    } finally {
      conn.close();
    }
  });
});
