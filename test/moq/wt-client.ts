/**
 * A WebTransport (draft-02) client for Node on @matrixai/quic, shaped like
 * the browser's `WebTransport` closely enough for @moq/net's moq-lite
 * connection to run on it. It lets tests drive Polycast's moq endpoint from
 * Node: byte-exact exchanges, a reader that stops reading (QUIC flow control
 * then holds the server back, since the wrapper pulls from quiche only when
 * asked), and peers that misbehave.
 */
import { randomFillSync } from 'node:crypto';
import { URL } from 'node:url';
import { QUICClient, events, type QUICStream } from '@matrixai/quic';
import {
  CapsuleReader,
  CapsuleType,
  decodeCloseSessionValue,
  decodeFieldSection,
  encodeBidiStreamHeader,
  encodeFieldSection,
  encodeFrame,
  encodeSettingsFrame,
  encodeUniStreamHeader,
  FrameReader,
  FrameType,
  http3ToWebTransportCode,
  readVarint,
  SettingId,
  StreamType,
  webTransportCodeToHttp3,
} from '../../src/protocols/http3/index.js';
import { patchMatrixaiQuic } from '../../src/protocols/webtransport/matrixai-quic-patch.js';
import { quietLogger } from '../http3/wrapper-server.js';

/** A stream reset or stop from the server, with its WebTransport code. */
export class StreamResetError extends Error {
  constructor(readonly code: number | null) {
    super(`stream reset with code ${code}`);
    this.name = 'StreamResetError';
  }
}

export interface BidiStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

export interface NodeWebTransport {
  readonly ready: Promise<void>;
  /** Settles when the session ends, with the server's CLOSE_WEBTRANSPORT_SESSION if it sent one. */
  readonly closed: Promise<{ closeCode: number; reason: string }>;
  /** The subprotocol the server selected (`wt-protocol`), or ''. */
  readonly protocol: string;
  readonly incomingUnidirectionalStreams: ReadableStream<ReadableStream<Uint8Array>>;
  readonly incomingBidirectionalStreams: ReadableStream<BidiStream>;
  createBidirectionalStream(): Promise<BidiStream>;
  createUnidirectionalStream(): Promise<WritableStream<Uint8Array>>;
  close(info?: { closeCode?: number; reason?: string }): void;
}

export interface ConnectOptions {
  protocols?: string[];
  /** Receive window per stream and for the connection; small ones make a non-reading client stall the server fast. */
  streamWindow?: number;
  connectionWindow?: number;
}

/** A readable of `source` without its first `skip` bytes, pulling only when read (no read-ahead). */
function withoutPrefix(reader: ReadableStreamDefaultReader<Uint8Array>, rest: Uint8Array): ReadableStream<Uint8Array> {
  let pending: Uint8Array | undefined = rest.length > 0 ? rest : undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (pending !== undefined) {
          controller.enqueue(pending);
          pending = undefined;
          return;
        }
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) {
              controller.close();
              return;
            }
            if (value.length > 0) {
              controller.enqueue(Uint8Array.from(value));
              return;
            }
          }
        } catch (e) {
          controller.error(e);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Reads `n` varints from the front of a stream; returns them and whatever else arrived in the same chunks. */
async function readVarints(reader: ReadableStreamDefaultReader<Uint8Array>, n: number): Promise<{ values: number[]; rest: Uint8Array } | null> {
  let buf = new Uint8Array(0);
  const values: number[] = [];
  let off = 0;
  while (values.length < n) {
    const r = readVarint(buf, off);
    if (r !== null) {
      values.push(r.value);
      off += r.length;
      continue;
    }
    const { value, done } = await reader.read();
    if (done) return null;
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf);
    next.set(value, buf.length);
    buf = next;
  }
  return { values, rest: buf.subarray(off) };
}

