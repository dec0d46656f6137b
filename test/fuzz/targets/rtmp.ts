/**
 * RTMP handshake, chunk stream and AMF0 commands, before anything is
 * authenticated. The capture is what a real ffmpeg sends (recorded by a TCP
 * proxy in front of the RTMP port during `prepare`), plus hand-built
 * commands and control messages on many chunk streams.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { ChunkReader, decodeCommand, MessageType as RtmpType, RtmpProtocolError, ServerHandshake } from '../../../src/protocols/rtmp/index.js';
import { caseRng, concatBytes, fuzzInput, type Rng } from '../harness.js';
import { freePort } from '../../helpers/ports.js';
import { runCases, within, type CaseContext, type FuzzTarget, type InProcessContext } from '../target.js';
import { amf0, chunked, MessageType, publishCommands, RtmpSocket, setChunkSize } from './rtmp-client.js';

/** Client→server bytes of one real publish, up to `limit`. */
export async function captureFfmpegPublish(rtmpPort: number, path: string, limit = 48 * 1024): Promise<Uint8Array> {
  const proxyPort = await freePort();
  const captured: Buffer[] = [];
  let size = 0;
  const proxy = net.createServer((client) => {
    const upstream = net.connect(rtmpPort, '127.0.0.1');
    client.on('data', (d: Buffer) => {
      if (size < limit) captured.push(d.subarray(0, limit - size));
      size += d.length;
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    const end = () => (client.destroy(), upstream.destroy());
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', () => r()));
  const ff = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=30', '-f', 'lavfi', '-i', 'sine', '-t', '1.5', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-c:a', 'aac', '-f', 'flv', `rtmp://127.0.0.1:${proxyPort}/${path}`],
    { stdio: 'ignore' },
  );
  await within(new Promise((r) => ff.on('exit', r)), 15_000);
  ff.kill('SIGKILL');
  proxy.close();
  const bytes = concatBytes(captured);
  if (bytes.length < 3073 + 100) throw new Error(`RTMP capture too short (${bytes.length} bytes)`);
  return bytes;
}

const HANDSHAKE = 1 + 1536 + 1536;

/** Post-handshake pieces: the real stream's start, and messages that stress chunk-stream state. */
function postHandshakeCorpus(capture: Uint8Array, port: number): Uint8Array[] {
  const stream = capture.subarray(HANDSHAKE);
  const manyStreams = concatBytes(Array.from({ length: 20 }, (_, i) => chunked(3 + i, MessageType.Video, 1, 0, new Uint8Array(64), 128)));
  return [
    stream.subarray(0, 4096),
    stream,
    publishCommands(port, 'fuzz', 'rtmp'),
    concatBytes([setChunkSize(0x7fffffff), chunked(3, MessageType.Command, 0, 0, amf0('connect', 1, { app: 'fuzz' }))]),
    chunked(2, MessageType.WindowAck, 0, 0, Uint8Array.of(0, 0x26, 0x25, 0xa0)),
    chunked(2, MessageType.UserControl, 0, 0, Uint8Array.of(0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8)),
    chunked(2, MessageType.Abort, 0, 0, Uint8Array.of(0, 0, 0, 3)),
    chunked(3, MessageType.Command, 0, 0, amf0('deleteStream', 6, null, 1)),
    chunked(3, MessageType.Command, 0, 0, amf0('play', 7, null, 'live/watch')),
    manyStreams,
  ];
}

export const rtmp: FuzzTarget & { capture?: Uint8Array; corpus?: Uint8Array[] } = {
  name: 'rtmp',
  summary: 'RTMP handshake (C0/C1/C2), chunk headers and stream state, AMF0 commands, on the RTMP port, unauthenticated',
  async prepare(ctx: CaseContext) {
    this.capture = await captureFfmpegPublish(ctx.ports.rtmp, 'fuzz/rtmp-capture');
    this.corpus = postHandshakeCorpus(this.capture, ctx.ports.rtmp);
  },
  async wire(ctx: CaseContext) {
    const capture = this.capture!;
    const corpus = this.corpus!;
    const handshakes = [capture.subarray(0, 1537), capture.subarray(0, HANDSHAKE), capture.subarray(0, HANDSHAKE + 512)];
    await runCases(ctx, this.name, async (index, rng: Rng) => {
      const s = new RtmpSocket(ctx.ports.rtmp);
      let last: Uint8Array;
      if (rng.chance(0.15)) {
        // The handshake itself, mutated (C2 does not echo this S1: servers may or may not check).
        if (!(await within(s.connected, 5000))) return s.destroy();
        last = fuzzInput(rng, handshakes, 4000);
        s.write(last);
        ctx.sent();
      } else {
        if (!(await s.handshake())) {
          s.destroy();
          if (ctx.alive()) ctx.finding({ kind: 'hang', detail: 'RTMP handshake not answered within 5 s', caseIndex: index });
          return;
        }
        const n = 1 + rng.int(3);
        const pieces: Uint8Array[] = [];
        for (let i = 0; i < n; i++) pieces.push(fuzzInput(rng, corpus, 2048));
        last = concatBytes(pieces);
        for (const p of pieces) s.write(p);
        ctx.sent(n);
      }
      await within(s.closed, 300);
      s.destroy();
      void last;
    });
  },
  /**
   * The stack's parsers as the connection drives them: the server handshake,
   * then the chunk reader (command-phase limits) with each command message
   * decoded. Only RtmpProtocolError may come out.
   */
  inProcess(ctx: InProcessContext) {
    const capture = this.capture;
    if (capture === undefined) return 0;
    const corpus = [capture.subarray(0, HANDSHAKE + 4096), ...(this.corpus ?? [])];
    for (let i = 0; i < ctx.count; i++) {
      const rng = caseRng(ctx.seed, 'rtmp/in-process', i);
      const withHandshake = rng.chance(0.3);
      const bytes = Buffer.from(fuzzInput(rng, corpus, 4096));
      try {
        let rest: Buffer = bytes;
        if (withHandshake) {
          const hs = new ServerHandshake(() => undefined);
          rest = hs.push(bytes);
          if (!hs.done) continue;
        }
        const reader = new ChunkReader(
          (m) => {
            if (m.type === RtmpType.commandAmf0 || m.type === RtmpType.commandAmf3) decodeCommand(m.type, m.payload);
          },
          { maxMessageSize: 64 * 1024, maxChunkStreams: 64, maxBufferedBytes: 128 * 1024 },
        );
        reader.push(rest);
      } catch (err) {
        if (!(err instanceof RtmpProtocolError)) {
          ctx.finding({ kind: 'untyped-exception', detail: `${(err as Error).name}: ${(err as Error).message}`.slice(0, 300), caseIndex: i, bytes });
        }
      }
    }
    return ctx.count;
  },
};
