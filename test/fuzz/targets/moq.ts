/**
 * moq-lite control messages behind a WebTransport session on `/moq`: the
 * compat setup (IETF CLIENT_SETUP framing) on fresh sessions, then announce
 * and subscribe streams with mutated bodies, and the server's decoders in
 * this process.
 */
import { decodeAnnounceRequest, decodeClientSetup, decodeSubscribe, decodeSubscribeUpdate, LiteVersion, StreamType } from '../../../transports/moq/messages.js';
import { MessageReader, MessageWriter, MoqProtocolError, prefixVarint } from '../../../transports/moq/wire.js';
import { RawMoqClient } from '../../moq/raw-client.js';
import { caseRng, concatBytes, fuzzInput, utf8 } from '../harness.js';
import { WATCH_PATH } from '../server-process.js';
import { runCases, within, type CaseContext, type FuzzTarget, type InProcessContext } from '../target.js';

const subscribeBody = (id: number, broadcast: string, track: string) => new MessageWriter().varint(id).string(broadcast).string(track).u8(1);

const STREAM_CORPUS: Uint8Array[] = [
  prefixVarint(StreamType.Announce, new MessageWriter().string('').sized()),
  prefixVarint(StreamType.Announce, new MessageWriter().string('fuzz').sized()),
  prefixVarint(StreamType.Subscribe, subscribeBody(1, 'fuzz/moq', 'catalog.json').sized()),
  prefixVarint(StreamType.Subscribe, subscribeBody(2, WATCH_PATH, 'catalog.json').sized()),
  prefixVarint(StreamType.Subscribe, subscribeBody(3, 'fuzz/none', 'video').sized()),
  concatBytes([prefixVarint(StreamType.Subscribe, subscribeBody(4, 'fuzz/moq', 'audio').sized()), new MessageWriter().u8(2).bool(false).varint(0).varint(0).varint(0).sized()]),
  prefixVarint(StreamType.Probe, new Uint8Array(0)),
  prefixVarint(StreamType.Fetch, utf8('abc')),
];

const SETUP_BODY = new MessageWriter().varint(2).varint(LiteVersion.DRAFT_02).varint(LiteVersion.DRAFT_01).varint(1).varint(7).varint(4).bytes(utf8('fuzz'));

export const moq: FuzzTarget = {
  name: 'moq',
  summary: 'moq-lite setup, announce and subscribe messages on WebTransport streams of a `/moq` session',
  async wire(ctx: CaseContext) {
    const url = `https://127.0.0.1:${ctx.ports.webTransport}/moq`;
    await runCases(
      ctx,
      this.name,
      async (index, rng) => {
        let client: RawMoqClient;
        try {
          const c = await within(RawMoqClient.connect(url), 10_000);
          if (c === 'timeout') throw new Error('timeout');
          client = c;
        } catch (err) {
          if (ctx.alive()) ctx.finding({ kind: 'hang', detail: `WebTransport session to /moq failed: ${(err as Error).message}`, caseIndex: index });
          return;
        }
        // Groups the server sends for a subscription are let go of at once.
        void (async () => {
          for (let s = await client.nextGroupStream(); s !== undefined; s = await client.nextGroupStream()) void s.cancel().catch(() => undefined);
        })().catch(() => undefined);
        try {
          if (rng.chance(0.2)) {
            await within(client.raw(fuzzInput(rng, [prefixVarint(StreamType.ClientCompat, SETUP_BODY.sizedU16())], 64)), 1000);
            ctx.sent();
            await new Promise((r) => setTimeout(r, 100));
            return;
          }
          if ((await within(client.setup(), 3000)) === 'timeout') return;
          const n = 1 + rng.int(32);
          for (let i = 0; i < n; i++) {
            const s = await within(client.raw(fuzzInput(rng, STREAM_CORPUS, 64), rng.chance(0.3)), 1000);
            ctx.sent();
            if (s === 'timeout') break;
            const r = s.readable.getReader();
            await within(r.read().catch(() => undefined), 100);
            void r.cancel().catch(() => undefined);
          }
        } catch {
          // The server closed the session or reset a stream: what it should do with garbage.
        } finally {
          client.close();
        }
      },
      8,
    );
  },
  inProcess(ctx: InProcessContext) {
    const bodies = [SETUP_BODY.raw(), subscribeBody(1, 'a/b', 'video').raw(), new MessageWriter().string('live').raw(), new MessageWriter().u8(1).bool(true).varint(5).varint(1).varint(0).raw()];
    const versions = [LiteVersion.DRAFT_01, LiteVersion.DRAFT_02, LiteVersion.DRAFT_03, LiteVersion.DRAFT_04];
    for (let i = 0; i < ctx.count; i++) {
      const rng = caseRng(ctx.seed, 'moq/in-process', i);
      const bytes = fuzzInput(rng, bodies, 64);
      const version = rng.pick(versions);
      try {
        const r = new MessageReader(bytes, 'fuzz');
        [() => decodeClientSetup(r), () => decodeSubscribe(r, version), () => decodeAnnounceRequest(r, version), () => decodeSubscribeUpdate(r, version)][rng.int(4)]!();
      } catch (err) {
        if (!(err instanceof MoqProtocolError)) ctx.finding({ kind: 'untyped-exception', detail: `moq decoder: ${(err as Error).stack?.split('\n').slice(0, 3).join(' ')}`, caseIndex: i, bytes });
      }
    }
    return ctx.count;
  },
};
