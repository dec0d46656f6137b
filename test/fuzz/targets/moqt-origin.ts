/**
 * A hostile moq-transport origin for Polycast as an edge: the child pulls
 * `fuzzmoqt/<n>` on demand from `moqt://127.0.0.1:<port>/m<n>?layout=mediamtx`
 * and `fuzzmoqtp/<n>` from `moqt://…/p<n>` (Polycast's layout: `/moqt`, the
 * namespace `("p<n>")`), pinned to this origin's certificate (see
 * server-process.ts), and this target is that origin, a WebTransport server.
 * Each case opens a reader on one of the two paths; the origin answers the
 * pull with a mutated conversation: its `wt-protocol`, SETUP, SUBSCRIBE_OK or
 * REQUEST_ERROR, the catalog (MSF JSON, mutated structurally or as bytes),
 * then LOC objects of an ffmpeg recording on subgroup streams (headers,
 * object fields, properties and payloads mutated; streams truncated, reset,
 * or of random bytes). What the edge's moqt client reads must cost only that
 * pull: no crash, no 1011 for the reader, the watched path unharmed.
 */
import { parseAvcDecoderConfig, avcCodecString } from '../../../src/codec/h264.js';
import { decodeSetup, decodeSubscribe, encodeRequestError, encodeSetup, encodeSubscribeOk, MessageType, type SubscribeRequest } from '../../../src/protocols/moqt/messages.js';
import { encodeEndOfGroup, encodeObject, encodeSubgroupHeader } from '../../../src/protocols/moqt/objects.js';
import { MoqtStreamReader } from '../../../src/protocols/moqt/stream-reader.js';
import { frameMessage, WireWriter } from '../../../src/protocols/moqt/wire.js';
import { MOQT_DRAFTS, type MoqtDraft } from '../../../src/protocols/moqt/version.js';
import { generateSelfSignedCertificate } from '../../../src/protocols/webtransport/cert.js';
import { WebTransportServer, type WebTransportSession } from '../../../src/protocols/webtransport/index.js';
import type { BidiStream, SendStream } from '../../../src/protocols/stream-session.js';
import { caseRng, concatBytes, fuzzInput, mutate, utf8, type Rng } from '../harness.js';
import { runCases, within, type CaseContext, type FuzzTarget } from '../target.js';
import { flvRecording } from './flv.js';
import { FuzzSocket } from './ws-client.js';

/** How long a case lets the edge and the origin talk before the reader leaves. */
const CASE_MS = 700;
const TARGET = 'moqt-origin';

let certificate: { certPem: string; keyPem: string; fingerprint: string } | undefined;

/** The origin's certificate, made once per run: server-process.ts pins the child's pulls to its fingerprint. */
export function moqtOriginCertificate(): { certPem: string; keyPem: string; fingerprint: string } {
  if (certificate === undefined) {
    const made = generateSelfSignedCertificate({ validDays: 2 });
    certificate = { certPem: made.certPem, keyPem: made.keyPem, fingerprint: Buffer.from(made.sha256).toString('hex') };
  }
  return certificate;
}

interface MediaFrame {
  readonly kind: 'video' | 'audio';
  readonly key: boolean;
  /** µs */
  readonly pts: number;
  /** Length-prefixed NAL units (4-byte lengths), or a raw AAC frame. */
  readonly data: Uint8Array;
}

interface Recording {
  readonly avcC: Uint8Array;
  readonly asc: Uint8Array;
  readonly sps: readonly Uint8Array[];
  readonly pps: readonly Uint8Array[];
  readonly frames: readonly MediaFrame[];
}

let recording: Recording | undefined;

