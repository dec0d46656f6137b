/**
 * The subscriber's half of the wire (what `source: moqt://` sends and
 * reads): its messages decode with the publisher's decoders and back, and
 * random bytes into its readers (subgroup streams, SUBSCRIBE_OK, the MSF
 * catalog) raise only the protocol's or the catalog's error.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MoqtProtocolError, MoqtStreamEndedError } from '../../src/protocols/moqt/errors.js';
import {
  decodeRequestError,
  decodeSetup,
  decodeSubscribe,
  decodeSubscribeOk,
  encodeClientSetup,
  encodeRequestError,
  encodeSubscribe,
  encodeSubscribeOk,
  MessageType,
} from '../../src/protocols/moqt/messages.js';
import { buildMsfCatalog, CatalogError, parseMsfCatalog } from '../../src/protocols/moqt/msf.js';
import { encodeObject, encodeSubgroupHeader, readObject, readSubgroupHeader } from '../../src/protocols/moqt/objects.js';
import { MoqtStreamReader } from '../../src/protocols/moqt/stream-reader.js';
import { MOQT_DRAFTS } from '../../src/protocols/moqt/version.js';
import { parseSource } from '../../src/config/source.js';

function streamOf(...chunks: Uint8Array[]): MoqtStreamReader {
  return new MoqtStreamReader(
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of chunks) c.enqueue(chunk);
        c.close();
      },
    }),
    'test stream',
  );
}

describe.each([...MOQT_DRAFTS])('draft %i', (draft) => {
  it('CLIENT_SETUP / SETUP and SUBSCRIBE decode with the publisher side', async () => {
    const setup = await streamOf(encodeClientSetup(draft, 'Polycast')).message(draft, 4096);
    expect(setup.type).toBe(draft >= 17 ? MessageType.Setup : MessageType.ClientSetup);
    decodeSetup(setup.body);
    const sub = await streamOf(encodeSubscribe(draft, { requestId: 4, namespace: ['live', 'cam1'], track: 'video' })).message(draft, 4096);
    expect(sub.type).toBe(MessageType.Subscribe);
    expect(decodeSubscribe(sub.body)).toEqual({ requestId: 4, namespace: ['live', 'cam1'], track: 'video', nextGroupStart: false, forward: true });
    // With credentials as MediaMTX sends them (AUTHORIZATION_TOKEN, USE_VALUE): still a SUBSCRIBE the publisher side reads.
    const withToken = encodeSubscribe(draft, { requestId: 6, namespace: ['a'], track: 'audio', authorization: 'Basic dTpw' });
    expect(Buffer.from(withToken).includes(Buffer.from('Basic dTpw'))).toBe(true);
    expect(decodeSubscribe((await streamOf(withToken).message(draft, 4096)).body)).toMatchObject({ requestId: 6, namespace: ['a'], track: 'audio' });
  });

  it('reads SUBSCRIBE_OK (with TIMESCALE from 17 on) and REQUEST_ERROR as the publisher side writes them', async () => {
    const ok = await streamOf(encodeSubscribeOk(draft, { requestId: 2, alias: 9, largest: { group: 5, object: 3 }, timescale: 1_000_000 })).message(draft, 4096);
    expect(decodeSubscribeOk(ok.body)).toEqual({ requestId: draft >= 17 ? undefined : 2, alias: 9, timescale: draft >= 17 ? 1_000_000 : undefined });
    const err = await streamOf(encodeRequestError(draft, { requestId: 2, code: 0x10, reason: 'no such namespace' })).message(draft, 4096);
    expect(decodeRequestError(err.body)).toEqual({ requestId: draft >= 17 ? undefined : 2, code: 0x10, reason: 'no such namespace' });
  });

  it('reads subgroup streams as the publisher side writes them, split anywhere', async () => {
    const bytes = Buffer.concat([
      encodeSubgroupHeader(draft, { alias: 3, group: 70000, properties: true }),
      encodeObject(draft, Uint8Array.of(1, 2, 3), 123_456_789),
      encodeObject(draft, new Uint8Array(0), 5),
      encodeObject(draft, randomBytes(3000), 2 ** 40),
    ]);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7));
    const s = streamOf(...chunks);
    const header = await readSubgroupHeader(await s.varint(draft), s, draft);
    expect(header).toEqual({ alias: 3, group: 70000, properties: true });
    const a = await readObject(s, draft, header, 1 << 20);
    expect([a?.timestamp, [...a!.payload]]).toEqual([123_456_789, [1, 2, 3]]);
    const b = await readObject(s, draft, header, 1 << 20);
    expect(b?.payload.byteLength).toBe(0);
    const c = await readObject(s, draft, header, 1 << 20);
    expect([c?.timestamp, c?.payload.byteLength]).toEqual([2 ** 40, 3000]);
    expect(await readObject(s, draft, header, 1 << 20)).toBeUndefined();
  });

  it('random bytes into the subscriber readers raise only protocol errors', async () => {
    for (let i = 0; i < 300; i++) {
      const junk = randomBytes(1 + (i % 60));
      try {
        const s = streamOf(junk);
        const header = await readSubgroupHeader(await s.varint(draft), s, draft);
        while ((await readObject(s, draft, header, 1000)) !== undefined);
      } catch (err) {
        expect(err instanceof MoqtProtocolError || err instanceof MoqtStreamEndedError, String(err)).toBe(true);
      }
      try {
        const m = await streamOf(Uint8Array.of(MessageType.SubscribeOk, 0, junk.length), junk).message(draft, 4096);
        decodeSubscribeOk(m.body);
      } catch (err) {
        expect(err instanceof MoqtProtocolError || err instanceof MoqtStreamEndedError, String(err)).toBe(true);
      }
    }
  });

  it('an object larger than the limit is refused before it is read', async () => {
    const s = streamOf(encodeSubgroupHeader(draft, { alias: 1, group: 0, properties: false }), encodeObject(draft, new Uint8Array(5000)));
    const header = await readSubgroupHeader(await s.varint(draft), s, draft);
    await expect(readObject(s, draft, header, 4096)).rejects.toThrow(/object of 5000 bytes \(limit 4096\)/);
  });
});

describe('the MSF catalog, read back', () => {
  it('Polycast\'s own catalog parses into its tracks', () => {
    const avcC = Uint8Array.of(1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1e, 1, 0, 2, 0x68, 0xce);
    const json = JSON.stringify(
      buildMsfCatalog({
        path: 'x',
        video: { kind: 'video', codec: 'h264', codecString: 'avc1.42c01e', width: 640, height: 360, avcC, sps: [], pps: [], nalLengthSize: 4 },
        audio: { kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 1, samplesPerFrame: 1024, asc: Uint8Array.of(0x11, 0x88) },
      }),
    );
    const parsed = parseMsfCatalog(new TextEncoder().encode(json));
    expect(parsed.video).toMatchObject({ name: 'video', role: 'video', codec: 'avc1.42c01e', width: 640, height: 360 });
    expect([...parsed.video!.initData!]).toEqual([...avcC]);
    expect(parsed.audio).toMatchObject({ name: 'audio', role: 'audio', codec: 'mp4a.40.2', samplerate: 48000, channels: 1 });
  });

  it('MediaMTX\'s shape (tracks by index, avc3, channels) parses; unusable tracks are listed, not fatal', () => {
    const doc = {
      version: 1,
      tracks: [
        { name: '0', packaging: 'loc', isLive: true, codec: 'avc3.640028' },
        { name: '1', packaging: 'loc', isLive: true, codec: 'pcm-s16', samplerate: 48000, channels: 2 },
        { name: '2', packaging: 'loc', isLive: true, codec: 'opus', samplerate: 48000, channels: 2 },
      ],
    };
    const parsed = parseMsfCatalog(new TextEncoder().encode(JSON.stringify(doc)));
    expect(parsed.video).toMatchObject({ name: '0', codec: 'avc3.640028' });
    expect(parsed.audio).toMatchObject({ name: '2', codec: 'opus', channels: 2 });
    expect(parsed.skipped).toEqual(["track '1': codec 'pcm-s16' is not one Polycast carries"]);
  });

  it.each([
    ['not JSON', '{"tracks": [', /not JSON/],
    ['no tracks', '{"version": 1}', /no "tracks" list/],
    ['nothing usable', '{"tracks": [{"name": "a", "codec": "vp8"}]}', /no track Polycast can carry/],
    ['a nameless track', '{"tracks": [{"codec": "opus"}]}', /no usable name/],
    ['bad initData', '{"tracks": [{"name": "a", "codec": "opus", "initData": "!!"}]}', /initData is not base64/],
    ['a negative width', '{"tracks": [{"name": "a", "codec": "av01.0.08M.08", "width": -1}]}', /width is not a positive integer/],
  ])('refuses %s', (_what, json, reason) => {
    expect(() => parseMsfCatalog(new TextEncoder().encode(json))).toThrow(CatalogError);
    expect(() => parseMsfCatalog(new TextEncoder().encode(json))).toThrow(reason);
  });
});

describe('moqt:// source URLs', () => {
  it('map onto the Polycast and MediaMTX layouts', () => {
    expect(parseSource('moqt://user:pw@origin:4443/live/cam1?fingerprint=' + 'AB:'.repeat(31) + 'AB&token=t&draft=17')).toEqual({
      protocol: 'moqt',
      host: 'origin',
      port: 4443,
      requestPath: '/moqt?token=t',
      namespace: ['live', 'cam1'],
      catalogTrack: 'catalog',
      layout: 'polycast',
      fingerprint: 'ab'.repeat(32),
      authorization: `Basic ${Buffer.from('user:pw').toString('base64')}`,
      draft: 17,
      display: 'moqt://origin:4443/live/cam1',
    });
    expect(parseSource('moqt://mediamtx.example/mystream?layout=mediamtx')).toMatchObject({
      port: 443,
      requestPath: '/mystream',
      namespace: [],
      catalogTrack: '.catalog',
      layout: 'mediamtx',
      fingerprint: undefined,
      draft: undefined,
    });
  });

  it.each([
    ['moqt://origin', /names no path/],
    ['moqt://origin/x?fingerprint=abc', /fingerprint is not a SHA-256/],
    ['moqt://origin/x?layout=other', /layout 'other' is not 'polycast' or 'mediamtx'/],
    ['moqt://origin/x?draft=15', /draft '15' is not one Polycast speaks/],
  ])('refuses %s', (source, reason) => {
    const parsed = parseSource(source);
    expect('error' in parsed && parsed.error).toMatch(reason);
  });
});
