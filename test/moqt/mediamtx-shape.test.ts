/**
 * A WebTransport CONNECT to `/<path>` offering `moqt-NN`, as MediaMTX's
 * clients make it: the session is bound to that path and served in
 * MediaMTX's shape. Checked on the wire with Polycast's own encoders and
 * decoders (the layouts MediaMTX writes on draft 19, and draft 16's control
 * stream): an empty namespace (and the reader page's `("stream")`) with
 * `.catalog`, SUBSCRIBE_OK without parameters and the Request ID as alias,
 * the catalog with tracks by index, then a stream per frame: one object and
 * an END_OF_GROUP marker, group IDs counting up, 90 kHz timestamps, SPS and
 * PPS in band in keyframes. And credentials in the AUTHORIZATION_TOKEN
 * parameter, as MediaMTX sends them.
 */
import { describe, expect, it } from 'vitest';
import { forEachNal, NalType } from '../../src/codec/h264.js';
import { MoqtRequestError } from '../../src/protocols/moqt/errors.js';
import { decodeSetup, encodeClientSetup, encodeSubscribe, MessageType } from '../../src/protocols/moqt/messages.js';
import { readObject, readSubgroupHeader, type SubgroupHeader } from '../../src/protocols/moqt/objects.js';
import { MoqtStreamReader } from '../../src/protocols/moqt/stream-reader.js';
import { frameMessage, type WireReader } from '../../src/protocols/moqt/wire.js';
import type { MoqtDraft } from '../../src/protocols/moqt/version.js';
import type { MediaMtxCatalog } from '../../src/protocols/moqt/msf.js';
import type { MoqtTransport } from '../../transports/moqt/server.js';
import { liveServerFixture, until } from '../moq/live-server.js';
import { connectWebTransport, type NodeWebTransport } from '../moq/wt-client.js';

const USERS = [
  'authInternalUsers:',
  '  - user: any',
  '    permissions: [{ action: publish }, { action: read, path: live/x }]',
  '  - user: mtx',
  '    pass: s3cret',
  '    permissions: [{ action: read }]',
  'paths:',
  '  live/x:',
  '  locked:',
  '',
].join('\n');
const fx = liveServerFixture(USERS, 'live/x');

interface Group {
  readonly header: SubgroupHeader;
  readonly objects: Array<{ timestamp: number | undefined; payload: Uint8Array }>;
}

/** A subscriber shaped like MediaMTX's clients, made of Polycast's wire code. */
class MtxClient {
  private readonly streams: Array<ReadableStream<Uint8Array>> = [];
  private readonly waiters: Array<() => void> = [];
  private control: MoqtStreamReader | undefined;
  private controlWriter: WritableStreamDefaultWriter<Uint8Array> | undefined;

  private constructor(
    readonly wt: NodeWebTransport,
    readonly draft: MoqtDraft,
  ) {}

  /** Streams accepted and not taken yet (a client that never reads leaves them here). */
  get waiting(): number {
    return this.streams.length;
  }

  static async connect(path: string, draft: MoqtDraft, windows: { streamWindow?: number; connectionWindow?: number } = {}): Promise<MtxClient> {
    const wt = await connectWebTransport(fx.srv.wtUrl(`/${path}`), { protocols: [`moqt-${draft}`], ...windows });
    await wt.ready;
    expect(wt.protocol).toBe(`moqt-${draft}`);
    const c = new MtxClient(wt, draft);
    void c.accept();
    await c.setup();
    return c;
  }

  private async accept(): Promise<void> {
    const reader = this.wt.incomingUnidirectionalStreams.getReader();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done || value === undefined) return;
      this.streams.push(value);
      this.waiters.splice(0).forEach((w) => w());
    }
  }

  async nextUni(): Promise<ReadableStream<Uint8Array>> {
    while (this.streams.length === 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.streams.shift()!;
  }

  private async setup(): Promise<void> {
    if (this.draft >= 17) {
      // As MediaMTX: the server's SETUP first, then ours, with no options.
      const theirs = new MoqtStreamReader((await this.nextUni()), 'setup');
      const setup = await theirs.message(this.draft, 4096);
      expect(setup.type).toBe(MessageType.Setup);
      decodeSetup(setup.body);
      const out = (await this.wt.createUnidirectionalStream()).getWriter();
      await out.write(frameMessage(this.draft, MessageType.Setup, new Uint8Array(0)));
      return;
    }
    const bidi = await this.wt.createBidirectionalStream();
    this.controlWriter = bidi.writable.getWriter();
    await this.controlWriter.write(encodeClientSetup(this.draft, 'mediamtx-shaped'));
    this.control = new MoqtStreamReader(bidi.readable, 'control');
    const answer = await this.control.message(this.draft, 4096);
    expect(answer.type).toBe(MessageType.ServerSetup);
  }

  /** SUBSCRIBE; resolves with the answer's type and body, past the Request ID in draft 16. */
  async subscribe(requestId: number, namespace: string[], track: string, authorization?: string): Promise<{ type: number; body: WireReader }> {
    const message = encodeSubscribe(this.draft, { requestId, namespace, track, ...(authorization === undefined ? {} : { authorization }) });
    if (this.control !== undefined) {
      await this.controlWriter!.write(message);
      let answer = await this.control.message(this.draft, 4096);
      // A refused request's ID is granted back with MAX_REQUEST_ID.
      while (answer.type === MessageType.MaxRequestId) answer = await this.control.message(this.draft, 4096);
      expect(answer.body.index()).toBe(requestId);
      return answer;
    }
    const bidi = await this.wt.createBidirectionalStream();
    await bidi.writable.getWriter().write(message);
    return new MoqtStreamReader(bidi.readable, 'request').message(this.draft, 4096);
  }

  /** A subgroup stream read to its end. */
  async readGroup(stream: ReadableStream<Uint8Array>): Promise<Group> {
    const r = new MoqtStreamReader(stream, 'data');
    const header = await readSubgroupHeader(await r.varint(this.draft), r, this.draft);
    const objects: Group['objects'] = [];
    for (;;) {
      const o = await readObject(r, this.draft, header, 1 << 24);
      if (o === undefined) break;
      objects.push(o);
    }
    return { header, objects };
  }

  close(): void {
    this.wt.close();
  }
}

