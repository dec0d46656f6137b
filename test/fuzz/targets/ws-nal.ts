/**
 * ws-nal viewer messages (docs/protocols/ws-nal.md): JSON control messages and
 * binary input messages on /ws/nal, and anything at all on /ws/input.
 */
import { checkInputMessage, parseControlMessage } from '../../../transports/ws-nal/protocol.js';
import { caseRng, fuzzInput, utf8 } from '../harness.js';
import { WATCH_PATH } from '../server-process.js';
import { runCases, type CaseContext, type FuzzTarget, type InProcessContext } from '../target.js';
import { FuzzSocket, isInternalError } from './ws-client.js';

const TEXT = [
  '{"type":"ping","id":1,"t":1700000000000}',
  '{"type":"ping","id":4294967295}',
  '{"set_video_enabled":false}',
  '{"set_video_enabled":true}',
  '{"set_keyframes_only":true}',
  '{"set_keyframes_only":false}',
].map(utf8);

const BINARY = [
  Uint8Array.of(0x10, 1, 0, 4, ...utf8('KeyA')),
  Uint8Array.of(0x10, 0, 0x0f, 10, ...utf8('ArrowRight')),
  Uint8Array.of(0x11, 1, 0),
  Uint8Array.of(0x11, 0, 4),
  Uint8Array.of(0x12, 0x80, 0x00, 0x40, 0x00),
  Uint8Array.of(0x13, 0xff, 0xfe, 0x00, 0x02),
  Uint8Array.of(0x14, 0x00, 0x78, 0xff, 0x88),
];

export const wsNal: FuzzTarget = {
  name: 'ws-nal',
  summary: 'viewer control (JSON text) and input (binary) messages on `/<path>/ws/nal`, and messages on `/<path>/ws/input`',
  async wire(ctx: CaseContext) {
    await runCases(ctx, this.name, async (index, rng) => {
      // Mostly an idle path (no media to push to hundreds of short sessions); some on
      // the watched path, where control messages act on a live reader.
      const live = rng.chance(0.1);
      const suffix = rng.chance(0.1) ? 'ws/input' : 'ws/nal';
      const path = live ? WATCH_PATH : 'fuzz/nal';
      const s = new FuzzSocket(`ws://127.0.0.1:${ctx.ports.web}/${path}/${suffix}`);
      if (!(await s.opened)) {
        if (s.refused !== undefined && s.refused >= 500) ctx.finding({ kind: '5xx', detail: `upgrade of /${path}/${suffix} answered ${s.refused}`, caseIndex: index });
        return;
      }
      const n = 1 + rng.int(20);
      let last: Uint8Array | undefined;
      for (let i = 0; i < n && !s.isClosed; i++) {
        const binary = rng.chance(0.5);
        last = fuzzInput(rng, binary ? BINARY : TEXT, 64);
        // Now and then the other kind of frame than the bytes were made for.
        s.send(last, rng.chance(0.1) ? !binary : binary);
        ctx.sent();
      }
      const out = await s.finish(live ? 400 : 150);
      if (out.close && isInternalError(out.close.code)) {
        ctx.finding({ kind: 'internal-error', detail: `/${suffix} closed with ${out.close.code} ${out.close.reason}`, caseIndex: index, bytes: last });
      }
    });
  },
  inProcess(ctx: InProcessContext) {
    for (let i = 0; i < ctx.count; i++) {
      const rng = caseRng(ctx.seed, 'ws-nal/in-process', i);
      const bytes = fuzzInput(rng, rng.chance(0.5) ? BINARY : TEXT, 64);
      try {
        checkInputMessage(bytes);
        parseControlMessage(Buffer.from(bytes).toString('utf8'));
      } catch (err) {
        // Both validators answer with a verdict; they must never throw.
        ctx.finding({ kind: 'untyped-exception', detail: `ws-nal validator threw: ${(err as Error).stack?.split('\n').slice(0, 3).join(' ')}`, caseIndex: i, bytes });
      }
    }
    return ctx.count;
  },
};
