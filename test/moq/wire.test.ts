/**
 * moq-lite messages byte for byte against @moq/net's own encoders and
 * decoders (the implementation we interoperate with), and the hang catalog
 * and legacy container against @moq/hang's schema and decoder.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as Ietf from './net-ietf.js';
import * as Lite from './net-lite.js';
import { Reader } from '../../node_modules/@moq/net/stream.js';
import * as Varint from '../../node_modules/@moq/net/varint.js';
import type { AacTrackInfo, Frame, H264TrackInfo } from '../../src/stream/types.js';
import { buildCatalog, legacyPayload, wireFrame } from '../../transports/moq/hang.js';
import {
  decodeAnnounceRequest,
  decodeClientSetup,
  decodeSubscribe,
  decodeSubscribeUpdate,
  encodeAnnounce,
  decodeSetup,
  decodeTrackRequest,
  encodeAnnounceInit,
  encodeAnnounceOk,
  encodeFrame,
  encodeGroupHeader,
  encodeServerSetup,
  encodeSetupStream,
  encodeSubscribeOk,
  encodeSubscribeStart,
  encodeTimestampDelta,
  encodeTrackInfo,
  FRAME_TIMESCALE,
  LiteVersion,
  SetupParameter,
  StreamType,
} from '../../transports/moq/messages.js';
import { selectProtocol } from '../../transports/moq/server.js';
import { MessageReader, MoqProtocolError, MoqStreamClosedError, normalizePath, pathSuffix, StreamReader } from '../../transports/moq/wire.js';
import { parseStringList } from '../../src/web/webtransport-listener.js';
import { importBundled } from './bundle.js';

const ALL = [LiteVersion.DRAFT_01, LiteVersion.DRAFT_02, LiteVersion.DRAFT_03, LiteVersion.DRAFT_04, LiteVersion.DRAFT_05] as const;
/** lite-05 replaced SUBSCRIBE_OK with SUBSCRIBE_START. */
const WITH_SUBSCRIBE_OK = ALL.filter((v) => v !== LiteVersion.DRAFT_05);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');


/** A message body as our decoders see it: @moq/net's bytes minus the size prefix it wrote. */
async function body(bytes: Uint8Array): Promise<MessageReader> {
  const r = new Reader(undefined, bytes);
  const size = await r.u53();
  const rest = await r.read(size);
  expect(await r.done()).toBe(true);
  return new MessageReader(Uint8Array.from(rest), 'test');
}

describe('compat setup (IETF draft-14 framing)', () => {
  it('decodes the CLIENT_SETUP @moq/net sends', async () => {
    const params = new Ietf.SetupOptions();
    params.setVarint(Ietf.SetupOption.MaxRequestId, 42069n);
    params.setBytes(Ietf.SetupOption.Implementation, new TextEncoder().encode('moq-lite-js'));
    Ietf.solicitIntoSetup(params);
    const bytes = await Lite.netBytes(async (w) => {
      await w.u53(Lite.StreamId.ClientCompat);
      await new Ietf.ClientSetup({ versions: [Lite.Version.DRAFT_02, Lite.Version.DRAFT_01, Ietf.Version.DRAFT_14], parameters: params }).encode(w, Ietf.Version.DRAFT_14);
    });
    expect(bytes[0]).toBe(StreamType.ClientCompat);
    const size = (bytes[1]! << 8) | bytes[2]!;
    expect(size).toBe(bytes.length - 3);
    const setup = decodeClientSetup(new MessageReader(bytes.subarray(3), 'client setup'));
    expect(setup.versions).toEqual([0xff0dad02, 0xff0dad01, 0xff00000e]);
    expect(setup.parameters.get(2n)).toBe(42069n);
    expect(new TextDecoder().decode(setup.parameters.get(SetupParameter.Implementation) as Uint8Array)).toBe('moq-lite-js');
    expect(setup.parameters.get(Ietf.SetupOption.Solicit)).toBe(1n);
  });

  it('encodes a SERVER_SETUP that @moq/net decodes, and pins its bytes', async () => {
    const bytes = encodeServerSetup(LiteVersion.DRAFT_02, new Map([[SetupParameter.Implementation, new TextEncoder().encode('pc')]]));
    // 0x21, u16 length 13, version 0xff0dad02 as an 8-byte varint, one parameter: id 7, 2 bytes "pc".
    expect(hex(bytes)).toBe('21000dc0000000ff0dad020107027063');
    const r = new Reader(undefined, bytes);
    expect(await r.u53()).toBe(Lite.StreamId.ServerCompat);
    const server = await Ietf.ServerSetup.decode(r, Ietf.Version.DRAFT_14);
    expect(server.version).toBe(Lite.Version.DRAFT_02);
    expect(new TextDecoder().decode(server.parameters.getBytes(SetupParameter.Implementation))).toBe('pc');
  });
});