/** REQUEST_ERROR's code (the body past draft 16's Request ID). */
function errorCode(answer: { type: number; body: WireReader }): number {
  expect(answer.type).toBe(MessageType.RequestError);
  return answer.body.varint();
}

/** SUBSCRIBE_OK as MediaMTX's parser takes it: the alias, then no parameters (track properties may follow). */
function expectPlainOk(answer: { type: number; body: WireReader }, alias: number): void {
  expect(answer.type).toBe(MessageType.SubscribeOk);
  expect(answer.body.index()).toBe(alias);
  expect(answer.body.index()).toBe(0);
}

describe.each([16, 19] as const)('draft %i at /<path>', (draft) => {
  it('an empty namespace and `.catalog` get the catalog; track "0" gets avc3 frames, one per stream', async () => {
    const c = await MtxClient.connect('live/x', draft);
    try {
      const catalogAnswer = await c.subscribe(0, [], '.catalog');
      expectPlainOk(catalogAnswer, 0);
      const catalogGroup = await c.readGroup(await c.nextUni());
      expect(catalogGroup.header).toMatchObject({ alias: 0, group: 0, properties: false });
      // The catalog, then the END_OF_GROUP marker MediaMTX's readers wait for.
      expect(catalogGroup.objects).toHaveLength(2);
      expect(catalogGroup.objects[1]!.payload.byteLength).toBe(0);
      const catalog = JSON.parse(new TextDecoder().decode(catalogGroup.objects[0]!.payload)) as MediaMtxCatalog;
      const video = fx.srv.server.paths.get('live/x')!.stream!.description.video!;
      expect(catalog.tracks.map((t) => t.name)).toEqual(['0', '1']);
      expect(catalog.tracks[0]).toMatchObject({ packaging: 'loc', codec: video.codecString.replace('avc1.', 'avc3.'), width: video.width, height: video.height, clockrate: 90_000 });
      expect(catalog.tracks[0]!.initData).toBeUndefined();
      expect(catalog.tracks[1]).toMatchObject({ codec: 'mp4a.40.2', samplerate: 48_000, channels: 1, clockrate: 48_000 });
      expect(typeof catalog.tracks[1]!.initData).toBe('string');

      const videoAnswer = await c.subscribe(2, [], '0');
      expectPlainOk(videoAnswer, 2);
      const groups: Group[] = [];
      while (groups.length < 20) groups.push(await c.readGroup(await c.nextUni()));
      groups.sort((a, b) => a.header.group - b.header.group);
      expect(groups.map((g) => g.header.group)).toEqual([...Array(20).keys()]);
      for (const g of groups) {
        expect(g.header.alias).toBe(2);
        expect(g.objects).toHaveLength(2);
        expect(g.objects[1]!.payload.byteLength).toBe(0);
      }
      // The first frame is a keyframe with SPS and PPS in band, 4-byte NAL lengths.
      const types = (payload: Uint8Array): number[] => {
        const out: number[] = [];
        forEachNal(payload, 4, (_nal, type) => void out.push(type));
        return out;
      };
      const first = types(groups[0]!.objects[0]!.payload);
      expect(first).toContain(NalType.sps);
      expect(first).toContain(NalType.pps);
      expect(first).toContain(NalType.idr);
      expect(first.indexOf(NalType.sps)).toBeLessThan(first.indexOf(NalType.idr));
      expect(types(groups[1]!.objects[0]!.payload)).not.toContain(NalType.sps);
      // 90 kHz: 30 fps frames are 3000 ticks apart (within RTMP's millisecond rounding).
      const ts = groups.map((g) => g.objects[0]!.timestamp!);
      expect(ts.slice(1).every((t, i) => Math.abs(t - ts[i]! - 3000) <= 90)).toBe(true);
    } finally {
      c.close();
    }
  }, 30_000);
});

