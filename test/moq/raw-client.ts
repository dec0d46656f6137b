/**
 * A hand-driven moq-lite subscriber for tests: every message is encoded and
 * decoded by @moq/net's own classes, but the test decides what is sent,
 * when streams are read, and can send garbage instead.
 */
import * as Ietf from './net-ietf.js';
import * as Lite from './net-lite.js';
import { Reader, Stream } from '../../node_modules/@moq/net/stream.js';
import * as Varint from '../../node_modules/@moq/net/varint.js';
import { connectWebTransport, StreamResetError, type ConnectOptions, type NodeWebTransport } from './wt-client.js';

export const COMPAT_OFFER = [Lite.Version.DRAFT_02, Lite.Version.DRAFT_01, Ietf.Version.DRAFT_14];

export interface ReceivedGroup {
  subscribe: bigint;
  sequence: number;
  /** Frame payloads as sent (see `legacy` for media tracks). */
  frames: Uint8Array[];
  /** The stream ended with FIN (false: reset, with `resetCode`). */
  complete: boolean;
  resetCode?: number | null;
}

export class RawMoqClient {
  version: number | undefined;
  /** The compat setup's stream, which stays open as the session stream. */
  sessionStream: Stream | undefined;
  private readonly groupsReader: ReadableStreamDefaultReader<ReadableStream<Uint8Array>>;

  private constructor(readonly wt: NodeWebTransport) {
    this.groupsReader = wt.incomingUnidirectionalStreams.getReader();
  }

  static async connect(url: string, opts: ConnectOptions = {}): Promise<RawMoqClient> {
    return new RawMoqClient(await connectWebTransport(url, opts));
  }

  /** The compat handshake @moq/net runs when no subprotocol was selected. */
  async setup(versions: number[] = COMPAT_OFFER): Promise<number> {
    const stream = await this.open();
    await stream.writer.u53(Lite.StreamId.ClientCompat);
    const params = new Ietf.SetupOptions();
    params.setBytes(Ietf.SetupOption.Implementation, new TextEncoder().encode('polycast-test'));
    await new Ietf.ClientSetup({ versions, parameters: params }).encode(stream.writer, Ietf.Version.DRAFT_14);
    const type = await stream.reader.u53();
    if (type !== Lite.StreamId.ServerCompat) throw new Error(`server answered type ${type}`);
    const server = await Ietf.ServerSetup.decode(stream.reader, Ietf.Version.DRAFT_14);
    this.version = server.version;
    this.sessionStream = stream;
    return server.version;
  }

  async open(): Promise<Stream> {
    const { readable, writable } = await this.wt.createBidirectionalStream();
    return new Stream({ readable, writable });
  }

  /** Sends SUBSCRIBE and waits for SUBSCRIBE_OK; rejects with `StreamResetError` when refused. */
  async subscribe(id: bigint, broadcast: string, track: string, priority = 0): Promise<Stream> {
    const version = this.version as Lite.Version;
    const stream = await this.open();
    await stream.writer.u53(Lite.StreamId.Subscribe);
    await new Lite.Subscribe({ id, broadcast, track, priority }).encode(stream.writer, version);
    const resp = await Lite.decodeSubscribeResponse(stream.reader, version);
    if (!('ok' in resp)) throw new Error('not SUBSCRIBE_OK');
    return stream;
  }

  /** Opens a bidirectional stream and writes `bytes` on it as is; resolves with what comes back (or how it ended). */
  async raw(bytes: Uint8Array, finish = false): Promise<{ readable: ReadableStream<Uint8Array> }> {
    const { readable, writable } = await this.wt.createBidirectionalStream();
    const w = writable.getWriter();
    await w.write(bytes);
    if (finish) await w.close();
    else w.releaseLock();
    return { readable };
  }

  /** The next group stream the server opened, undefined once the session is over. */
  async nextGroupStream(): Promise<ReadableStream<Uint8Array> | undefined> {
    const { value, done } = await this.groupsReader.read();
    return done ? undefined : value;
  }

  async nextGroup(): Promise<ReceivedGroup | undefined> {
    const s = await this.nextGroupStream();
    return s === undefined ? undefined : readGroup(s);
  }

  close(): void {
    this.wt.close();
  }
}

/** Reads a whole group stream: header, then size-prefixed legacy frames to the FIN (or a reset). */
export async function readGroup(readable: ReadableStream<Uint8Array>): Promise<ReceivedGroup> {
  const r = new Reader(readable);
  const group: ReceivedGroup = { subscribe: -1n, sequence: -1, frames: [], complete: false };
  try {
    if ((await r.u53()) !== Lite.DataType.Group) throw new Error('not a group stream');
    const head = await Lite.Group.decode(r);
    group.subscribe = head.subscribe;
    group.sequence = head.sequence;
    while (!(await r.done())) {
      group.frames.push(Uint8Array.from(await r.read(await r.u53())));
    }
    group.complete = true;
  } catch (e) {
    group.resetCode = e instanceof StreamResetError ? e.code : null;
  }
  return group;
}

/** A hang legacy-container frame: timestamp (µs) and codec payload. */
export function legacy(frame: Uint8Array): { timestamp: number; payload: Uint8Array } {
  const [timestamp, payload] = Varint.decode(frame);
  return { timestamp, payload };
}

/** The reset code a stream's readable failed with (null: not a reset, undefined: it ended normally). */
export async function resetCodeOf(readable: ReadableStream<Uint8Array>): Promise<number | null | undefined> {
  const reader = readable.getReader();
  try {
    for (;;) if ((await reader.read()).done) return undefined;
  } catch (e) {
    return e instanceof StreamResetError ? e.code : null;
  }
}

/** NAL unit types in an AVCC access unit with 4-byte lengths. */
export function nalTypes(avcc: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 < avcc.length; ) {
    const n = ((avcc[i]! << 24) >>> 0) + (avcc[i + 1]! << 16) + (avcc[i + 2]! << 8) + avcc[i + 3]!;
    out.push(avcc[i + 4]! & 0x1f);
    i += 4 + n;
  }
  return out;
}