describe('announce', () => {
  it.each(ALL)('decodes ANNOUNCE_REQUEST (version %s)', async (v) => {
    const bytes = await Lite.netBytes((w) => new Lite.AnnounceRequest('/live//cams/', 77n).encode(w, v));
    const req = decodeAnnounceRequest(await body(bytes), v);
    expect(req.prefix).toBe('live/cams');
    expect(req.excludeHop).toBe(v === LiteVersion.DRAFT_04 || v === LiteVersion.DRAFT_05 ? 77n : undefined);
  });

  it('encodes ANNOUNCE_INIT exactly as @moq/net', async () => {
    const suffixes = ['cam1', 'sub/cam2', ''];
    expect(hex(encodeAnnounceInit(suffixes))).toBe(hex(await Lite.netBytes((w) => new Lite.AnnounceInit(suffixes).encode(w, LiteVersion.DRAFT_02))));
    expect(hex(encodeAnnounceInit([]))).toBe('0100');
  });

  it.each(ALL)('encodes ANNOUNCE exactly as @moq/net (version %s)', async (v) => {
    for (const active of [true, false]) {
      const ours = encodeAnnounce(v, active, 'live/cam1');
      const msg = (active ? { status: 'active', suffix: 'live/cam1', hops: [] } : { status: 'ended', suffix: 'live/cam1' }) as Parameters<typeof Lite.encodeAnnounceBroadcast>[1];
      expect(hex(ours)).toBe(hex(await Lite.netBytes((w) => Lite.encodeAnnounceBroadcast(w, msg, v))));
      const back = await Lite.decodeAnnounceBroadcast(new Reader(undefined, ours), v);
      expect(back).toMatchObject({ status: active ? 'active' : 'ended', suffix: 'live/cam1' });
    }
  });
});

describe('subscribe', () => {
  it.each(ALL)('decodes SUBSCRIBE (version %s)', async (v) => {
    const big = (1n << 62n) - 5n;
    const bytes = await Lite.netBytes((w) =>
      new Lite.Subscribe({ id: big, broadcast: 'live/cam1', track: 'video', priority: 60, ordered: true, maxLatency: 250, startGroup: 0, endGroup: 9 }).encode(w, v),
    );
    const s = decodeSubscribe(await body(bytes), v);
    expect(s).toMatchObject({ id: big, broadcast: 'live/cam1', track: 'video', priority: 60 });
    if (v !== LiteVersion.DRAFT_01 && v !== LiteVersion.DRAFT_02) expect(s).toMatchObject({ ordered: true, maxLatency: 250, startGroup: 0, endGroup: 9 });
    else expect(s).toMatchObject({ ordered: false, maxLatency: 0, startGroup: undefined, endGroup: undefined });
  });

  it.each(WITH_SUBSCRIBE_OK)('encodes SUBSCRIBE_OK exactly as @moq/net (version %s)', async (v) => {
    const ours = encodeSubscribeOk(v, 60);
    expect(hex(ours)).toBe(hex(await Lite.netBytes((w) => Lite.encodeSubscribeResponse(w, { ok: new Lite.SubscribeOk({ priority: 60 }) }, v))));
    const back = await Lite.decodeSubscribeResponse(new Reader(undefined, ours), v);
    expect('ok' in back).toBe(true);
  });

  it('pins SUBSCRIBE_OK bytes: empty on lite-02, a response type on lite-04', () => {
    expect(hex(encodeSubscribeOk(LiteVersion.DRAFT_02, 60))).toBe('00');
    expect(hex(encodeSubscribeOk(LiteVersion.DRAFT_01, 60))).toBe('013c');
    expect(hex(encodeSubscribeOk(LiteVersion.DRAFT_04, 60))).toBe('00053c00000000');
  });

  it.each(ALL)('decodes SUBSCRIBE_UPDATE (version %s)', async (v) => {
    const bytes = await Lite.netBytes((w) => new Lite.SubscribeUpdate({ priority: 9, ordered: true, maxLatency: 100, startGroup: 3 }).encode(w, v));
    const u = decodeSubscribeUpdate(await body(bytes), v);
    expect(u.priority).toBe(9);
    if (v === LiteVersion.DRAFT_04) expect(u).toMatchObject({ ordered: true, maxLatency: 100, startGroup: 3, endGroup: undefined });
  });
});