/** The FLV recording's H.264 and AAC as LOC payloads. */
function media(): Recording {
  if (recording !== undefined) return recording;
  let avcC: Uint8Array = new Uint8Array(0);
  let asc: Uint8Array = new Uint8Array(0);
  const frames: MediaFrame[] = [];
  for (const tag of flvRecording().tags) {
    const b = tag.body;
    if (tag.type === 9 && (b[0]! & 0x0f) === 7) {
      if (b[1] === 0) avcC = b.subarray(5);
      else if (b[1] === 1) {
        const cts = ((b[2]! << 16) | (b[3]! << 8) | b[4]!) << 8 >> 8;
        frames.push({ kind: 'video', key: b[0]! >> 4 === 1, pts: (tag.timestamp + cts) * 1000, data: b.subarray(5) });
      }
    } else if (tag.type === 8 && b[0]! >> 4 === 10) {
      if (b[1] === 0) asc = b.subarray(2);
      else frames.push({ kind: 'audio', key: true, pts: tag.timestamp * 1000, data: b.subarray(2) });
    }
  }
  const { sps, pps } = parseAvcDecoderConfig(avcC);
  recording = { avcC, asc, sps, pps, frames: frames.slice(0, 140) };
  return recording;
}

type Layout = 'mediamtx' | 'polycast';

/** What a case's catalog says, as the origin of that layout writes it. */
function catalogOf(layout: Layout, rng: Rng): Uint8Array {
  const m = media();
  const b64 = (x: Uint8Array) => Buffer.from(x).toString('base64');
  const video: Record<string, unknown> =
    layout === 'mediamtx'
      ? { name: '0', packaging: 'loc', isLive: true, codec: avcCodecString(m.sps[0]!).replace('avc1', 'avc3'), width: 320, height: 180 }
      : { name: 'video', packaging: 'loc', isLive: true, role: 'video', renderGroup: 1, codec: avcCodecString(m.avcC), initData: b64(m.avcC), width: 320, height: 180 };
  const audio: Record<string, unknown> =
    layout === 'mediamtx'
      ? { name: '1', packaging: 'loc', isLive: true, codec: 'mp4a.40.2', initData: b64(m.asc), samplerate: 44100, channels: 1 }
      : { name: 'audio', packaging: 'loc', isLive: true, role: 'audio', renderGroup: 1, codec: 'mp4a.40.2', initData: b64(m.asc), samplerate: 44100, channelConfig: '1' };
  const tracks: unknown[] = [video, audio];
  if (rng.chance(0.15)) {
    // Structural mutations: values of the wrong kind or size, odd codecs, extra or missing tracks.
    const t = rng.pick([video, audio]);
    const key = rng.pick(['codec', 'initData', 'width', 'height', 'samplerate', 'channels', 'channelConfig', 'timescale', 'clockrate', 'name', 'packaging', 'role', 'namespace']);
    t[key] = rng.pick<unknown>([null, -1, 0, 1e308, 2 ** 53, 'x'.repeat(rng.int(5000)), '', [], {}, 'av01', 'hev1.1.6.L93.B0', 'vp09.00.10.08', 'opus', '!!!', b64(rng.bytes(rng.int(64))), true]);
    if (rng.chance(0.2)) tracks.push(...Array.from({ length: rng.int(80) }, (_, i) => ({ ...video, name: `x${i}` })));
    if (rng.chance(0.1)) tracks.splice(0, 1);
  }
  const json = utf8(JSON.stringify({ version: 1, tracks }));
  return rng.chance(0.1) ? fuzzInput(rng, [json], 512) : json;
}

/** One WebTransport session from the edge. */
class HostileSession {
  private rng: Rng | undefined;
  private index: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private readonly streams = new Set<SendStream>();
  messages = 0;
  /** The edge got as far as asking for a media track (it took the catalog). */
  subscribedMedia = false;

  constructor(
    private readonly session: WebTransportSession,
    private readonly draft: MoqtDraft,
    private readonly layout: Layout,
    private readonly seed: number,
    index: number | undefined,
    private readonly onCase: (index: number, s: HostileSession) => void,
  ) {
    if (index !== undefined) this.bind(index);
    session.onUniStream = (s) => void s.readable.pipeTo(new WritableStream()).catch(() => undefined);
    session.onBidiStream = (s) => void this.request(s).catch(() => undefined);
    void session.closed.then(() => this.close());
    if (draft >= 17) {
      void session.createUniStream().then((out) => {
        this.streams.add(out);
        this.write(out, encodeSetup(draft, { implementation: 'hostile', maxRequestId: 1 << 20 }));
      }, () => undefined);
    }
  }

