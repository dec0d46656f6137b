/**
 * The moq endpoint of a real Polycast fed by a real ffmpeg RTMP publisher,
 * driven from Node: by @moq/net's own moq-lite connection (interop), and by
 * a hand-driven client for refusals, malformed input and a reader that
 * stops reading.
 */
import { describe, expect, it } from 'vitest';
import * as Net from '@moq/net';
import * as Ietf from './net-ietf.js';
import * as Lite from './net-lite.js';
import { buildCatalog } from '../../transports/moq/hang.js';
import { MoqErrorCode } from '../../transports/moq/messages.js';
import { publish } from '../helpers/ffmpeg.js';
import { startServer } from '../helpers/server.js';
import { legacy, nalTypes, RawMoqClient, readGroup, resetCodeOf } from './raw-client.js';
import { connectWebTransport, StreamResetError } from './wt-client.js';
import { expectVideoThenClose, liveServerFixture, readGroups, sleep, until } from './live-server.js';

const fx = liveServerFixture('paths:\n  live/x:\n  live/slow:\n  live/gone:\n', 'live/x');

async function connectNet(protocols?: string[]): Promise<Net.Connection.Established> {
  const wt = await connectWebTransport(fx.srv.wtUrl('/moq'), { protocols });
  return Net.Connection.connect(new URL(fx.srv.wtUrl('/moq')), { transport: wt as unknown as WebTransport });
}

describe('@moq/net as the subscriber', () => {
  it('plays a path over the compat setup (moq-lite-02): announce, catalog, GOP groups, audio groups', async () => {
    const conn = await connectNet();
    try {
      expect(conn.version).toBe('moq-lite-02');
      const announced = conn.announced(Net.Path.from('live'));
      expect(await announced.next()).toEqual({ path: 'x', active: true });
      announced.close();

      const broadcast = conn.consume(Net.Path.from('live/x'));
      const catalogTrack = broadcast.track('catalog.json').subscribe({ priority: 100 });
      const catalogGroup = await catalogTrack.nextGroup();
      const catalogFrame = await catalogGroup!.readFrame();
      const json = new TextDecoder().decode(catalogFrame instanceof Uint8Array ? catalogFrame : (catalogFrame as { payload: Uint8Array }).payload);
      expect(JSON.parse(json)).toEqual(buildCatalog(fx.srv.server.paths.get('live/x')!.stream!.description));

      const video = await readGroups(broadcast.track('video').subscribe({ priority: 60 }), 3);
      for (const [i, g] of video.entries()) {
        if (i > 0) expect(g.sequence).toBe(video[i - 1]!.sequence + 1);
        // One GOP per group: it opens with an IDR, later frames are not.
        expect(nalTypes(g.frames[0]!.data)).toContain(5);
        expect(g.frames.slice(1).every((f) => !nalTypes(f.data).includes(5))).toBe(true);
        expect(g.frames.length).toBeGreaterThanOrEqual(10);
      }
      expect(video[1]!.frames[0]!.ts).toBeGreaterThan(video[0]!.frames[0]!.ts);

      const audio = await readGroups(broadcast.track('audio').subscribe({ priority: 80 }), 2);
      for (const g of audio) {
        expect(g.frames.length).toBeGreaterThan(5);
        for (let i = 1; i < g.frames.length; i++) expect(g.frames[i]!.ts).toBeGreaterThan(g.frames[i - 1]!.ts);
      }
      // A new audio group follows each new GOP: the second starts within a frame or two of a keyframe.
      expect(audio[1]!.sequence).toBe(audio[0]!.sequence + 1);
      expect(audio[1]!.frames[0]!.ts - audio[0]!.frames[0]!.ts).toBeGreaterThan(300_000);
      expect(audio[1]!.frames[0]!.ts - audio[0]!.frames[0]!.ts).toBeLessThan(800_000);
      broadcast.close();
    } finally {
      conn.close();
    }
  });

  it.each([
    [['moq-lite-05', 'moq-lite-04', 'moq-lite-03', 'moql', 'moqt-16'], 'moq-lite-05'],
    [['moq-lite-04', 'moq-lite-03', 'moql'], 'moq-lite-04'],
  ])('offered %j as WebTransport subprotocols, speaks %s', async (protocols, version) => {
    const conn = await connectNet(protocols);
    expect(conn.version).toBe(version);
    const announced = conn.announced(Net.Path.from('live/x'));
    expect(await announced.next()).toEqual({ path: '', active: true });
    announced.close();
    await expectVideoThenClose(conn, 'live/x');
  });

  it('announces broadcasts as publishers come and go', async () => {
    const conn = await connectNet(['moq-lite-03']);
    expect(conn.version).toBe('moq-lite-03');
    const announced = conn.announced(Net.Path.empty());
    try {
      expect(await announced.next()).toEqual({ path: 'live/x', active: true });
      const p = publish(fx.srv.rtmpUrl('live/gone'), { gop: 15 });
      try {
        expect(await announced.next()).toEqual({ path: 'live/gone', active: true });
      } finally {
        await p.stop();
      }
      expect(await announced.next()).toEqual({ path: 'live/gone', active: false });
    } finally {
      announced.close();
      conn.close();
    }
  });
});

