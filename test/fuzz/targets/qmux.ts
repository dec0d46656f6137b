/**
 * QMux records on a WebSocket to `/moq` (qmux-02 carrying moq-lite-05):
 * transport parameters, then mutated records of STREAM, flow-control,
 * reset, ping and close frames, some carrying moq-lite requests; and the
 * server's record and parameter decoders in this process.
 */
import { WebSocket } from 'ws';
import { decodeMessage, decodeTransportParameters, encodeTransportParameters, DEFAULT_PARAMETERS, encodeStream, encodeMaxData, encodeMaxStreamData, encodeResetStream, encodeStopSending, encodeClose, QMUX_VERSIONS } from '../../../src/protocols/qmux/frames.js';
import { QmuxError, TransportErrorCode } from '../../../src/protocols/qmux/errors.js';
import { MessageWriter, prefixVarint } from '../../../transports/moq/wire.js';
import { StreamType } from '../../../transports/moq/messages.js';
import { caseRng, concatBytes, fuzzInput, quicVarint } from '../harness.js';
import { WATCH_PATH } from '../server-process.js';
import { runCases, within, type CaseContext, type FuzzTarget, type InProcessContext } from '../target.js';

const PARAMS = encodeTransportParameters({ ...DEFAULT_PARAMETERS, initialMaxData: 1 << 20, initialMaxStreamDataUni: 1 << 18, initialMaxStreamsUni: 100, initialMaxStreamsBidi: 100, resetStreamAt: true });
const subscribe = (id: number, track: string) =>
  prefixVarint(StreamType.Subscribe, new MessageWriter().varint(id).string(WATCH_PATH).string(track).u8(1).bool(false).varint(0).varint(0).varint(0).sized());

const CORPUS: Uint8Array[] = [
  encodeStream(0, 0, subscribe(1, 'catalog.json'), false),
  encodeStream(4, 0, subscribe(2, 'video'), false),
  encodeStream(8, 0, prefixVarint(StreamType.Announce, new MessageWriter().string('').varint(0).sized()), true),
  encodeStream(2, 0, Uint8Array.of(1, 1, 0), true),
  encodeMaxData(1 << 24),
  encodeMaxStreamData(3, 1 << 20),
  encodeResetStream(0, 7, 3),
  encodeStopSending(3, 0),
  concatBytes([quicVarint(0x348c67529ef8c7bdn), quicVarint(1n)]),
  encodeClose(true, 0, 'bye'),
  concatBytes([encodeStream(12, 0, Uint8Array.of(6), false), Uint8Array.of(0, 0, 0)]),
];

export const qmux: FuzzTarget = {
  name: 'qmux',
  summary: 'QMux (qmux-02) records on a WebSocket to `/moq`, after valid transport parameters',
  async wire(ctx: CaseContext) {
    const url = `ws://127.0.0.1:${ctx.ports.web}/moq`;
    await runCases(
      ctx,
      this.name,
      async (index, rng) => {
        const ws = new WebSocket(url, ['qmux-02.moq-lite-05']);
        ws.on('error', () => undefined);
        // A CONNECTION_CLOSE with INTERNAL_ERROR means our code threw, not that the input was refused.
        ws.on('message', (data: Buffer) => {
          try {
            for (const f of decodeMessage(new Uint8Array(data), 'qmux-02')) {
              if (f.type === 'close' && !f.application && f.code === TransportErrorCode.Internal) {
                ctx.finding({ kind: 'internal-error', detail: `CONNECTION_CLOSE internal: ${f.reason}`, caseIndex: index });
              }
            }
          } catch {
            // Not ours to judge: the server's own records are checked by the tests.
          }
        });
        try {
          const open = await within(new Promise<boolean>((r) => (ws.once('open', () => r(true)), ws.once('error', () => r(false)))), 5000);
          if (open !== true) {
            if (ctx.alive()) ctx.finding({ kind: 'hang', detail: 'WebSocket to /moq did not open', caseIndex: index });
            return;
          }
          if (!rng.chance(0.1)) ws.send(PARAMS);
          const n = 1 + rng.int(24);
          for (let i = 0; i < n && ws.readyState === ws.OPEN; i++) {
            ws.send(fuzzInput(rng, CORPUS, 64));
            ctx.sent();
          }
          await within(new Promise((r) => ws.once('close', r)), 150);
        } finally {
          ws.terminate();
        }
      },
      8,
    );
  },
  inProcess(ctx: InProcessContext) {
    const bodies = [PARAMS, ...CORPUS];
    for (let i = 0; i < ctx.count; i++) {
      const rng = caseRng(ctx.seed, 'qmux/in-process', i);
      const bytes = fuzzInput(rng, bodies, 64);
      try {
        if (rng.chance(0.2)) decodeTransportParameters(bytes);
        else decodeMessage(bytes, rng.pick(QMUX_VERSIONS));
      } catch (err) {
        if (!(err instanceof QmuxError)) ctx.finding({ kind: 'untyped-exception', detail: `qmux decoder: ${(err as Error).stack?.split('\n').slice(0, 3).join(' ')}`, caseIndex: i, bytes });
      }
    }
    return ctx.count;
  },
};
