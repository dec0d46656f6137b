/**
 * IETF moq-transport (drafts 16–19, the `moqt-NN` WebTransport subprotocol)
 * on `/moqt`: the setup (draft 16's CLIENT_SETUP on the control stream, the
 * SETUP stream from 17 on) and SUBSCRIBEs for the watched path's catalog,
 * video and audio, built with the server's own encoders and mutated, on the
 * control stream (16) or a stream per request (17 on); and the server's
 * decoders in this process.
 */
import { MoqtProtocolError, MoqtSessionCode } from '../../../src/protocols/moqt/errors.js';
import { decodeRequestId, decodeSetup, decodeSubscribe, MessageType } from '../../../src/protocols/moqt/messages.js';
import { hasStreamPerRequest, MOQT_DRAFTS, type MoqtDraft } from '../../../src/protocols/moqt/version.js';
import { frameMessage, WireReader, WireWriter } from '../../../src/protocols/moqt/wire.js';
import { connectWebTransport, type NodeWebTransport } from '../../moq/wt-client.js';
import { caseRng, fuzzInput, utf8 } from '../harness.js';
import { WATCH_PATH } from '../server-process.js';
import { runCases, within, type CaseContext, type FuzzTarget, type InProcessContext } from '../target.js';

const IMPLEMENTATION = 0x07;
const FORWARD = 0x10;
const SUBSCRIPTION_FILTER = 0x21;

/** CLIENT_SETUP (16: a counted list) or SETUP (17 on: options to the end) body with an implementation option. */
function setupBody(draft: MoqtDraft): Uint8Array {
  const w = new WireWriter(draft);
  if (!hasStreamPerRequest(draft)) w.varint(1);
  return w.varint(IMPLEMENTATION).blob(utf8('polycast-fuzz')).finish();
}

/** SUBSCRIBE body: FORWARD and a SUBSCRIPTION_FILTER (NextGroupStart or LatestObject), in the draft's parameter encoding. */
function subscribeBody(draft: MoqtDraft, requestId: number, path: string, track: string, filter: number): Uint8Array {
  const w = new WireWriter(draft).varint(requestId);
  if (draft === 17) w.varint(0);
  const fields = path.split('/');
  w.varint(fields.length);
  for (const f of fields) w.string(f);
  w.string(track).varint(2);
  const filterBytes = new WireWriter(draft).varint(filter).finish();
  // Types are deltas; draft 16 puts a varint after an even type and a length-prefixed value after an odd one, 17 on a value of the type's kind.
  if (hasStreamPerRequest(draft)) w.varint(FORWARD).u8(1);
  else w.varint(FORWARD).varint(1);
  return w.varint(SUBSCRIPTION_FILTER - FORWARD).blob(filterBytes).finish();
}

function setupMessage(draft: MoqtDraft): Uint8Array {
  return frameMessage(draft, hasStreamPerRequest(draft) ? MessageType.Setup : MessageType.ClientSetup, setupBody(draft));
}

/** Framed requests of one draft: subscribes (the watched path's tracks among them), the requests we refuse, UNSUBSCRIBE. */
function requestCorpus(draft: MoqtDraft): Uint8Array[] {
  const subscribe = (id: number, path: string, track: string, filter = 0x1) => frameMessage(draft, MessageType.Subscribe, subscribeBody(draft, id, path, track, filter));
  return [
    subscribe(0, WATCH_PATH, 'catalog'),
    subscribe(2, WATCH_PATH, 'video', 0x2),
    subscribe(4, WATCH_PATH, 'audio'),
    subscribe(6, 'fuzz/moqt', 'video'),
    subscribe(8, WATCH_PATH, 'nothing'),
    frameMessage(draft, MessageType.Unsubscribe, new WireWriter(draft).varint(2).finish()),
    frameMessage(draft, MessageType.TrackStatus, subscribeBody(draft, 10, WATCH_PATH, 'video', 0x1)),
    frameMessage(draft, MessageType.Fetch, new WireWriter(draft).varint(12).varint(1).string('x').finish()),
    frameMessage(draft, MessageType.RequestUpdate, new WireWriter(draft).varint(0).varint(0).finish()),
  ];
}

const CORPUS = new Map(MOQT_DRAFTS.map((d) => [d, { setup: setupMessage(d), requests: requestCorpus(d) }] as const));

/** Whatever arrives first on `readable` within `ms`: any bytes back are the server having parsed what it got. */
async function firstBytes(readable: ReadableStream<Uint8Array>, ms: number): Promise<boolean> {
  const r = readable.getReader();
  const got = await within(r.read().then((x) => !x.done && x.value.length > 0, () => false), ms);
  void r.cancel().catch(() => undefined);
  return got === true;
}

