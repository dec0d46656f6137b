/**
 * A moq-transport subscriber for Node built from @moq/net's own IETF wire
 * classes (SETUP, SUBSCRIBE, SUBSCRIBE_OK, REQUEST_ERROR, SUBGROUP_HEADER,
 * objects), driven over the Node WebTransport client of test/moq. It keeps
 * what the high-level @moq/net connection hides: track aliases, group and
 * object numbers, the LOC timestamp of every object.
 */
import '../moq/node-runtime.js';
import { exchangeSetup } from '../../node_modules/@moq/net/connection/handshake.js';
import { Frame, Group } from '../../node_modules/@moq/net/ietf/object.js';
import { SetupOptions } from '../../node_modules/@moq/net/ietf/parameters.js';
import { MaxRequestId, RequestError } from '../../node_modules/@moq/net/ietf/request.js';
import { ClientSetup, ServerSetup } from '../../node_modules/@moq/net/ietf/setup.js';
import { Subscribe, SubscribeOk, Unsubscribe } from '../../node_modules/@moq/net/ietf/subscribe.js';
import { Reader, Stream } from '../../node_modules/@moq/net/stream.js';
import { Timescale } from '../../node_modules/@moq/net/time.js';
import { connectWebTransport, type NodeWebTransport } from '../moq/wt-client.js';

export interface ReceivedObject {
  readonly payload: Uint8Array;
  /** The LOC Timestamp property, µs. */
  readonly timestampUs: number | undefined;
}

export interface ReceivedGroup {
  readonly alias: number;
  readonly group: number;
  readonly objects: ReceivedObject[];
}

export type SubscribeAnswer = { ok: SubscribeOk; stream?: Stream } | { error: RequestError };

type Ietf = ConstructorParameters<typeof ClientSetup>[0]['versions'][number];

export class IetfTestClient {
  readonly groups: ReceivedGroup[] = [];
  private readonly waiters = new Set<() => void>();
  private control: Stream | undefined;
  private nextRequestId = 0;
  private readonly pending = new Map<bigint, (a: SubscribeAnswer) => void>();
  /** Draft 16: what the server's MAX_REQUEST_ID messages granted. */
  maxRequestId = 0n;

  private constructor(
    readonly wt: NodeWebTransport,
    readonly draft: number,
    readonly version: Ietf,
  ) {}

  /** `reading: false` accepts group streams but never reads them, so QUIC flow control holds the server back. */
  static async connect(url: string, draft: number, o: { reading?: boolean; window?: number } = {}): Promise<IetfTestClient> {
    const windows = o.window === undefined ? {} : { streamWindow: o.window, connectionWindow: 4 * o.window };
    const wt = await connectWebTransport(url, { protocols: [`moqt-${draft}`], ...windows });
    await wt.ready;
    if (wt.protocol !== `moqt-${draft}`) throw new Error(`server selected '${wt.protocol}'`);
    const client = new IetfTestClient(wt, draft, (0xff000000 + draft) as Ietf);
    await client.setup();
    void client.readGroups(o.reading ?? true);
    return client;
  }

  private async setup(): Promise<void> {
    const version = this.version;
    if (this.draft >= 17) {
      await exchangeSetup(this.wt as unknown as WebTransport, version as never, 'polycast-test');
      return;
    }
    const control = await Stream.open(this.wt as unknown as WebTransport, { version });
    await control.writer.u53(ClientSetup.id);
    await new ClientSetup({ versions: [version], parameters: new SetupOptions() }).encode(control.writer, version);
    const type = await control.reader.u53();
    if (type !== ServerSetup.id) throw new Error(`answer 0x${type.toString(16)} to CLIENT_SETUP`);
    const setup = await ServerSetup.decode(control.reader, version);
    this.maxRequestId = setup.parameters.getVarint(2n) ?? 0n;
    this.control = control;
    void this.readControl(control);
  }