describe('lite-05', () => {
  const v = LiteVersion.DRAFT_05;

  it('encodes ANNOUNCE_OK and SUBSCRIBE_START exactly as @moq/net', async () => {
    const origin = (1n << 62n) - 3n;
    expect(hex(encodeAnnounceOk(origin, 3))).toBe(hex(await Lite.netBytes((w) => new Lite.AnnounceOk(origin, 3).encode(w, v))));
    expect(await Lite.AnnounceOk.decode(new Reader(undefined, encodeAnnounceOk(origin, 3)), v)).toMatchObject({ origin, active: 3 });
    const start = encodeSubscribeStart(0);
    expect(hex(start)).toBe(hex(await Lite.netBytes((w) => Lite.encodeSubscribeResponse(w, { start: new Lite.SubscribeStart(0) }, v))));
    expect(await Lite.decodeSubscribeResponse(new Reader(undefined, start), v)).toMatchObject({ start: { group: 0 } });
  });

  it('decodes TRACK and answers TRACK_INFO as @moq/net reads it', async () => {
    const req = decodeTrackRequest(await body(await Lite.netBytes((w) => new Lite.Track('/live/x/', 'video').encode(w, v))));
    expect(req).toEqual({ broadcast: 'live/x', track: 'video' });
    const info = encodeTrackInfo(2, FRAME_TIMESCALE);
    expect(hex(info)).toBe(hex(await Lite.netBytes((w) => new Lite.TrackInfo({ priority: 2, timescale: FRAME_TIMESCALE }).encode(w, v))));
    expect(await Lite.TrackInfo.decode(new Reader(undefined, info), v)).toMatchObject({ priority: 2, ordered: false, latencyMax: 0, timescale: 1_000_000 });
  });

  it('reads the SETUP @moq/net sends and writes one it reads', async () => {
    const client = await Lite.netBytes((w) => new Lite.Setup({ probe: 1, origin: 12345n, role: 2 }).encode(w, v));
    const parsed = await body(client);
    decodeSetup(parsed);
    expect(parsed.remaining).toBe(0);
    const ours = encodeSetupStream();
    const r = new Reader(undefined, ours);
    expect(await r.u53()).toBe(Lite.DataType.Setup);
    expect(await Lite.Setup.decode(r, v)).toMatchObject({ probe: 0, path: undefined, origin: undefined });
    expect(await r.done()).toBe(true);
  });

  it('zigzag-codes timestamp deltas', () => {
    expect([0, 1, -1, 2, -2, 1_000_000].map((d) => hex(encodeTimestampDelta(d)))).toEqual(['00', '02', '01', '04', '03', hex(Varint.encode(2_000_000))]);
  });
});

describe('groups and frames', () => {
  it('encodes the group stream header exactly as @moq/net', async () => {
    for (const [id, seq] of [
      [0n, 0],
      [5n, 1234],
      [(1n << 62n) - 1n, 2 ** 40],
    ] as const) {
      const net = await Lite.netBytes(async (w) => {
        await w.u53(Lite.DataType.Group);
        await new Lite.Group(id, seq).encode(w);
      });
      expect(hex(encodeGroupHeader(id, seq))).toBe(hex(net));
      const r = new Reader(undefined, encodeGroupHeader(id, seq));
      expect(await r.u53()).toBe(0);
      expect(await Lite.Group.decode(r)).toMatchObject({ subscribe: id, sequence: seq });
    }
  });

  it('frames are a varint size then the payload, the way @moq/net reads a group', async () => {
    const payload = new Uint8Array(300).map((_, i) => i);
    const r = new Reader(undefined, Buffer.concat([encodeFrame(payload), encodeFrame(new Uint8Array([7]))]));
    expect(Buffer.from(await r.read(await r.u53()))).toEqual(Buffer.from(payload));
    expect(Array.from(await r.read(await r.u53()))).toEqual([7]);
    expect(await r.done()).toBe(true);
  });
});