describe('refusals and version negotiation', () => {
  it('refuses one subscription (unknown track or broadcast, unserved stream type) and keeps the session', async () => {
    const c = await RawMoqClient.connect(fx.srv.wtUrl('/moq'));
    try {
      expect(await c.setup()).toBe(Lite.Version.DRAFT_02);
      const codeOf = (p: Promise<unknown>): Promise<number | null> =>
        p.then(
          () => -1,
          (e: unknown) => (e instanceof StreamResetError ? e.code : null),
        );
      expect(await codeOf(c.subscribe(0n, 'live/x', 'subtitles'))).toBe(MoqErrorCode.NotFound);
      expect(await codeOf(c.subscribe(1n, 'nope/z', 'video'))).toBe(MoqErrorCode.NotFound);
      const fetch = await c.raw(Uint8Array.of(Lite.StreamId.Fetch, 0x01, 0x00));
      expect(await resetCodeOf(fetch.readable)).toBe(MoqErrorCode.Unsupported);

      await c.subscribe(2n, 'live/x', 'video');
      const group = await c.nextGroup();
      expect(group).toMatchObject({ subscribe: 2n, complete: true });
      expect(nalTypes(legacy(group!.frames[0]!).payload)).toContain(5);
    } finally {
      c.close();
    }
  });

  it('settles on lite-01 when that is all the client speaks, and closes a session with no common version', async () => {
    const c1 = await RawMoqClient.connect(fx.srv.wtUrl('/moq'));
    try {
      expect(await c1.setup([Lite.Version.DRAFT_01])).toBe(Lite.Version.DRAFT_01);
      await c1.subscribe(0n, 'live/x', 'catalog.json', 100);
      const group = await c1.nextGroup();
      expect(group).toMatchObject({ sequence: 0, complete: true });
      expect(JSON.parse(new TextDecoder().decode(group!.frames[0]))).toHaveProperty('video');
    } finally {
      c1.close();
    }
    const c2 = await RawMoqClient.connect(fx.srv.wtUrl('/moq'));
    await expect(c2.setup([Ietf.Version.DRAFT_14])).rejects.toThrow();
    expect(await c2.wt.closed).toMatchObject({ closeCode: MoqErrorCode.Unsupported });
    c2.close();
  });
});

describe('malformed input', () => {
  it('closes the offending session only; another keeps receiving groups', async () => {
    const conn = await connectNet();
    const broadcast = conn.consume(Net.Path.from('live/x'));
    const track = broadcast.track('video').subscribe({ priority: 60 });
    let received = 0;
    let stop = false;
    const watching = (async () => {
      while (!stop) {
        const g = await track.nextGroup();
        if (g === undefined) return;
        received++;
      }
    })();
    try {
      await until(() => received >= 1, 'the healthy session to receive a group');
      const before = fx.moq.stats.protocolErrors;
      const cases: Array<[string, (c: RawMoqClient) => Promise<unknown>]> = [
        ['garbage stream type', (c) => c.raw(Uint8Array.of(0x3e, 0xde, 0xad, 0xbe, 0xef))],
        ['garbage instead of a setup', (c) => c.raw(Uint8Array.of(0x20, 0x00, 0x04, 0x7f, 0x01, 0x02, 0x03))],
        [
          'SUBSCRIBE with trailing bytes',
          async (c) => {
            await c.setup();
            await c.raw(Uint8Array.of(Lite.StreamId.Subscribe, 0x07, 0x00, 0x01, 0x61, 0x01, 0x62, 0x00, 0x99));
          },
        ],
        [
          'a subscription id reused',
          async (c) => {
            await c.setup();
            await c.subscribe(7n, 'live/x', 'audio');
            await c.raw(Uint8Array.of(Lite.StreamId.Subscribe, 0x0f, 0x07, 0x06, ...new TextEncoder().encode('live/x'), 0x05, ...new TextEncoder().encode('video'), 0x00));
          },
        ],
        [
          'a second setup',
          async (c) => {
            await c.setup();
            await c.setup();
          },
        ],
      ];
      for (const [name, act] of cases) {
        const c = await RawMoqClient.connect(fx.srv.wtUrl('/moq'));
        await act(c).catch(() => {});
        expect(await c.wt.closed, name).toMatchObject({ closeCode: MoqErrorCode.ProtocolViolation });
        c.close();
      }
      expect(fx.moq.stats.protocolErrors - before).toBe(cases.length);
      const seen = received;
      await until(() => received >= seen + 2, 'the healthy session to keep receiving groups');
    } finally {
      stop = true;
      broadcast.close();
      conn.close();
      await watching.catch(() => {});
    }
  });
});