  private bind(index: number): void {
    if (this.rng !== undefined) return;
    this.index = index;
    this.rng = caseRng(this.seed, TARGET, index);
    this.onCase(index, this);
  }

  /** Bytes as meant, or (sometimes) mutated. */
  private write(out: SendStream, bytes: Uint8Array, p = 0.12): void {
    this.messages++;
    const rng = this.rng;
    out.write(rng !== undefined && rng.chance(p) ? mutate(rng, bytes) : bytes).catch(() => undefined);
  }

  private async request(stream: BidiStream): Promise<void> {
    this.streams.add(stream);
    const reader = new MoqtStreamReader(stream.readable, 'request');
    if (this.draft === 16) {
      const setup = await reader.message(16, 4096);
      if (setup.type !== MessageType.ClientSetup) return;
      decodeSetup(setup.body);
      this.write(stream, encodeSetup(16, { implementation: 'hostile', maxRequestId: 1 << 20 }), 0.05);
      for (;;) {
        const m = await reader.message(16, 16384);
        if (m.type === MessageType.Subscribe) this.subscribed(decodeSubscribe(m.body), stream);
      }
    }
    const m = await reader.message(this.draft, 16384);
    if (m.type === MessageType.Subscribe) this.subscribed(decodeSubscribe(m.body), stream);
  }

  private subscribed(req: SubscribeRequest, answer: SendStream): void {
    if (this.layout === 'polycast' && this.rng === undefined) {
      const index = /^p(\d+)$/.exec(req.namespace[0] ?? '')?.[1];
      if (index === undefined) return this.session.close(0x10, 'no such namespace');
      this.bind(Number(index));
    }
    const rng = this.rng!;
    const catalog = req.track === 'catalog' || req.track === '.catalog';
    const kind = catalog ? 'catalog' : req.track === 'video' || req.track === '0' ? 'video' : 'audio';
    const alias = rng.chance(0.05) ? rng.pick([0, 1, 2, 3, 2 ** 40, rng.int(1 << 30)]) : { catalog: 1, video: 2, audio: 3 }[kind];
    if (rng.chance(0.05)) return this.write(answer, encodeRequestError(this.draft, { requestId: req.requestId, code: rng.pick([0x1, 0x3, 0x10, rng.int(1 << 20)]), reason: 'x'.repeat(rng.int(300)) }), 0.3);
    const timescale = rng.chance(0.1) ? rng.pick([0, 1, 90_000, 2 ** 53, 1e9]) : kind === 'video' && this.layout === 'mediamtx' ? 90_000 : 1_000_000;
    let ok = encodeSubscribeOk(this.draft, { requestId: req.requestId, alias, timescale });
    if (this.layout === 'mediamtx' && rng.chance(0.7)) {
      // As MediaMTX answers: the alias and nothing else (draft 16 keeps the Request ID first).
      const w = new WireWriter(this.draft);
      if (this.draft === 16) w.varint(req.requestId);
      ok = frameMessage(this.draft, MessageType.SubscribeOk, w.varint(alias).varint(0).finish());
    }
    this.write(answer, ok);
    if (rng.chance(0.03)) this.write(answer, frameMessage(this.draft, rng.pick([MessageType.PublishDone, MessageType.GoAway, rng.int(0x40)]), rng.bytes(rng.int(20))), 0.5);
    if (rng.chance(0.03)) answer.end().catch(() => undefined);
    if (catalog) void this.group(alias, rng.int(3), [catalogOf(this.layout, rng)], false);
    else {
      this.subscribedMedia = true;
      this.start();
    }
    // Now and then a stream that is no subgroup at all, or noise.
    if (rng.chance(0.05)) void this.rawStream(fuzzInput(rng, [encodeSubgroupHeader(this.draft, { alias, group: 0, properties: true })], 64));
  }

