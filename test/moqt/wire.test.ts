/**
 * Polycast's moq-transport encoders and decoders against @moq/net's, byte
 * for byte, in the drafts' two varint encodings; and garbage into the
 * decoders, which may only ever throw MoqtProtocolError.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SubscribeOk, Subscribe } from '../../node_modules/@moq/net/ietf/subscribe.js';
import { RequestError } from '../../node_modules/@moq/net/ietf/request.js';
import { Frame, Group } from '../../node_modules/@moq/net/ietf/object.js';
import { Reader, Writer } from '../../node_modules/@moq/net/stream.js';
import { Timescale } from '../../node_modules/@moq/net/time.js';
import { MoqtProtocolError } from '../../src/protocols/moqt/errors.js';
import { decodeSetup, decodeSubscribe, encodeRequestError, encodeSubscribeOk } from '../../src/protocols/moqt/messages.js';
import { encodeObject, encodeSubgroupHeader } from '../../src/protocols/moqt/objects.js';
import { encodeVarint } from '../../src/protocols/moqt/varint.js';
import { WireReader } from '../../src/protocols/moqt/wire.js';
import { MOQT_DRAFTS, selectDraft, type MoqtDraft } from '../../src/protocols/moqt/version.js';

type NetVersion = number & { readonly __brand?: never };
const netVersion = (draft: MoqtDraft): NetVersion => 0xff000000 + draft;

async function netBytes(draft: MoqtDraft, encode: (w: Writer) => Promise<void>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const w = new Writer(new WritableStream<Uint8Array>({ write: (c) => void chunks.push(Uint8Array.from(c)) }), netVersion(draft) as never);
  await encode(w);
  w.close();
  await w.closed;
  return Buffer.concat(chunks);
}

const netReader = (draft: MoqtDraft, bytes: Uint8Array): Reader => new Reader(undefined, bytes, netVersion(draft) as never);

describe.each(MOQT_DRAFTS)('draft %i', (draft) => {
  it('writes and reads varints as @moq/net does', async () => {
    for (const v of [0, 63, 64, 127, 128, 16383, 16384, 2 ** 21, 2 ** 30 - 1, 2 ** 30, 2 ** 35, 2 ** 42, 2 ** 50, Number.MAX_SAFE_INTEGER]) {
      const ours = encodeVarint(v, draft);
      expect(Buffer.from(ours)).toEqual(Buffer.from(await netBytes(draft, (w) => w.u62(BigInt(v)))));
      expect(new WireReader(ours, draft, 'test').varint()).toBe(v);
    }
  });

  it('decodes @moq/net SUBSCRIBE', async () => {
    const bytes = await netBytes(draft, (w) =>
      new Subscribe({ requestId: 6n, trackNamespace: 'live/cam1' as never, trackName: 'video', subscriberPriority: 9, filter: { kind: 'nextObject' } }).encode(w, netVersion(draft) as never),
    );
    // Past the u16 length: what the session hands the decoder.
    const req = decodeSubscribe(new WireReader(bytes.subarray(2), draft, 'subscribe'));
    expect(req).toEqual({ requestId: 6, namespace: ['live', 'cam1'], track: 'video', nextGroupStart: false, forward: true });
  });

  it('writes SUBSCRIBE_OK and REQUEST_ERROR that @moq/net decodes', async () => {
    const ok = encodeSubscribeOk(draft, { requestId: 4, alias: 3, largest: { group: 200, object: 17 }, timescale: 1_000_000 });
    const r = netReader(draft, ok);
    expect(await r.u53()).toBe(SubscribeOk.id);
    const decoded = await SubscribeOk.decode(r, netVersion(draft) as never);
    expect(decoded.trackAlias).toBe(3n);
    expect(decoded.largest).toEqual({ groupId: 200n, objectId: 17n });
    if (draft === 16) expect(decoded.requestId).toBe(4n);
    else expect(decoded.properties).toEqual({ timescale: 1_000_000, groupOrder: 2 });

    const error = netReader(draft, encodeRequestError(draft, { requestId: 8, code: 0x10, reason: 'no such track' }));
    expect(await error.u53()).toBe(RequestError.id);
    expect(await RequestError.decode(error, netVersion(draft) as never)).toMatchObject({ errorCode: 0x10, reasonPhrase: 'no such track' });
  });

  it('writes subgroups that @moq/net decodes, LOC timestamps included', async () => {
    const payload = randomBytes(300);
    const bytes = Buffer.concat([
      encodeSubgroupHeader(draft, { alias: 5, group: 1000, properties: true }),
      encodeObject(draft, payload, 4_000_123),
      encodeObject(draft, payload.subarray(0, 10), 4_033_456),
    ]);
    const r = netReader(draft, bytes);
    const header = await Group.decode(r, netVersion(draft) as never);
    expect(header).toMatchObject({ trackAlias: 5n, groupId: 1000, subGroupId: 0 });
    expect(header.flags).toMatchObject({ hasExtensions: true, hasEnd: true, firstObject: true });
    const first = await Frame.decode(r, header.flags, Timescale(1_000_000), netVersion(draft) as never);
    const second = await Frame.decode(r, header.flags, Timescale(1_000_000), netVersion(draft) as never);
    expect(Buffer.from(first.payload!)).toEqual(payload);
    expect(first.timestamp?.value).toBe(4_000_123);
    expect(second.timestamp?.value).toBe(4_033_456);
    expect(await r.done()).toBe(true);
  });

  it('stamps LOC objects with the Timestamp property 0x06 in microseconds', () => {
    const object = encodeObject(draft, Uint8Array.of(9, 9, 9), 100);
    const r = new WireReader(object, draft, 'object');
    expect(r.varint()).toBe(0);
    const properties = new WireReader(r.blob(64), draft, 'properties');
    expect([properties.varint(), properties.varint()]).toEqual([0x06, 100]);
    expect(properties.done).toBe(true);
    expect(Array.from(r.blob(64))).toEqual([9, 9, 9]);
    expect(r.done).toBe(true);
  });

  it('throws nothing but MoqtProtocolError on garbage', () => {
    for (let i = 0; i < 3000; i++) {
      const junk = randomBytes(i % 64);
      for (const decode of [decodeSubscribe, decodeSetup]) {
        try {
          decode(new WireReader(junk, draft, 'junk'));
        } catch (err) {
          expect(err).toBeInstanceOf(MoqtProtocolError);
        }
      }
    }
  });
});

describe('version negotiation', () => {
  it('picks the newest moqt draft offered and ignores the rest', () => {
    expect(selectDraft(['moq-lite-05', 'moqt-20', 'moqt-19', 'moqt-18', 'moqt-17', 'moqt-16', 'moqt-15'])).toBe(19);
    expect(selectDraft(['moqt-16'])).toBe(16);
    expect(selectDraft(['moqt-15', 'moq-00', 'moqt-20'])).toBeUndefined();
  });
});