describe('hang', () => {
  let hang: {
    RootSchema: { parse(v: unknown): unknown };
    Legacy: { Format: new () => { decode(frame: Uint8Array): Array<{ payload: Uint8Array; timestamp: number }> } };
  };
  beforeAll(async () => {
    hang = await importBundled("export { RootSchema } from '@moq/hang/catalog'; export { Legacy } from '@moq/hang/container';");
  });

  const video: H264TrackInfo = {
    kind: 'video',
    codec: 'h264',
    codecString: 'avc1.64001f',
    width: 1280,
    height: 720,
    avcC: Uint8Array.of(1, 0x64, 0, 0x1f, 0xff, 0xe1),
    sps: [],
    pps: [],
    nalLengthSize: 4,
  };
  const audio: AacTrackInfo = { kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 44100, channels: 2, samplesPerFrame: 1024, asc: Uint8Array.of(0x12, 0x10) };

  it('builds a catalog the hang schema accepts, decoder configs in hex', () => {
    const catalog = buildCatalog({ path: 'live/cam1', video, audio });
    expect(hang.RootSchema.parse(JSON.parse(JSON.stringify(catalog)))).toEqual({
      video: {
        renditions: {
          video: { codec: 'avc1.64001f', container: { kind: 'legacy' }, description: '0164001fffe1', codedWidth: 1280, codedHeight: 720, optimizeForLatency: true },
        },
      },
      audio: { renditions: { audio: { codec: 'mp4a.40.2', container: { kind: 'legacy' }, description: '1210', sampleRate: 44100, numberOfChannels: 2 } } },
    });
    expect(buildCatalog({ path: 'a', audio })).not.toHaveProperty('video');
    expect(hang.RootSchema.parse(buildCatalog({ path: 'a', audio }))).toHaveProperty('audio');
  });

  it('legacy frames carry the presentation time in µs, never negative', () => {
    const frame = (pts: number): Frame => ({ kind: 'video', pts, dts: pts, key: true, data: Uint8Array.of(9, 8, 7), receivedAt: 0 });
    for (const pts of [0, 33_366, 4_000_000_123]) {
      const payload = legacyPayload(frame(pts));
      expect(hex(payload)).toBe(hex(Buffer.concat([Varint.encode(pts), Uint8Array.of(9, 8, 7)])));
      expect(new hang.Legacy.Format().decode(payload)).toEqual([{ payload: Uint8Array.of(9, 8, 7), timestamp: pts, keyframe: false }]);
    }
    expect(new hang.Legacy.Format().decode(legacyPayload(frame(-40_000)))[0]!.timestamp).toBe(0);
  });

  it('serializes each frame once for every subscription', () => {
    const f: Frame = { kind: 'audio', pts: 21_333, dts: 21_333, key: true, data: Uint8Array.of(1, 2), receivedAt: 0 };
    const a = wireFrame(f);
    expect(wireFrame(f)).toBe(a);
    expect(hex(a)).toBe(hex(encodeFrame(legacyPayload(f))));
  });
});