  /** One subgroup stream: header, objects (and MediaMTX's END_OF_GROUP marker), FIN; mutated, truncated or reset now and then. */
  private async group(alias: number, group: number, payloads: readonly Uint8Array[], properties: boolean, timestamps: readonly number[] = [], endMarker = false): Promise<void> {
    const rng = this.rng;
    if (rng === undefined) return;
    const parts = [encodeSubgroupHeader(this.draft, { alias, group, properties })];
    payloads.forEach((p, i) => parts.push(encodeObject(this.draft, p, properties ? timestamps[i] ?? 0 : undefined)));
    if (endMarker) parts.push(encodeEndOfGroup(this.draft, properties));
    let bytes = concatBytes(parts);
    if (rng.chance(0.1)) bytes = mutate(rng, bytes, parts);
    const out = await this.session.createUniStream().catch(() => undefined);
    if (out === undefined) return;
    this.streams.add(out);
    this.messages++;
    const cut = rng.chance(0.05);
    out.write(cut ? bytes.subarray(0, rng.int(bytes.byteLength)) : bytes).catch(() => undefined);
    if (cut && rng.chance(0.5)) out.abort(rng.int(4));
    else out.end().catch(() => undefined);
  }

  private async rawStream(bytes: Uint8Array): Promise<void> {
    const out = await this.session.createUniStream().catch(() => undefined);
    if (out === undefined) return;
    this.messages++;
    out.write(bytes).catch(() => undefined);
    out.end().catch(() => undefined);
  }

  /** The recording's frames, a few per tick: per GOP and per 10 audio frames (Polycast's layout), or a group per frame (MediaMTX's). */
  private start(): void {
    if (this.started) return;
    this.started = true;
    const rng = this.rng!;
    const m = media();
    const bodies = m.frames.map((f) => f.data);
    let at = 0;
    let videoGroup = 0;
    let audioGroup = 0;
    let gop: MediaFrame[] = [];
    let audio: MediaFrame[] = [];
    const payload = (f: MediaFrame): Uint8Array => {
      let data = f.data;
      if (this.layout === 'mediamtx' && f.kind === 'video' && f.key) data = concatBytes([...m.sps, ...m.pps].flatMap((nal) => [Uint8Array.of(0, 0, nal.byteLength >> 8, nal.byteLength & 0xff), nal]).concat([data]));
      return rng.chance(0.1) ? fuzzInput(rng, [data, ...bodies.slice(0, 4)], 256) : data;
    };
    const stamp = (f: MediaFrame): number => {
      const rate = this.layout === 'polycast' ? 1_000_000 : f.kind === 'video' ? 90_000 : 44_100;
      return rng.chance(0.03) ? rng.pick([0, 2 ** 53, 2 ** 61, rng.int(1 << 30)]) : Math.round((f.pts * rate) / 1_000_000);
    };
    const flushGop = () => {
      if (gop.length > 0) void this.group(2, videoGroup++, gop.map(payload), true, gop.map(stamp));
      gop = [];
    };
    this.timer = setInterval(() => {
      for (let i = 0; i < 5 && at < m.frames.length; i++, at++) {
        const f = m.frames[at]!;
        if (this.layout === 'mediamtx') {
          if (f.kind === 'video') void this.group(2, videoGroup++, [payload(f)], true, [stamp(f)], rng.chance(0.95));
          else void this.group(3, audioGroup++, [payload(f)], true, [stamp(f)], rng.chance(0.95));
          continue;
        }
        if (f.kind === 'video') {
          if (f.key) flushGop();
          gop.push(f);
        } else {
          audio.push(f);
          if (audio.length >= 10) {
            void this.group(3, audioGroup++, audio.map(payload), true, audio.map(stamp));
            audio = [];
          }
        }
      }
      if (rng.chance(0.02)) videoGroup = rng.pick([0, videoGroup + 5, 2 ** 31]);
      if (at >= m.frames.length) {
        flushGop();
        clearInterval(this.timer);
      }
    }, 20);
  }

  close(): void {
    clearInterval(this.timer);
  }

  end(): void {
    this.close();
    this.session.close(0, 'case over');
  }

  get caseIndex(): number | undefined {
    return this.index;
  }
}