describe('a reader that stops reading', () => {
  it('skips to the newest group instead of falling behind', async () => {
    const p = publish(fx.srv.rtmpUrl('live/slow'), { gop: 15 });
    // Small receive windows: the server is held back as soon as the client stops reading.
    const c = await RawMoqClient.connect(fx.srv.wtUrl('/moq'), { streamWindow: 16 * 1024, connectionWindow: 8 * 1024 * 1024 });
    try {
      await until(() => fx.srv.server.paths.get('live/slow')?.stream?.ready === true, 'live/slow to go live');
      await c.setup();
      await c.subscribe(0n, 'live/slow', 'video');
      const first = await c.nextGroup();
      expect(first?.complete).toBe(true);

      const sub = () => [...fx.moq.sessions].flatMap((s) => s.tracks).find((t) => t.track === 'video' && t.id === 0n && t.sender.current !== undefined);
      await until(() => sub() !== undefined, 'the subscription');
      const track = sub()!;
      const startedBefore = track.groups;
      // Stop reading for about eight GOPs.
      await sleep(4000);
      const newestAtResume = track.groups - 1;
      expect(newestAtResume - startedBefore).toBeGreaterThanOrEqual(5);
      expect(track.dropped).toBeGreaterThanOrEqual(3);
      expect(fx.moq.stats.groupsDropped).toBeGreaterThanOrEqual(track.dropped);

      // The streams queued meanwhile: the stale ones were reset, the first whole group is the newest (or the one it superseded).
      let complete: Awaited<ReturnType<typeof readGroup>> | undefined;
      const skipped: number[] = [];
      while (complete === undefined) {
        const g = await c.nextGroup();
        if (g === undefined) throw new Error('session ended');
        if (g.complete) complete = g;
        else skipped.push(g.sequence);
      }
      expect(complete.sequence).toBeGreaterThanOrEqual(newestAtResume - 1);
      expect(nalTypes(legacy(complete.frames[0]!).payload)).toContain(5);
      // And delivery carries on from there, in order.
      const next = await c.nextGroup();
      expect(next!.sequence).toBeGreaterThan(complete.sequence);
    } finally {
      c.close();
      await p.stop();
    }
  });
});

describe('the core ending a reader', () => {
  it('closes the session its reader belongs to', async () => {
    const c = await RawMoqClient.connect(fx.srv.wtUrl('/moq?tag=a&token=secret'));
    await c.setup();
    await c.subscribe(0n, 'live/x', 'video');
    const path = fx.srv.server.paths.get('live/x')!;
    await until(() => [...path.readers].some((r) => r.info.protocol === 'moq'), 'the moq reader');
    const reader = [...path.readers].find((r) => r.info.protocol === 'moq')!;
    expect(reader.query).toBe('tag=a&token=redacted');
    reader.kick!('kicked through the API', 1008);
    expect(await c.wt.closed).toMatchObject({ closeCode: MoqErrorCode.Unauthorized, reason: 'kicked through the API' });
    expect(path.readers.has(reader)).toBe(false);
    c.close();
  });
});

describe('maxConnections', () => {
  it('a session takes one connection slot, typed moqSession, and a session beyond the limit is closed', async () => {
    const limited = await startServer('maxConnections: 1\npaths:\n  all_others:\n', { webTransport: true });
    try {
      const c1 = await RawMoqClient.connect(limited.wtUrl('/moq'));
      await c1.setup();
      expect(limited.server.connections.types().get('moqSession')).toBe(1);
      const c2 = await RawMoqClient.connect(limited.wtUrl('/moq'));
      expect(await c2.wt.closed).toMatchObject({ closeCode: MoqErrorCode.TooMany });
      c2.close();
      c1.close();
      await until(() => limited.server.connections.current === 0, 'the slot to be released');
    } finally {
      await limited.stop();
    }
  });
});

describe('counters', () => {
  it('counts sessions, subscriptions and groups', async () => {
    await until(() => fx.moq.stats.sessions === 0, 'earlier sessions to end');
    const c = await RawMoqClient.connect(fx.srv.wtUrl('/moq'));
    try {
      await c.setup();
      await c.subscribe(0n, 'live/x', 'catalog.json');
      await c.subscribe(1n, 'live/x', 'video');
      await until(() => fx.moq.stats.subscriptions === 2, 'two subscriptions');
      const s = fx.moq.stats;
      expect(s.sessions).toBe(1);
      expect(s.sessionsTotal).toBeGreaterThan(5);
      expect(s.subscriptionsTotal).toBeGreaterThan(5);
      expect(s.groupsSent).toBeGreaterThan(10);
      const reader = fx.srv.server.paths.get('live/x')!.readers;
      // One reader per session and broadcast, however many tracks.
      expect([...reader].filter((r) => r.info.protocol === 'moq')).toHaveLength(1);
    } finally {
      c.close();
    }
    await until(() => fx.moq.stats.sessions === 0 && fx.moq.stats.subscriptions === 0, 'the session to end');
    expect([...fx.srv.server.paths.get('live/x')!.readers].filter((r) => r.info.protocol === 'moq')).toHaveLength(0);
  });
});
