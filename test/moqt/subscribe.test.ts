/**
 * Polycast's /moqt endpoint with a path published by a real ffmpeg, read by
 * a subscriber made of @moq/net's IETF wire classes (draft 16, and 19, the
 * newest both @moq/net and MediaMTX speak), and by @moq/net's own IETF
 * connection.
 */
import { describe, expect, it } from 'vitest';
import * as Net from '@moq/net';
import { MoqtRequestError } from '../../src/protocols/moqt/errors.js';
import type { MoqtTransport } from '../../transports/moqt/server.js';
import type { MsfCatalog } from '../../transports/moqt/msf.js';
import { liveServerFixture, until } from '../moq/live-server.js';
import { nalTypes } from '../moq/raw-client.js';
import { connectWebTransport } from '../moq/wt-client.js';
import { IetfTestClient, type ReceivedGroup } from './ietf-client.js';

const fx = liveServerFixture('paths:\n  live/x:\n', 'live/x');
const moqt = (): MoqtTransport => fx.srv.server.transports.find((t) => t.name === 'moqt') as MoqtTransport;
const url = (): string => fx.srv.wtUrl('/moqt');

function increasing(values: number[]): boolean {
  return values.every((v, i) => i === 0 || v > values[i - 1]!);
}

describe.each([16, 17, 19])('draft %i', (draft) => {
  it('serves the MSF catalog, GOP-per-group LOC video and LOC audio of a live path', async () => {
    const client = await IetfTestClient.connect(url(), draft);
    try {
      const description = fx.srv.server.paths.get('live/x')!.stream!.description;
      const video = description.video!;
      const audio = description.audio!;
      expect(video.codec).toBe('h264');

      const catalog = await client.subscribe('live/x', 'catalog');
      if (!('ok' in catalog)) throw new Error(`catalog refused: ${catalog.error.reasonPhrase}`);
      const [catalogGroup] = await client.nextGroups(catalog.ok.trackAlias, 1);
      expect(catalogGroup!.objects).toHaveLength(1);
      const msf = JSON.parse(new TextDecoder().decode(catalogGroup!.objects[0]!.payload)) as MsfCatalog;
      expect(msf.version).toBe(1);
      const byName = new Map(msf.tracks.map((t) => [t.name, t]));
      expect(byName.get('video')).toMatchObject({ packaging: 'loc', role: 'video', codec: video.codecString, width: 640, height: 360 });
      expect(video.codecString).toMatch(/^avc1\.[0-9a-f]{6}$/);
      expect(Buffer.from(byName.get('video')!.initData!, 'base64')).toEqual(Buffer.from(video.codec === 'h264' ? video.avcC : []));
      expect(byName.get('audio')).toMatchObject({ packaging: 'loc', role: 'audio', codec: audio.codecString, samplerate: 48000, channelConfig: '1' });

      const videoSub = await client.subscribe('live/x', 'video');
      if (!('ok' in videoSub)) throw new Error('video refused');
      // The track has content, so SUBSCRIBE_OK names its newest object.
      expect(videoSub.ok.largest?.groupId).toBeGreaterThanOrEqual(0n);
      const groups = await client.nextGroups(videoSub.ok.trackAlias, 3);
      for (const [i, g] of groups.entries()) {
        if (i > 0) expect(g.group).toBe(groups[i - 1]!.group + 1);
        // A group is one GOP: an IDR first, none after it.
        expect(nalTypes(g.objects[0]!.payload)).toContain(5);
        expect(g.objects.slice(1).some((o) => nalTypes(o.payload).includes(5))).toBe(false);
        expect(g.objects.length).toBeGreaterThanOrEqual(10);
        expect(increasing(g.objects.map((o) => o.timestampUs!))).toBe(true);
      }
      expect(increasing(groups.map((g) => g.objects[0]!.timestampUs!))).toBe(true);

      const audioSub = await client.subscribe('live/x', 'audio');
      if (!('ok' in audioSub)) throw new Error('audio refused');
      const audioGroups: ReceivedGroup[] = await client.nextGroups(audioSub.ok.trackAlias, 2);
      const stamps = audioGroups.flatMap((g) => g.objects.map((o) => o.timestampUs!));
      expect(audioGroups[1]!.group).toBe(audioGroups[0]!.group + 1);
      expect(audioGroups[0]!.objects.length).toBeGreaterThan(5);
      expect(increasing(stamps)).toBe(true);
      expect(audioGroups.every((g) => g.objects.every((o) => o.payload.byteLength > 0))).toBe(true);

      // Unsubscribing every track lets go of the path's reader.
      await client.unsubscribe(catalog, 0n);
      await client.unsubscribe(videoSub, 2n);
      await client.unsubscribe(audioSub, 4n);
      await until(() => moqt().stats.subscriptions === 0, 'the subscriptions to end');
      await until(() => fx.srv.server.paths.get('live/x')!.readers.size === 0, 'the reader to leave the path');
    } finally {
      client.close();
    }
  });

  it('refuses an unknown namespace and an unknown track with DOES_NOT_EXIST, and the session goes on', async () => {
    const client = await IetfTestClient.connect(url(), draft);
    try {
      const nowhere = await client.subscribe('no/such/path', 'video');
      expect('error' in nowhere && nowhere.error.errorCode).toBe(MoqtRequestError.DoesNotExist);
      const noTrack = await client.subscribe('live/x', 'subtitles');
      expect('error' in noTrack && noTrack.error.errorCode).toBe(MoqtRequestError.DoesNotExist);
      const catalog = await client.subscribe('live/x', 'catalog');
      expect('ok' in catalog).toBe(true);
      if (draft === 16) expect(client.maxRequestId).toBeGreaterThanOrEqual(128n + 4n);
    } finally {
      client.close();
    }
  });

  it('lets go of the path when the session closes with subscriptions open', async () => {
    await until(() => fx.srv.server.paths.get('live/x')!.readers.size === 0, 'earlier sessions to leave');
    const client = await IetfTestClient.connect(url(), draft);
    const video = await client.subscribe('live/x', 'video');
    expect('ok' in video).toBe(true);
    expect(fx.srv.server.paths.get('live/x')!.readers.size).toBe(1);
    client.close();
    await until(() => moqt().stats.sessions === 0, 'the session to end');
    expect(moqt().stats.subscriptions).toBe(0);
    expect(fx.srv.server.paths.get('live/x')!.readers.size).toBe(0);
  });
});

