/**
 * The smallest WebTransport responder on `@matrixai/quic`'s JS wrapper
 * (QUICServer / QUICConnection / QUICStream). It exists to exercise the
 * wrapper with a real HTTP/3 client — the InvalidStreamState patch test and
 * the wrapper side of the throughput measurement — not as a server to use.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { events, QUICServer, type QUICConnection, type QUICStream } from '@matrixai/quic';
import Logger, { LogLevel } from '@matrixai/logger';
import {
  decodeFieldSection,
  decodeSettingsPayload,
  encodeFieldSection,
  encodeFrame,
  encodeSettingsFrame,
  FrameReader,
  FrameType,
  StreamBuffer,
  StreamType,
} from '../../src/protocols/http3/index.js';
import { serverSettings } from '../../src/protocols/webtransport/index.js';

export interface WrapperServer {
  readonly port: number;
  /** Client SETTINGS, once a client control stream delivered them. */
  readonly clientSettings: Promise<Map<number, number>>;
  stop(): Promise<void>;
}

export interface WrapperServerOptions {
  readonly cert: string;
  readonly key: string;
  /** Called after a CONNECT was answered 200, with the CONNECT stream id as session id. */
  readonly onSession?: (connection: QUICConnection, sessionId: number) => void;
}

/** The wrapper logs every stream at INFO to stderr by default. */
export function quietLogger(): Logger {
  return new Logger('quic', LogLevel.WARN);
}

async function readLoop(stream: QUICStream, onChunk: (c: Uint8Array) => boolean | void): Promise<void> {
  const reader = stream.readable.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || onChunk(value) === true) return;
    }
  } catch {
    // Reset by the peer or the connection went away.
  }
}

export async function startWrapperServer(opts: WrapperServerOptions): Promise<WrapperServer> {
  const hmacKey = randomBytes(32);
  const sign = async (key: ArrayBuffer, data: ArrayBuffer): Promise<ArrayBuffer> => {
    const d = createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest();
    return d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength) as ArrayBuffer;
  };
  const server = new QUICServer({
    logger: quietLogger(),
    crypto: {
      key: hmacKey.buffer.slice(hmacKey.byteOffset, hmacKey.byteOffset + hmacKey.byteLength) as ArrayBuffer,
      ops: {
        sign,
        verify: async (key, data, sig) => {
          const expected = Buffer.from(await sign(key, data));
          const got = Buffer.from(sig);
          return expected.length === got.length && timingSafeEqual(expected, got);
        },
      },
    },
    config: {
      key: opts.key,
      cert: opts.cert,
      verifyPeer: false,
      applicationProtos: ['h3'],
      enableDgram: [true, 1024, 1024],
      maxIdleTimeout: 30_000,
    },
  });

  let resolveSettings!: (s: Map<number, number>) => void;
  const clientSettings = new Promise<Map<number, number>>((r) => {
    resolveSettings = r;
  });

  const onStream = (connection: QUICConnection, stream: QUICStream): void => {
    const id = Number(stream.streamId);
    if (id % 4 === 2) {
      // Client uni stream: decode the control stream's SETTINGS, drain the rest.
      const buf = new StreamBuffer(1 << 16);
      let type: number | null = null;
      let reader: FrameReader | undefined;
      void readLoop(stream, (chunk) => {
        if (reader !== undefined) {
          reader.push(Uint8Array.from(chunk));
        } else {
          buf.push(Uint8Array.from(chunk));
          type = buf.readVarint();
          if (type === null) return;
          if (type !== StreamType.CONTROL) return;
          reader = new FrameReader({ wanted: new Set([FrameType.SETTINGS]) });
          reader.push(buf.takeUpTo(buf.available));
        }
        const f = reader?.next();
        if (f) resolveSettings(decodeSettingsPayload(f.payload));
      });
      return;
    }
    if (id % 4 !== 0) return;
    const frames = new FrameReader({ wanted: new Set([FrameType.HEADERS, FrameType.DATA]) });
    let answered = false;
    void readLoop(stream, (chunk) => {
      if (answered) return;
      frames.push(Uint8Array.from(chunk));
      const f = frames.next();
      if (f === null || f.type !== FrameType.HEADERS) return;
      answered = true;
      const fields = decodeFieldSection(f.payload);
      const ok = fields.some((h) => h.name === ':protocol' && h.value === 'webtransport');
      const head = encodeFieldSection([
        { name: ':status', value: ok ? '200' : '404' },
        { name: 'sec-webtransport-http3-draft', value: 'draft02' },
      ]);
      const writer = stream.writable.getWriter();
      void writer.write(encodeFrame(FrameType.HEADERS, head)).then(() => {
        writer.releaseLock();
        if (ok) opts.onSession?.(connection, id);
      });
    });
  };

  server.addEventListener(events.EventQUICServerConnection.name, (evt: Event) => {
    const connection = (evt as events.EventQUICServerConnection).detail;
    connection.addEventListener(events.EventQUICConnectionStream.name, (e: Event) => {
      onStream(connection, (e as events.EventQUICConnectionStream).detail);
    });
    const control = connection.newStream('uni');
    const w = control.writable.getWriter();
    void w.write(Buffer.concat([Uint8Array.of(StreamType.CONTROL), encodeSettingsFrame(serverSettings(1))])).catch(() => {});
  });

  await server.start({ host: '127.0.0.1', port: 0 });
  return {
    port: server.port,
    clientSettings,
    stop: () => server.stop({ force: true }),
  };
}