export async function connectWebTransport(url: string, opts: ConnectOptions = {}): Promise<NodeWebTransport> {
  patchMatrixaiQuic();
  const u = new URL(url);
  const window = opts.streamWindow ?? 1024 * 1024;
  const client = await QUICClient.createQUICClient({
    host: u.hostname,
    port: Number(u.port),
    localHost: '127.0.0.1',
    logger: quietLogger(),
    crypto: { ops: { randomBytes: async (b: ArrayBuffer) => void randomFillSync(new Uint8Array(b)) } },
    config: {
      verifyPeer: false,
      applicationProtos: ['h3'],
      maxIdleTimeout: 30_000,
      initialMaxStreamDataUni: window,
      initialMaxStreamDataBidiLocal: window,
      initialMaxStreamDataBidiRemote: window,
      maxStreamWindow: window,
      initialMaxData: opts.connectionWindow ?? 16 * window,
      maxConnectionWindow: opts.connectionWindow ?? 16 * window,
      initialMaxStreamsUni: 100,
      initialMaxStreamsBidi: 100,
    },
    codeToReason: (_type, code) => new StreamResetError(http3ToWebTransportCode(code)),
    reasonToCode: (_type, reason) => webTransportCodeToHttp3(typeof reason === 'number' ? reason : 0),
  });
  const conn = client.connection;

  const control = conn.newStream('uni');
  const cw = control.writable.getWriter();
  await cw.write(
    Buffer.concat([
      Uint8Array.of(StreamType.CONTROL),
      encodeSettingsFrame([
        [SettingId.H3_DATAGRAM, 1],
        [SettingId.ENABLE_WEBTRANSPORT_DRAFT02, 1],
      ]),
    ]),
  );
  cw.releaseLock();

  const connect = conn.newStream('bidi');
  const sessionId = Number(connect.streamId);
  const fields = [
    { name: ':method', value: 'CONNECT' },
    { name: ':protocol', value: 'webtransport' },
    { name: ':scheme', value: 'https' },
    { name: ':authority', value: u.host },
    { name: ':path', value: u.pathname + u.search },
    { name: 'origin', value: `http://${u.host}` },
    { name: 'sec-webtransport-http3-draft02', value: '1' },
  ];
  if (opts.protocols !== undefined) fields.push({ name: 'wt-available-protocols', value: opts.protocols.map((p) => `"${p}"`).join(', ') });
  const connectWriter = connect.writable.getWriter();
  await connectWriter.write(encodeFrame(FrameType.HEADERS, encodeFieldSection(fields)));
  connectWriter.releaseLock();

  let uniController!: ReadableStreamDefaultController<ReadableStream<Uint8Array>>;
  let bidiController!: ReadableStreamDefaultController<BidiStream>;
  const incomingUnidirectionalStreams = new ReadableStream<ReadableStream<Uint8Array>>({ start: (c) => void (uniController = c) });
  const incomingBidirectionalStreams = new ReadableStream<BidiStream>({ start: (c) => void (bidiController = c) });

  let settleClosed!: (info: { closeCode: number; reason: string }) => void;
  const closed = new Promise<{ closeCode: number; reason: string }>((r) => (settleClosed = r));
  let ended = false;
  const end = (info: { closeCode: number; reason: string }): void => {
    if (ended) return;
    ended = true;
    settleClosed(info);
    try {
      uniController.close();
      bidiController.close();
    } catch {
      // Already closed.
    }
  };

  conn.addEventListener(events.EventQUICConnectionStream.name, (evt: Event) => {
    const stream = (evt as events.EventQUICConnectionStream).detail as QUICStream;
    const reader = stream.readable.getReader();
    const bidi = Number(stream.streamId) % 4 === 1;
    void readVarints(reader, 2)
      .then((head) => {
        if (head === null) return;
        const [type, sid] = head.values as [number, number];
        const ours = sid === sessionId && (bidi ? type === 0x41 : type === 0x54);
        if (!ours) {
          // The server's control stream and anything that is not this session's: drain.
          void (async () => {
            for (;;) if ((await reader.read()).done) return;
          })().catch(() => {});
          return;
        }
        const readable = withoutPrefix(reader, head.rest);
        if (bidi) bidiController.enqueue({ readable, writable: stream.writable });
        else uniController.enqueue(readable);
      })
      .catch(() => {});
  });

  let protocol = '';
  const ready = (async () => {
    const reader = connect.readable.getReader();
    const frames = new FrameReader({ wanted: new Set([FrameType.HEADERS, FrameType.DATA]) });
    let status: string | undefined;
    while (status === undefined) {
      const { value, done } = await reader.read();
      if (done) throw new Error('CONNECT stream ended without a response');
      frames.push(Uint8Array.from(value));
      const f = frames.next();
      if (f === null) continue;
      const head = decodeFieldSection(f.payload);
      status = head.find((h) => h.name === ':status')?.value;
      protocol = (head.find((h) => h.name === 'wt-protocol')?.value ?? '').replace(/^"|"$/g, '');
    }
    if (status !== '200') throw new Error(`CONNECT answered ${status}`);
    // Capsules follow in DATA frames; CLOSE_WEBTRANSPORT_SESSION or the FIN ends the session.
    void (async () => {
      const capsules = new CapsuleReader(new Set([CapsuleType.CLOSE_WEBTRANSPORT_SESSION]));
      let info = { closeCode: 0, reason: '' };
      try {
        for (;;) {
          for (let f = frames.next(); f !== null; f = frames.next()) {
            if (f.type !== FrameType.DATA) continue;
            capsules.push(f.payload);
            for (let c = capsules.next(); c !== null; c = capsules.next()) {
              const close = decodeCloseSessionValue(c.value);
              info = { closeCode: close.code, reason: close.reason };
            }
          }
          const { value, done } = await reader.read();
          if (done) break;
          frames.push(Uint8Array.from(value));
        }
      } catch {
        // Reset or connection gone.
      }
      end(info);
    })();
  })();
  ready.catch(() => end({ closeCode: 0, reason: 'not established' }));
  conn.addEventListener(events.EventQUICConnectionStopped.name, () => end({ closeCode: 0, reason: 'connection closed' }));
  await ready;

  const open = async (type: 'bidi' | 'uni'): Promise<QUICStream> => {
    const s = conn.newStream(type);
    const w = s.writable.getWriter();
    await w.write(type === 'bidi' ? encodeBidiStreamHeader(sessionId) : encodeUniStreamHeader(sessionId));
    w.releaseLock();
    return s;
  };

  return {
    ready,
    closed,
    protocol,
    incomingUnidirectionalStreams,
    incomingBidirectionalStreams,
    async createBidirectionalStream() {
      const s = await open('bidi');
      // The wrapper's streams are node:stream/web's, the same classes the DOM typings describe.
      return { readable: s.readable as ReadableStream<Uint8Array>, writable: s.writable as WritableStream<Uint8Array> };
    },
    async createUnidirectionalStream() {
      return (await open('uni')).writable;
    },
    close() {
      end({ closeCode: 0, reason: 'closed locally' });
      void client.destroy({ force: true }).catch(() => {});
    },
  };
}