export const moqtOrigin: FuzzTarget = {
  name: TARGET,
  summary:
    'what a hostile moq-transport origin sends to Polycast as an edge (`source: moqt://…`, both layouts, sourceOnDemand): `wt-protocol`, SETUP, SUBSCRIBE answers, the MSF catalog, subgroup streams and LOC objects, all mutated',
  settleMs: 2000,
  async wire(ctx: CaseContext) {
    const cert = moqtOriginCertificate();
    const waiting = new Map<number, (s: HostileSession) => void>();
    const open = new Set<HostileSession>();
    const drafts = new Map<string, MoqtDraft>();
    const reasons = new Map<string, number>();
    const server = new WebTransportServer({
      host: '127.0.0.1',
      port: ctx.ports.moqtOrigin,
      cert: cert.certPem,
      key: cert.keyPem,
      onRequest: (req) => {
        const m = /^\/m(\d+)/.exec(req.path);
        if (m === null) return { status: 200, headers: { 'wt-protocol': '"moqt-19"' } };
        // The MediaMTX layout names the case in the URL: its answer is the case's to mutate.
        const rng = caseRng(ctx.seed, `${TARGET}:connect`, Number(m[1]));
        if (rng.chance(0.03)) return { status: rng.pick([404, 401, 500, 301]) };
        const protocol = rng.chance(0.05) ? rng.pick(['moqt-15', 'moqt-20', 'x', '']) : `moqt-${rng.pick(MOQT_DRAFTS)}`;
        drafts.set(req.path, (MOQT_DRAFTS as readonly number[]).includes(Number(protocol.slice(5))) ? (Number(protocol.slice(5)) as MoqtDraft) : 19);
        return { status: 200, headers: { 'wt-protocol': JSON.stringify(protocol) } };
      },
    });
    server.on('session', (session: WebTransportSession) => {
      const path = session.request.path;
      const m = /^\/m(\d+)/.exec(path);
      const layout: Layout = m === null ? 'polycast' : 'mediamtx';
      const s = new HostileSession(session, drafts.get(path) ?? 19, layout, ctx.seed, m === null ? undefined : Number(m[1]), (index, hs) => waiting.get(index)?.(hs));
      open.add(s);
      void session.closed.then((info) => {
        open.delete(s);
        // What the edge said when it gave up: with POLYCAST_FUZZ_VERBOSE, a summary of which parsers the cases reached.
        const why = (info.reason || `code ${info.code}`).replace(/\d+/g, 'N').slice(0, 90);
        reasons.set(why, (reasons.get(why) ?? 0) + 1);
      });
    });
    await server.listen();
    let pulls = 0;
    let tracks = 0;
    try {
      await runCases(ctx, this.name, async (index, rng) => {
        const layout: Layout = rng.chance(0.5) ? 'mediamtx' : 'polycast';
        const pulled = new Promise<HostileSession>((resolve) => waiting.set(index, resolve));
        const reader = new FuzzSocket(`ws://127.0.0.1:${ctx.ports.web}/${layout === 'mediamtx' ? 'fuzzmoqt' : 'fuzzmoqtp'}/${index}/ws/nal`);
        const origin = await within(pulled, 3000);
        waiting.delete(index);
        const outcome = await reader.finish(CASE_MS);
        ctx.sent(origin === 'timeout' ? 1 : Math.max(1, origin.messages));
        if (origin !== 'timeout') {
          pulls++;
          if (origin.subscribedMedia) tracks++;
        }
        for (const s of [...open]) if (s.caseIndex === index) s.end();
        if (outcome.close?.code === 1011) {
          ctx.finding({ kind: 'internal-error', detail: `the edge's reader was closed with 1011: ${outcome.close.reason}`, caseIndex: index });
        }
      }, Math.min(ctx.concurrency, 4));
      // Cases the edge never pulled, or whose catalog it never got past, would fuzz nothing of the subgroup and object parsers.
      if (ctx.onlyCase === undefined && ctx.alive() && tracks === 0) {
        ctx.finding({ kind: 'contract', detail: `the edge pulled ${pulls} time(s) and subscribed to a media track in none` });
      }
    } finally {
      for (const s of open) s.end();
      await server.close();
      if (process.env['POLYCAST_FUZZ_VERBOSE']) {
        for (const [why, n] of [...reasons].sort((x, y) => y[1] - x[1]).slice(0, 400)) console.log(`${String(n).padStart(5)}  ${why}`);
      }
    }
  },
};