describe('@moq/net IETF connection', () => {
  it.each(['moqt-19', 'moqt-16'])('plays a path over %s', async (protocol) => {
    const wt = await connectWebTransport(url(), { protocols: [protocol] });
    const conn = await Net.Connection.connect(new URL(url()), { transport: wt as unknown as WebTransport });
    try {
      expect(conn.version).toBe(`moq-transport-${protocol.slice(5)}`);
      const broadcast = conn.consume(Net.Path.from('live/x'));
      const catalog = broadcast.track('catalog').subscribe({ priority: 100 });
      const catalogGroup = await catalog.nextGroup();
      const frame = (await catalogGroup!.readFrame()) as unknown as { payload: Uint8Array } | Uint8Array;
      const json = new TextDecoder().decode(frame instanceof Uint8Array ? frame : frame.payload);
      expect((JSON.parse(json) as MsfCatalog).tracks.map((t) => t.name)).toEqual(['video', 'audio']);
      const video = broadcast.track('video').subscribe({ priority: 60 });
      const group = await video.nextGroup();
      const first = (await group!.readFrame()) as unknown as { payload: Uint8Array } | Uint8Array;
      expect(nalTypes(first instanceof Uint8Array ? first : first.payload)).toContain(5);
      broadcast.close();
    } finally {
      conn.close();
    }
  });
});