  private async readControl(control: Stream): Promise<void> {
    try {
      for (;;) {
        const type = await control.reader.u53();
        if (type === SubscribeOk.id) {
          const ok = await SubscribeOk.decode(control.reader, this.version);
          this.pending.get(ok.requestId!)?.({ ok });
        } else if (type === RequestError.id) {
          const error = await RequestError.decode(control.reader, this.version);
          this.pending.get(error.requestId!)?.({ error });
        } else if (type === MaxRequestId.id) {
          this.maxRequestId = (await MaxRequestId.decode(control.reader, this.version)).requestId;
        } else throw new Error(`control message 0x${type.toString(16)}`);
      }
    } catch {
      // The session ended.
    }
  }

  /** SUBSCRIBE to `track` of the namespace made of `path`'s segments. */
  async subscribe(path: string, track: string): Promise<SubscribeAnswer> {
    const requestId = BigInt(this.nextRequestId);
    this.nextRequestId += 2;
    const msg = new Subscribe({
      requestId,
      trackNamespace: path as never,
      trackName: track,
      subscriberPriority: 128,
      filter: { kind: 'nextObject' },
    });
    if (this.control !== undefined) {
      const answer = new Promise<SubscribeAnswer>((resolve) => this.pending.set(requestId, resolve));
      await this.control.writer.u53(Subscribe.id);
      await msg.encode(this.control.writer, this.version);
      return answer;
    }
    const stream = await Stream.open(this.wt as unknown as WebTransport, { version: this.version });
    await stream.writer.u53(Subscribe.id);
    await msg.encode(stream.writer, this.version);
    const type = await stream.reader.u53();
    if (type === SubscribeOk.id) return { ok: await SubscribeOk.decode(stream.reader, this.version), stream };
    if (type === RequestError.id) return { error: await RequestError.decode(stream.reader, this.version) };
    throw new Error(`answer 0x${type.toString(16)} to SUBSCRIBE`);
  }

  /** Draft 16: UNSUBSCRIBE on the control stream; later drafts: finish the request stream. */
  async unsubscribe(answer: SubscribeAnswer, requestId: bigint): Promise<void> {
    if (!('ok' in answer)) return;
    if (answer.stream !== undefined) {
      answer.stream.writer.close();
      return;
    }
    await this.control!.writer.u53(Unsubscribe.id);
    await new Unsubscribe({ requestId }).encode(this.control!.writer, this.version);
  }

  /** Resolves once `n` complete groups of the track with this alias have arrived (in order of completion). */
  async nextGroups(alias: bigint, n: number, after = 0): Promise<ReceivedGroup[]> {
    const mine = (): ReceivedGroup[] => this.groups.filter((g) => g.alias === Number(alias)).slice(after);
    while (mine().length < n) await new Promise<void>((resolve) => this.waiters.add(resolve));
    return mine().slice(0, n);
  }

  close(): void {
    this.wt.close();
  }

  private async readGroups(reading: boolean): Promise<void> {
    const streams = this.wt.incomingUnidirectionalStreams.getReader();
    for (;;) {
      const { value, done } = await streams.read().catch(() => ({ value: undefined, done: true as const }));
      if (done || value === undefined) return;
      if (reading) void this.readGroup(value).catch(() => {
        // A group reset because a newer one superseded it: no loss the test cares about.
      });
    }
  }

  private async readGroup(readable: ReadableStream<Uint8Array>): Promise<void> {
    const reader = new Reader(readable, undefined, this.version);
    const header = await Group.decode(reader, this.version);
    const objects: ReceivedObject[] = [];
    while (!(await reader.done())) {
      const frame = await Frame.decode(reader, header.flags, Timescale(1_000_000), this.version);
      if (frame.payload === undefined) break;
      objects.push({ payload: frame.payload, timestampUs: frame.timestamp?.value });
    }
    this.groups.push({ alias: Number(header.trackAlias), group: header.groupId, objects });
    for (const wake of [...this.waiters]) {
      this.waiters.delete(wake);
      wake();
    }
  }
}