describe('MediaMTX reader page shape (draft 19)', () => {
  it('namespace ("stream"), Request IDs 0 and 11: the audio track "1" at the sample rate, aliased by Request ID', async () => {
    const c = await MtxClient.connect('live/x', 19);
    try {
      expectPlainOk(await c.subscribe(0, ['stream'], '.catalog'), 0);
      await c.readGroup(await c.nextUni());
      expectPlainOk(await c.subscribe(11, ['stream'], '1'), 11);
      const groups: Group[] = [];
      while (groups.length < 10) groups.push(await c.readGroup(await c.nextUni()));
      groups.sort((a, b) => a.header.group - b.header.group);
      expect(groups.every((g) => g.header.alias === 11 && g.objects.length === 2)).toBe(true);
      expect(groups.map((g) => g.header.group)).toEqual([...Array(10).keys()]);
      // AAC at 48 kHz: 1024 samples per frame (within RTMP's millisecond rounding).
      const ts = groups.map((g) => g.objects[0]!.timestamp!);
      expect(ts.slice(1).every((t, i) => Math.abs(t - ts[i]! - 1024) <= 48)).toBe(true);
    } finally {
      c.close();
    }
  }, 30_000);

  it('a track that is not in the catalog is refused DOES_NOT_EXIST; the session goes on', async () => {
    const c = await MtxClient.connect('live/x', 19);
    try {
      const refused = await c.subscribe(0, [], 'video');
      expect(errorCode(refused)).toBe(MoqtRequestError.DoesNotExist);
      expectPlainOk(await c.subscribe(2, [], '.catalog'), 2);
    } finally {
      c.close();
    }
  }, 30_000);
});

describe('a MediaMTX-shaped subscriber that does not read', () => {
  it('has frames skipped before they get a stream, stays connected, and costs another subscriber nothing', async () => {
    const moqt = fx.srv.server.transports.find((t) => t.name === 'moqt') as MoqtTransport;
    const before = new Set(moqt.sessions);
    const slow = await MtxClient.connect('live/x', 19, { streamWindow: 2048, connectionWindow: 8192 });
    const session = [...moqt.sessions].find((s) => !before.has(s))!;
    const fast = await MtxClient.connect('live/x', 19);
    try {
      expectPlainOk(await slow.subscribe(0, [], '.catalog'), 0);
      await slow.readGroup(await slow.nextUni());
      expectPlainOk(await slow.subscribe(2, [], '0'), 2);
      expectPlainOk(await fast.subscribe(0, [], '.catalog'), 0);
      await fast.readGroup(await fast.nextUni());
      expectPlainOk(await fast.subscribe(2, [], '0'), 2);
      const groups: Group[] = [];
      while (groups.length < 90) groups.push(await fast.readGroup(await fast.nextUni()));
      // The reader of the fast session got every frame, numbered without a gap.
      const ids = groups.map((g) => g.header.group).sort((a, b) => a - b);
      expect(ids).toEqual([...Array(90).keys()]);
      await until(() => session.groupsDropped > 0, 'frames skipped for the slow subscriber', 10_000);
      expect(moqt.sessions.has(session)).toBe(true);
      // Frames whose streams went through (small ones fit its window) do not count against it; what it holds does.
      expect(slow.waiting).toBeLessThanOrEqual(session.groupsSent);
    } finally {
      slow.close();
      fast.close();
    }
  }, 30_000);
});

describe('credentials in the AUTHORIZATION_TOKEN parameter', () => {
  it.each([16, 19] as const)('draft %i: refused without, served with `Basic …` as MediaMTX sends it', async (draft) => {
    const c = await MtxClient.connect('locked', draft);
    try {
      const refused = await c.subscribe(0, [], '.catalog');
      expect(errorCode(refused)).toBe(MoqtRequestError.Unauthorized);
      const wrong = await c.subscribe(2, [], '.catalog', `Basic ${Buffer.from('mtx:nope').toString('base64')}`);
      expect(errorCode(wrong)).toBe(MoqtRequestError.Unauthorized);
      expectPlainOk(await c.subscribe(4, [], '.catalog', `Basic ${Buffer.from('mtx:s3cret').toString('base64')}`), 4);
    } finally {
      c.close();
    }
  }, 30_000);
});

describe('routing', () => {
  it('/<path> without a moqt subprotocol is not a moqt session; /moqt is unchanged', async () => {
    await expect(
      (async () => {
        const wt = await connectWebTransport(fx.srv.wtUrl('/live/x'), { protocols: ['something-else'] });
        await wt.ready;
        wt.close();
      })(),
    ).rejects.toThrow();
    const wt = await connectWebTransport(fx.srv.wtUrl('/moqt'), { protocols: ['moqt-19'] });
    await wt.ready;
    expect(wt.protocol).toBe('moqt-19');
    wt.close();
  }, 30_000);
});
