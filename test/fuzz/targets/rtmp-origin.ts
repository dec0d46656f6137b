/**
 * A hostile RTMP origin for Polycast as an edge: the child pulls
 * `fuzzorigin/<n>` on demand from `rtmp://127.0.0.1:<origin>/o<n>/s` (see
 * server-process.ts), and this target is that origin. Each case opens a
 * reader on `fuzzorigin/<n>`; the origin answers the pull with a
 * mutated conversation: handshake, control messages (chunk sizes, window
 * sizes, aborts), `_result`s and `onStatus`es, then FLV tag bodies of an
 * ffmpeg recording. What the edge's play client reads from it must cost
 * only that pull: no crash, no 1011 for the reader, the watched path unharmed.
 */
import net from 'node:net';
import { amfProperties, encodeAmf0, type AmfValue } from '../../../src/protocols/rtmp/amf0.js';
import { ChunkReader, MessageType, type RtmpMessage } from '../../../src/protocols/rtmp/chunk-reader.js';
import { ChunkWriter, type OutgoingMessage } from '../../../src/protocols/rtmp/chunk-writer.js';
import { decodeCommand } from '../../../src/protocols/rtmp/commands.js';
import { ServerHandshake } from '../../../src/protocols/rtmp/handshake.js';
import { command, onStatus, setChunkSize, userControl, windowAckSize } from '../../../src/protocols/rtmp/messages.js';
import { caseRng, fuzzInput, mutate, type Rng } from '../harness.js';
import { runCases, within, type CaseContext, type FuzzTarget } from '../target.js';
import { flvRecording } from './flv.js';
import { FuzzSocket } from './ws-client.js';

/** How long a case lets the edge and the origin talk before the reader leaves. */
const CASE_MS = 600;
const LIMITS = { maxMessageSize: 1 << 20, maxChunkStreams: 16, maxBufferedBytes: 4 << 20 };

/** One pull connection from the edge, answered by a case's RNG once its `connect` names the case. */
class HostileOrigin {
  private readonly writer = new ChunkWriter();
  private readonly handshake: ServerHandshake;
  private readonly reader: ChunkReader;
  private rng: Rng | undefined;
  private media: readonly { type: number; timestamp: number; body: Uint8Array }[] = [];
  private mediaTimer: NodeJS.Timeout | undefined;
  messages = 0;
  /** The edge got as far as asking to play. */
  played = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly seed: number,
    private readonly onCase: (index: number, origin: HostileOrigin) => void,
  ) {
    this.handshake = new ServerHandshake((bytes) => this.raw(bytes));
    this.reader = new ChunkReader((m) => this.onMessage(m), LIMITS);
    socket.on('data', (d: Buffer) => this.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => clearInterval(this.mediaTimer));
  }

  private push(d: Buffer): void {
    try {
      const rest = this.handshake.done ? d : this.handshake.push(d);
      if (rest.length > 0) this.reader.push(rest);
    } catch {
      // The edge's bytes are not the subject here; a malformed one from our side of the code would only end the case.
      this.socket.destroy();
    }
  }

  private raw(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** A message as the origin means it, or (often) mutated: its payload, its chunking, or its header fields. */
  private send(m: OutgoingMessage): void {
    const rng = this.rng;
    this.messages++;
    if (rng === undefined || rng.chance(0.6)) return this.raw(this.writer.write(m));
    const roll = rng.int(4);
    if (roll === 0) return this.raw(this.writer.write({ ...m, payload: Buffer.from(mutate(rng, m.payload)) }));
    if (roll === 1) return this.raw(this.writer.write({ ...m, type: rng.pick([1, 2, 3, 4, 5, 6, 8, 9, 15, 17, 18, 19, 20, 22, rng.int(256)]) }));
    if (roll === 2) return this.raw(this.writer.write({ ...m, timestamp: rng.pick([0, 0xffffff, 0xffffffff, rng.int(0x7fffffff)]), streamId: rng.pick([0, 1, 2, 0xffffffff]) }));
    // The chunk stream itself mangled: the edge's chunk parser gets the bytes.
    return this.raw(mutate(rng, this.writer.write(m)));
  }

  private onMessage(m: RtmpMessage): void {
    if (m.type === MessageType.setChunkSize || m.type === MessageType.windowAckSize || m.type === MessageType.acknowledgement || m.type === MessageType.userControl) return;
    if (m.type !== MessageType.commandAmf0 && m.type !== MessageType.commandAmf3) return;
    let name: string;
    let tx: number;
    let args: readonly AmfValue[];
    try {
      const c = decodeCommand(m.type, m.payload);
      ({ name, transactionId: tx, args } = c);
      if (name === 'connect') this.connected(c.commandObject, tx);
    } catch {
      this.socket.destroy();
      return;
    }
    if (name === 'createStream') this.send(command(0, '_result', tx, null, 1));
    if (name === 'play') this.play(args);
  }

  private connected(commandObject: AmfValue, tx: number): void {
    const app = amfProperties(commandObject)?.['app'];
    const index = typeof app === 'string' ? /^o(\d+)$/.exec(app)?.[1] : undefined;
    if (index === undefined) return void this.socket.destroy();
    this.rng = caseRng(this.seed, 'rtmp-origin', Number(index));
    this.media = flvRecording().tags.slice(0, 90);
    this.onCase(Number(index), this);
    const rng = this.rng;
    this.send(windowAckSize(rng.chance(0.1) ? rng.pick([0, 1, 0xffffffff]) : 2_500_000));
    const chunkSize = rng.chance(0.15) ? rng.pick([1, 2, 127, 65536, 0x7fffffff]) : 4096;
    this.send(setChunkSize(chunkSize));
    this.writer.setChunkSize(chunkSize);
    if (rng.chance(0.1)) this.send({ csid: 2, type: MessageType.abort, streamId: 0, timestamp: 0, payload: Buffer.from([0, 0, 0, rng.int(64)]) });
    const ok = rng.chance(0.85);
    this.send(
      command(0, ok ? '_result' : '_error', tx, { fmsVer: 'FMS/3,0,1,123', capabilities: 31 }, {
        level: ok ? 'status' : 'error',
        code: ok ? 'NetConnection.Connect.Success' : rng.pick(['NetConnection.Connect.Rejected', 'x'.repeat(rng.int(3000))]),
        description: 'hostile origin',
      }),
    );
  }

  private play(args: readonly AmfValue[]): void {
    const rng = this.rng;
    if (rng === undefined) return;
    this.played = true;
    this.send(userControl(0, 1));
    const code = rng.chance(0.8) ? 'NetStream.Play.Start' : rng.pick(['NetStream.Play.StreamNotFound', 'NetStream.Play.UnpublishNotify', 'NetStream.Failed', '']);
    this.send(onStatus(1, code === 'NetStream.Failed' ? 'error' : 'status', code, `playing ${String(args[0])}`));
    const data = encodeAmf0('onMetaData', { width: 320, height: 180, framerate: rng.pick([30, -1, Number.NaN, 1e308]) });
    this.send({ csid: 5, type: MessageType.dataAmf0, streamId: 1, timestamp: 0, payload: data });
    const bodies = this.media.map((t) => t.body);
    let at = 0;
    // Sequence headers first as the origin had them, then media: a few tags per tick, as a live origin sends.
    this.mediaTimer = setInterval(() => {
      for (let i = 0; i < 6 && at < this.media.length && !this.socket.destroyed; i++, at++) {
        const tag = this.media[at]!;
        const body = at < 2 && rng.chance(0.7) ? tag.body : fuzzInput(rng, [tag.body, ...bodies.slice(0, 4)], 512);
        this.send({ csid: tag.type === 8 ? 6 : 7, type: tag.type, streamId: rng.chance(0.9) ? 1 : 0, timestamp: tag.timestamp, payload: Buffer.from(body) });
      }
      if (at >= this.media.length) clearInterval(this.mediaTimer);
    }, 20);
  }

  close(): void {
    clearInterval(this.mediaTimer);
    this.socket.destroy();
  }
}