describe('malformed messages are protocol violations', () => {
  const violation = (f: () => unknown): void => expect(f).toThrow(MoqProtocolError);
  const reader = (...bytes: number[]): MessageReader => new MessageReader(Uint8Array.from(bytes), 'test');

  it('truncated, trailing, out-of-range', () => {
    violation(() => decodeSubscribe(reader(0x01, 0x05, 0x6c), LiteVersion.DRAFT_02));
    violation(() => decodeSubscribe(reader(0x01, 0x00, 0x00, 0x3c, 0xff), LiteVersion.DRAFT_02));
    violation(() => decodeSubscribe(reader(0x01, 0x00, 0x00, 0x3c, 0x02, 0, 0, 0), LiteVersion.DRAFT_04));
    violation(() => decodeClientSetup(reader(0x40, 0xff)));
    violation(() => decodeClientSetup(reader(0x00, 0x02, 0x01, 0x05, 0x01, 0x06)));
    violation(() => decodeAnnounceRequest(reader(0x02, 0xc3, 0x28), LiteVersion.DRAFT_02));
    violation(() => decodeAnnounceRequest(reader(0x03, 0x61, 0x62), LiteVersion.DRAFT_02));
    violation(() => normalizePath('a/'.repeat(40)));
  });

  it('paths normalize like moq-lite and prefixes match on part boundaries', () => {
    expect(normalizePath('//live///cam1/')).toBe('live/cam1');
    expect(pathSuffix('', 'live/cam1')).toBe('live/cam1');
    expect(pathSuffix('live', 'live/cam1')).toBe('cam1');
    expect(pathSuffix('live/cam1', 'live/cam1')).toBe('');
    expect(pathSuffix('live/cam', 'live/cam1')).toBeUndefined();
  });
});

describe('stream reader', () => {
  function chunked(bytes: Uint8Array, fail?: Error): ReadableStream<Uint8Array> {
    let i = 0;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (i < bytes.length) c.enqueue(bytes.subarray(i, ++i));
        else if (fail) c.error(fail);
        else c.close();
      },
    });
  }

  it('reads messages split into single bytes', async () => {
    const subscribe = await Lite.netBytes(async (w) => {
      await w.u53(Lite.StreamId.Subscribe);
      await new Lite.Subscribe({ id: 300n, broadcast: 'live/x', track: 'audio', priority: 80 }).encode(w, Lite.Version.DRAFT_02);
      await new Lite.SubscribeUpdate({ priority: 1 }).encode(w, Lite.Version.DRAFT_02);
    });
    const r = new StreamReader(chunked(subscribe), 'test');
    expect(await r.varint()).toBe(StreamType.Subscribe);
    expect(decodeSubscribe(await r.message('subscribe'), LiteVersion.DRAFT_02)).toMatchObject({ id: 300n, track: 'audio', priority: 80 });
    expect(await r.done()).toBe(false);
    expect(decodeSubscribeUpdate(await r.message('update'), LiteVersion.DRAFT_02).priority).toBe(1);
    expect(await r.done()).toBe(true);
  });

  it('a FIN inside a message is a violation, a reset is not', async () => {
    await expect(new StreamReader(chunked(Uint8Array.of(0x05, 1, 2)), 't').message('m')).rejects.toBeInstanceOf(MoqProtocolError);
    await expect(new StreamReader(chunked(Uint8Array.of(0x05, 1), new Error('reset')), 't').message('m')).rejects.toBeInstanceOf(MoqStreamClosedError);
    await expect(new StreamReader(chunked(Uint8Array.of(0x44, 0x00)), 't').message('m', 100)).rejects.toThrow(/limit 100/);
  });
});

describe('subprotocol selection', () => {
  it('parses wt-available-protocols as Chromium sends it, and prefers lite-05', () => {
    const header = '"moq-lite-05", "moq-lite-04", "moq-lite-03", "moql", "moqt-19", "moqt-16"';
    expect(parseStringList(header)).toEqual(['moq-lite-05', 'moq-lite-04', 'moq-lite-03', 'moql', 'moqt-19', 'moqt-16']);
    expect(selectProtocol(parseStringList(header))).toBe('moq-lite-05');
    expect(selectProtocol(['moq-lite-04', 'moq-lite-03', 'moql'])).toBe('moq-lite-04');
    expect(selectProtocol(['moq-lite-03', 'moql'])).toBe('moq-lite-03');
    expect(selectProtocol(['moq-lite-06-wip', 'moql', 'moqt-16'])).toBeUndefined();
    expect(parseStringList('"a";q=1, token, "b\\"c", "d')).toEqual(['a', 'b"c']);
    expect(parseStringList('')).toEqual([]);
  });
});
