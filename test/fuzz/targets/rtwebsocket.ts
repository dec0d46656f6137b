/**
 * RTWebSocket messages from a `/ws/fmp4?protocol=rtwebsocket` viewer. The
 * captures are what a real client sends (the encoders of
 * src/protocols/rtwebsocket, as test/helpers/rtws-client.ts uses them): acks
 * for the server's flows, the client's return flow with a control message,
 * pings, closes and exceptions. Flow ids are the small numbers a server uses.
 */
import { ProtocolError } from '../../../src/protocols/rtwebsocket/errors.js';
import {
  decodeMessage,
  encodeAbandon,
  encodeDataAck,
  encodeFlowClose,
  encodeFlowCloseAck,
  encodeFlowException,
  encodeFlowOpen,
  encodePing,
  encodePingReply,
  encodeSetAckWindow,
  encodeUserData,
} from '../../../src/protocols/rtwebsocket/messages.js';
import { caseRng, fuzzInput, utf8 } from '../harness.js';
import { WATCH_PATH } from '../server-process.js';
import { runCases, type CaseContext, type FuzzTarget, type InProcessContext } from '../target.js';
import { FuzzSocket, isInternalError } from './ws-client.js';

const CORPUS: Uint8Array[] = [
  encodePing(utf8('abcd')),
  encodePingReply(utf8('abcd')),
  encodeSetAckWindow(65536),
  encodeFlowOpen(0, utf8('{"polycast":"client"}'), 0),
  encodeUserData(0, false, utf8('{"type":"set_keyframes_only","value":true}')),
  encodeUserData(0, true, utf8('{"type":')),
  encodeDataAck(0, 120, 1 << 20),
  encodeDataAck(1, 50_000, 1 << 20),
  encodeDataAck(2, 800, 1 << 20),
  encodeAbandon(0, 2),
  encodeFlowClose(0),
  encodeFlowCloseAck(1),
  encodeFlowException(1, 0, 'not wanted'),
  encodeFlowException(2),
  Uint8Array.of(0x7f, 1, 2, 3),
];

export const rtwebsocket: FuzzTarget = {
  name: 'rtwebsocket',
  summary: 'RTWebSocket protocol messages (flows, acks, pings, exceptions) on `/<path>/ws/fmp4?protocol=rtwebsocket`',
  async wire(ctx: CaseContext) {
    await runCases(ctx, this.name, async (index, rng) => {
      // The watched path is where a viewer's message could reach a live publisher's frames.
      const live = rng.chance(0.15);
      const path = live ? WATCH_PATH : 'fuzz/rtws';
      const s = new FuzzSocket(`ws://127.0.0.1:${ctx.ports.web}/${path}/ws/fmp4?protocol=rtwebsocket`);
      if (!(await s.opened)) {
        if (s.refused !== undefined && s.refused >= 500) ctx.finding({ kind: '5xx', detail: `upgrade answered ${s.refused}`, caseIndex: index });
        return;
      }
      const n = 1 + rng.int(16);
      let last: Uint8Array | undefined;
      for (let i = 0; i < n && !s.isClosed; i++) {
        last = fuzzInput(rng, CORPUS, 48);
        s.send(last, !rng.chance(0.03));
        ctx.sent();
      }
      const out = await s.finish(live ? 600 : 150);
      if (out.close && isInternalError(out.close.code)) {
        ctx.finding({ kind: 'internal-error', detail: `closed with ${out.close.code} ${out.close.reason}`, caseIndex: index, bytes: last });
      }
    });
  },
  inProcess(ctx: InProcessContext) {
    for (let i = 0; i < ctx.count; i++) {
      const bytes = fuzzInput(caseRng(ctx.seed, 'rtwebsocket/in-process', i), CORPUS, 48);
      try {
        decodeMessage(bytes);
      } catch (err) {
        if (!(err instanceof ProtocolError)) ctx.finding({ kind: 'untyped-exception', detail: `decodeMessage: ${(err as Error).stack?.split('\n').slice(0, 3).join(' ')}`, caseIndex: i, bytes });
      }
    }
    return ctx.count;
  },
};
