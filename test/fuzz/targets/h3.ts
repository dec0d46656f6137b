/**
 * HTTP/3 behind a real QUIC handshake (the native binding, as
 * test/moq/wt-client.ts connects): mutated request streams (HEADERS with
 * QPACK field sections for WebTransport CONNECT and GET, DATA frames
 * carrying capsules), mutated unidirectional streams (control, QPACK
 * encoder/decoder, WebTransport), and the pure parsers in this process.
 */
import { randomFillSync } from 'node:crypto';
import { QUICClient, events } from '@matrixai/quic';
import {
  CapsuleReader,
  CapsuleType,
  decodeFieldSection,
  decodeSettingsPayload,
  encodeCapsule,
  encodeCloseSessionCapsule,
  encodeFieldSection,
  encodeFrame,
  encodeSettingsFrame,
  FrameReader,
  FrameType,
  Http3Error,
  parseRequestHead,
  readVarint,
  SettingId,
  StreamType,
} from '../../../src/protocols/http3/index.js';
import { patchMatrixaiQuic } from '../../../src/protocols/webtransport/matrixai-quic-patch.js';
import { quietLogger } from '../../http3/wrapper-server.js';
import { caseRng, concatBytes, fuzzInput, quicVarint, utf8, type Rng } from '../harness.js';
import { runCases, within, type CaseContext, type FuzzTarget, type InProcessContext } from '../target.js';

const h = (name: string, value: string) => ({ name, value });

function connectHeaders(port: number, path: string): Uint8Array {
  return encodeFieldSection([
    h(':method', 'CONNECT'),
    h(':protocol', 'webtransport'),
    h(':scheme', 'https'),
    h(':authority', `127.0.0.1:${port}`),
    h(':path', path),
    h('origin', `http://127.0.0.1:${port}`),
    h('sec-webtransport-http3-draft02', '1'),
  ]);
}

function requestCorpus(port: number): Uint8Array[] {
  const connect = encodeFrame(FrameType.HEADERS, connectHeaders(port, '/fuzz/h3/wt/fmp4'));
  return [
    connect,
    encodeFrame(FrameType.HEADERS, connectHeaders(port, '/moq')),
    concatBytes([connect, encodeFrame(FrameType.DATA, encodeCloseSessionCapsule(0, 'bye'))]),
    concatBytes([connect, encodeFrame(FrameType.DATA, encodeCapsule(CapsuleType.DRAIN_WEBTRANSPORT_SESSION, new Uint8Array(0)))]),
    concatBytes([connect, encodeFrame(FrameType.DATA, encodeCapsule(0x29, utf8('grease')))]),
    encodeFrame(FrameType.HEADERS, encodeFieldSection([h(':method', 'GET'), h(':scheme', 'https'), h(':authority', 'x'), h(':path', '/')], { huffman: false })),
    concatBytes([encodeFrame(0x21, utf8('reserved')), connect]),
  ];
}

const UNI_CORPUS: Uint8Array[] = [
  concatBytes([Uint8Array.of(StreamType.CONTROL), encodeSettingsFrame([[SettingId.H3_DATAGRAM, 1]])]),
  Uint8Array.of(StreamType.QPACK_ENCODER, 0x3f, 0xe1, 0x1f),
  Uint8Array.of(StreamType.QPACK_DECODER, 0x80),
  concatBytes([quicVarint(0x54n), quicVarint(0n), utf8('payload')]),
  concatBytes([quicVarint(0x21n), utf8('unknown stream type')]),
];

interface H3Conn {
  client: QUICClient;
  dead: boolean;
}

async function connect(port: number): Promise<H3Conn | undefined> {
  patchMatrixaiQuic();
  try {
    const client = await QUICClient.createQUICClient({
      host: '127.0.0.1',
      port,
      localHost: '127.0.0.1',
      logger: quietLogger(),
      crypto: { ops: { randomBytes: async (b: ArrayBuffer) => void randomFillSync(new Uint8Array(b)) } },
      config: { verifyPeer: false, applicationProtos: ['h3'], maxIdleTimeout: 10_000, initialMaxStreamsUni: 100, initialMaxStreamsBidi: 100 },
    });
    const conn: H3Conn = { client, dead: false };
    client.connection.addEventListener(events.EventQUICConnectionStopped.name, () => (conn.dead = true));
    // The server opens its own control and QPACK streams: read them to the end.
    client.connection.addEventListener(events.EventQUICConnectionStream.name, (evt: Event) => {
      const stream = (evt as events.EventQUICConnectionStream).detail;
      void stream.readable.pipeTo(new WritableStream()).catch(() => undefined);
    });
    const control = client.connection.newStream('uni');
    const w = control.writable.getWriter();
    await w.write(concatBytes([Uint8Array.of(StreamType.CONTROL), encodeSettingsFrame([[SettingId.H3_DATAGRAM, 1], [SettingId.ENABLE_WEBTRANSPORT_DRAFT02, 1]])]));
    w.releaseLock();
    return conn;
  } catch {
    return undefined;
  }
}