export const rtmpOrigin: FuzzTarget = {
  name: 'rtmp-origin',
  summary: 'what a hostile RTMP origin sends to Polycast as an edge (`source: rtmp://…`, sourceOnDemand): handshake, control and command replies, media tags, all mutated',
  settleMs: 2000,
  async wire(ctx: CaseContext) {
    const waiting = new Map<number, (origin: HostileOrigin) => void>();
    const open = new Set<HostileOrigin>();
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      const origin = new HostileOrigin(socket, ctx.seed, (index, o) => waiting.get(index)?.(o));
      open.add(origin);
      socket.on('close', () => open.delete(origin));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ctx.ports.origin, '127.0.0.1', () => resolve());
    });
    let pulls = 0;
    let plays = 0;
    try {
      await runCases(ctx, this.name, async (index) => {
        const pulled = new Promise<HostileOrigin>((resolve) => waiting.set(index, resolve));
        const reader = new FuzzSocket(`ws://127.0.0.1:${ctx.ports.web}/fuzzorigin/${index}/ws/nal`);
        const origin = await within(pulled, 3000);
        waiting.delete(index);
        const outcome = await reader.finish(CASE_MS);
        const sent = origin === 'timeout' ? 1 : Math.max(1, origin.messages);
        ctx.sent(sent);
        if (origin !== 'timeout') {
          pulls++;
          if (origin.played) plays++;
          origin.close();
        }
        if (outcome.close?.code === 1011) {
          ctx.finding({ kind: 'internal-error', detail: `the edge's reader was closed with 1011: ${outcome.close.reason}`, caseIndex: index });
        }
      }, Math.min(ctx.concurrency, 4));
      // Cases the edge never pulled, or never got as far as play in, would fuzz nothing of the play client.
      if (ctx.onlyCase === undefined && ctx.alive() && plays === 0) {
        ctx.finding({ kind: 'contract', detail: `the edge pulled ${pulls} time(s) and asked to play in none` });
      }
    } finally {
      for (const origin of open) origin.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  },
};