async function write(writable: WritableStream<Uint8Array>, bytes: Uint8Array, finish: boolean): Promise<void> {
  const w = writable.getWriter();
  await w.write(bytes);
  if (finish) await w.close();
  else w.releaseLock();
}

export const moqt: FuzzTarget = {
  name: 'moqt',
  summary: 'moq-transport (drafts 16–19) setup and SUBSCRIBE messages on the control stream or request streams of a WebTransport session on `/moqt`',
  async wire(ctx: CaseContext) {
    const url = `https://127.0.0.1:${ctx.ports.webTransport}/moqt`;
    let answered = 0;
    await runCases(
      ctx,
      this.name,
      async (index, rng) => {
        const draft = rng.pick(MOQT_DRAFTS);
        const { setup, requests } = CORPUS.get(draft)!;
        let wt: NodeWebTransport;
        try {
          const c = await within(connectWebTransport(url, { protocols: [`moqt-${draft}`] }), 10_000);
          if (c === 'timeout') throw new Error('timeout');
          wt = c;
          await wt.ready;
        } catch (err) {
          if (ctx.alive()) ctx.finding({ kind: 'hang', detail: `WebTransport session to /moqt failed: ${(err as Error).message}`, caseIndex: index });
          return;
        }
        let closeCode: number | undefined;
        void wt.closed.then((c) => (closeCode = c.closeCode), () => undefined);
        // The server's setup stream and groups of any subscription are let go of at once.
        void (async () => {
          const streams = wt.incomingUnidirectionalStreams.getReader();
          for (let s = await streams.read(); !s.done; s = await streams.read()) void s.value.cancel().catch(() => undefined);
        })().catch(() => undefined);
        try {
          const first = rng.chance(0.25) ? fuzzInput(rng, [setup], 64) : setup;
          const n = 1 + rng.int(16);
          if (!hasStreamPerRequest(draft)) {
            // Draft 16: everything on one control stream, the setup first.
            const control = await wt.createBidirectionalStream();
            const body = Array.from({ length: n }, () => fuzzInput(rng, requests, 64));
            for (const bytes of [first, ...body]) {
              await within(write(control.writable, bytes, false), 1000);
              ctx.sent();
            }
            if (await firstBytes(control.readable, 300)) answered++;
          } else {
            const setupStream = await wt.createUnidirectionalStream();
            await within(write(setupStream, first, rng.chance(0.1)), 1000);
            ctx.sent();
            for (let i = 0; i < n; i++) {
              const s = await within(wt.createBidirectionalStream(), 1000);
              if (s === 'timeout') break;
              await within(write(s.writable, fuzzInput(rng, requests, 64), rng.chance(0.3)), 1000);
              ctx.sent();
              if (await firstBytes(s.readable, 100)) answered++;
            }
          }
        } catch {
          // The server closed the session or reset a stream: what it should do with garbage.
        } finally {
          await within(wt.closed, 20);
          if (closeCode === MoqtSessionCode.InternalError) ctx.finding({ kind: 'internal-error', detail: `moqt-${draft} session closed with INTERNAL_ERROR`, caseIndex: index });
          wt.close();
        }
      },
      8,
    );
    // Sessions in which the server never answered a setup or a request never got past the setup's parser.
    if (ctx.onlyCase === undefined && ctx.alive() && answered === 0) {
      ctx.finding({ kind: 'contract', detail: `no /moqt session got an answer in ${ctx.progress.cases} case(s): the request parsers were never fuzzed` });
    }
  },
  inProcess(ctx: InProcessContext) {
    for (let i = 0; i < ctx.count; i++) {
      const rng = caseRng(ctx.seed, 'moqt/in-process', i);
      const draft = rng.pick(MOQT_DRAFTS);
      const bodies = [setupBody(draft), subscribeBody(draft, 0, WATCH_PATH, 'video', 0x1), subscribeBody(draft, 2, 'a', 'catalog', 0x2)];
      const bytes = fuzzInput(rng, bodies, 64);
      try {
        const r = new WireReader(bytes, draft, 'fuzz');
        [() => decodeSetup(r), () => decodeSubscribe(r), () => decodeRequestId(r)][rng.int(3)]!();
      } catch (err) {
        if (!(err instanceof MoqtProtocolError)) ctx.finding({ kind: 'untyped-exception', detail: `moqt decoder (draft ${draft}): ${(err as Error).stack?.split('\n').slice(0, 3).join(' ')}`, caseIndex: i, bytes });
      }
    }
    return ctx.count;
  },
};
