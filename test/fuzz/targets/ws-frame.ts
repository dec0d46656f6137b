/**
 * WebSocket framing (RFC 6455 §5) on a raw TCP connection: a valid upgrade to
 * `/ws/nal`, then mutated client frames (masks, opcodes, fragmentation,
 * 16- and 64-bit lengths, control frames, close codes).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { concatBytes, fuzzInput, utf8, type Rng } from '../harness.js';
import { runCases, within, type CaseContext, type FuzzTarget } from '../target.js';

/** A masked client frame; `lengthForm` forces a longer length encoding than needed (legal only as minimal). */
export function clientFrame(opcode: number, payload: Uint8Array, fin = true, lengthForm: 7 | 16 | 64 = payload.length < 126 ? 7 : payload.length < 65536 ? 16 : 64): Uint8Array {
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  if (lengthForm === 7) head.push(0x80 | payload.length);
  else if (lengthForm === 16) head.push(0x80 | 126, payload.length >>> 8, payload.length & 0xff);
  else head.push(0x80 | 127, 0, 0, 0, 0, (payload.length >>> 24) & 0xff, (payload.length >>> 16) & 0xff, (payload.length >>> 8) & 0xff, payload.length & 0xff);
  const mask = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
  const body = payload.map((b, i) => b ^ mask[i & 3]!);
  return concatBytes([Uint8Array.from(head), mask, body]);
}

const CORPUS: Uint8Array[] = [
  clientFrame(0x1, utf8('{"type":"ping","id":1,"t":2}')),
  clientFrame(0x2, Uint8Array.of(0x11, 1, 0)),
  clientFrame(0x9, utf8('ping')),
  clientFrame(0xa, utf8('pong')),
  clientFrame(0x8, Uint8Array.of(0x03, 0xe8, ...utf8('bye'))),
  concatBytes([clientFrame(0x1, utf8('{"type":"pi'), false), clientFrame(0x0, utf8('ng","id":7}'))]),
  clientFrame(0x2, new Uint8Array(300).fill(0x12), true, 16),
  clientFrame(0x1, utf8('{"set_video_enabled":true}'), true, 64),
];

function upgradeRequest(port: number, path: string): Uint8Array {
  return utf8(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
}

/** Close codes in the server's close frames (unmasked), once the 101 response is past. */
export function serverCloseCodes(bytes: Buffer): number[] {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return [];
  const codes: number[] = [];
  for (let off = end + 4; off + 2 <= bytes.length; ) {
    const opcode = bytes[off]! & 0x0f;
    let len = bytes[off + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (off + 4 > bytes.length) break;
      len = bytes.readUInt16BE(off + 2);
      head = 4;
    } else if (len === 127) {
      if (off + 10 > bytes.length) break;
      len = Number(bytes.readBigUInt64BE(off + 2));
      head = 10;
    }
    if (opcode === 0x8 && len >= 2 && off + head + 2 <= bytes.length) codes.push(bytes.readUInt16BE(off + head));
    off += head + len;
  }
  return codes;
}

/** Sends `chunks` on a fresh connection; resolves with what came back once the server closes or `ms` passed. */
export async function exchange(port: number, chunks: readonly Uint8Array[], ms: number, rng?: Rng, done?: (data: Buffer) => boolean): Promise<{ data: Buffer; closedByServer: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const parts: Buffer[] = [];
  let size = 0;
  let answered: () => void = () => undefined;
  const enough = new Promise<void>((r) => (answered = r));
  socket.on('data', (d: Buffer) => {
    // Keep the beginning (status line, first frames); the rest is drained.
    if (size < 64 * 1024) parts.push(d);
    size += d.length;
    if (done?.(Buffer.concat(parts))) answered();
  });
  socket.on('error', () => undefined);
  const ended = new Promise<void>((r) => socket.once('close', () => r()));
  const connected = await within(new Promise<boolean>((r) => (socket.once('connect', () => r(true)), socket.once('error', () => r(false)))), 5000);
  if (connected !== true) {
    socket.destroy();
    return { data: Buffer.alloc(0), closedByServer: false };
  }
  for (const c of chunks) {
    if (socket.destroyed) break;
    // Split at a random point now and then: parsers must not care where TCP cuts.
    if (rng && c.length > 1 && rng.chance(0.2)) {
      const at = 1 + rng.int(c.length - 1);
      socket.write(c.subarray(0, at));
      await new Promise((r) => setImmediate(r));
      socket.write(c.subarray(at));
    } else socket.write(c);
  }
  const closedByServer = (await within(Promise.race([ended, enough]), ms)) !== 'timeout';
  socket.destroy();
  return { data: Buffer.concat(parts), closedByServer };
}

export const wsFrame: FuzzTarget = {
  name: 'ws-frame',
  summary: 'WebSocket frames (RFC 6455) after a valid upgrade to `/<path>/ws/nal` or `/<path>/ws/input`, on a raw TCP connection to the web port',
  async wire(ctx: CaseContext) {
    await runCases(ctx, this.name, async (index, rng) => {
      const frames: Uint8Array[] = [];
      const n = 1 + rng.int(6);
      for (let i = 0; i < n; i++) frames.push(fuzzInput(rng, CORPUS, 64));
      ctx.sent(n);
      // Both WebSocket endpoints: the reader endpoint and the input relay's.
      const path = rng.chance(0.2) ? '/fuzz/wsframe/ws/input' : '/fuzz/wsframe/ws/nal';
      const { data } = await exchange(ctx.ports.web, [upgradeRequest(ctx.ports.web, path), ...frames], 200, rng);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(data.subarray(0, 32).toString('latin1'))?.[1];
      if (status !== undefined && Number(status) >= 500) ctx.finding({ kind: '5xx', detail: `upgrade answered ${status}`, caseIndex: index });
      if (serverCloseCodes(data).includes(1011)) ctx.finding({ kind: 'internal-error', detail: 'server closed with 1011', caseIndex: index, bytes: concatBytes(frames) });
    });
  },
};