/** Writes `bytes` on a new stream, reads what comes back for a moment, then lets go of it. */
async function sendOnStream(conn: H3Conn, kind: 'bidi' | 'uni', bytes: Uint8Array, fin: boolean): Promise<void> {
  let stream;
  try {
    stream = conn.client.connection.newStream(kind);
  } catch {
    // The server already closed the connection (what it does with many bad streams).
    conn.dead = true;
    return;
  }
  const w = stream.writable.getWriter();
  try {
    await within(w.write(bytes), 1000);
    if (fin) await within(w.close(), 1000);
    else w.releaseLock();
  } catch {
    return;
  }
  if (kind === 'bidi') {
    const r = stream.readable.getReader();
    await within(r.read().catch(() => undefined), 150);
    void r.cancel().catch(() => undefined);
  }
  if (!fin) void stream.writable.abort().catch(() => undefined);
}

export const h3: FuzzTarget = {
  name: 'h3',
  summary: 'HTTP/3 frames, QPACK field sections, capsules and stream types on QUIC streams after a real handshake (WebTransport CONNECT and others)',
  async wire(ctx: CaseContext) {
    const requests = requestCorpus(ctx.ports.webTransport);
    await runCases(
      ctx,
      this.name,
      async (index, rng: Rng) => {
        // One connection per case keeps every case replayable on its own; the handshake bounds the rate.
        const conn = await connect(ctx.ports.webTransport);
        if (!conn) {
          if (ctx.alive()) ctx.finding({ kind: 'hang', detail: 'QUIC handshake failed', caseIndex: index });
          return;
        }
        try {
          // Many streams per connection: the handshake is what costs, the streams are what is fuzzed.
          const n = 1 + rng.int(32);
          for (let i = 0; i < n && !conn.dead; i++) {
            const uni = rng.chance(0.25);
            await sendOnStream(conn, uni ? 'uni' : 'bidi', fuzzInput(rng, uni ? UNI_CORPUS : requests, 256), rng.chance(0.5));
            ctx.sent();
          }
        } finally {
          await within(conn.client.destroy({ force: true }).catch(() => undefined), 2000);
        }
      },
      8,
    );
  },
  inProcess(ctx: InProcessContext) {
    const corpus = [...requestCorpus(4443), ...UNI_CORPUS];
    for (let i = 0; i < ctx.count; i++) {
      const rng = caseRng(ctx.seed, 'h3/in-process', i);
      const bytes = fuzzInput(rng, corpus, 256);
      try {
        const which = rng.int(4);
        if (which === 0) {
          const fr = new FrameReader({ wanted: new Set([FrameType.HEADERS, FrameType.DATA, FrameType.SETTINGS]) });
          fr.push(bytes);
          for (let f = fr.next(); f !== null; f = fr.next()) {
            if (f.type === FrameType.HEADERS) parseRequestHead(decodeFieldSection(f.payload));
            else if (f.type === FrameType.SETTINGS) decodeSettingsPayload(f.payload);
            else {
              const cr = new CapsuleReader(new Set([CapsuleType.CLOSE_WEBTRANSPORT_SESSION]));
              cr.push(f.payload);
              while (cr.next() !== null);
            }
          }
        } else if (which === 1) parseRequestHead(decodeFieldSection(bytes));
        else if (which === 2) decodeSettingsPayload(bytes);
        else for (let off = 0, v = readVarint(bytes, 0); v !== null; off += v.length, v = readVarint(bytes, off));
      } catch (err) {
        if (!(err instanceof Http3Error)) {
          ctx.finding({ kind: 'untyped-exception', detail: `HTTP/3 parser: ${(err as Error).stack?.split('\n').slice(0, 3).join(' ')}`, caseIndex: i, bytes });
        }
      }
    }
    return ctx.count;
  },
};
