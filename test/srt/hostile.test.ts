/**
 * What a hostile or broken peer can send costs it its datagrams and nothing
 * else: a real ffmpeg publisher keeps publishing through all of it.
 */
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { nowUs, SrtConnection } from '../../src/ingest/srt/srt-connection.js';
import { buildHandshake, encodeStreamId, ExtensionType, HandshakeType, parseHandshake, REJECTION_BASE, RejectReason } from '../../src/protocols/srt/handshake.js';
import { ControlType, controlPacket, dataPacket, parsePacket } from '../../src/protocols/srt/packet.js';
import { NalClient } from '../helpers/nal-client.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { ffmpegSrt, type SrtCaller } from './srt-caller.js';

let server: TestServer | undefined;
let publisher: SrtCaller | undefined;
let reader: NalClient | undefined;

afterEach(async () => {
  await publisher?.stop();
  reader?.close();
  await server?.stop();
});

const handshake = (o: { version: number; type: number; cookie?: number; extensions?: Array<{ type: number; body: Uint8Array }> }) =>
  controlPacket(
    ControlType.handshake,
    0,
    0,
    0,
    buildHandshake({
      version: o.version,
      encryption: 0,
      extensionField: o.version === 4 ? 2 : 0x5,
      initialSeq: 1,
      mtu: 1500,
      flowWindow: 8192,
      type: o.type,
      socketId: 777,
      cookie: o.cookie ?? 0,
      peerIp: new Uint8Array(16),
      extensions: o.extensions ?? [],
    }),
  );

describe('SRT listener against hostile datagrams', () => {
  it('drops each with a counted reason, answers inductions without keeping state, and the publisher carries on', async () => {
    const port = await freePort();
    server = await startServer(`srt: yes\nsrtAddress: 127.0.0.1:${port}\npaths:\n  all_others:\n`);
    reader = new NalClient(server.wsUrl('live/h'));
    await reader.opened;
    publisher = ffmpegSrt(port, { streamId: 'publish:live/h' });
    await reader.until(() => reader!.video.length >= 10, 20_000, 'video before the attack');

    const attacker = createSocket('udp4');
    let answers = 0;
    attacker.on('message', () => answers++);
    await new Promise<void>((r) => attacker.bind(0, '127.0.0.1', r));
    const send = (d: Uint8Array) => new Promise<void>((r) => attacker.send(d, port, '127.0.0.1', () => r()));

    await send(new Uint8Array(5));
    await send(handshake({ version: 3, type: HandshakeType.induction }));
    await send(handshake({ version: 5, type: HandshakeType.conclusion, cookie: 0x1234 }));
    await send(handshake({ version: 5, type: HandshakeType.conclusion, extensions: Array.from({ length: 200 }, () => ({ type: 1, body: new Uint8Array(0) })) }));
    const overlong = handshake({ version: 5, type: HandshakeType.conclusion });
    const lying = new Uint8Array(overlong.length + 4);
    lying.set(overlong);
    new DataView(lying.buffer).setUint32(overlong.length, (1 << 16) | 0xffff);
    await send(lying);
    await send(controlPacket(ControlType.keepalive, 0, 0, 0));
    await send(dataPacket({ seq: 1, message: 1, timestamp: 0, destination: 12345, payload: new Uint8Array(1316) }));
    await send(controlPacket(ControlType.nak, 0, 0, 12345, new Uint8Array(1400).fill(0xff)));
    // Inductions one after another: every one is answered, none is remembered.
    for (let i = 0; i < 500; i++) {
      const before = answers;
      await send(handshake({ version: 4, type: HandshakeType.induction }));
      const deadline = Date.now() + 1000;
      while (answers === before && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    }

    const ingest = server.server.srtIngest!;
    const expected = [
      'truncated header',
      'induction of handshake version 3',
      'conclusion with a wrong SYN cookie',
      'too many handshake extensions',
      'handshake extension runs past the packet',
      'packet for socket 0 that is not a handshake',
      'packet for an unknown socket id',
    ];
    const deadline = Date.now() + 5000;
    while ((answers < 500 || !expected.every((r) => ingest.drops().has(r))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    attacker.close();
    expect(Object.fromEntries(ingest.drops())).toMatchObject(Object.fromEntries(expected.map((r) => [r, expect.any(Number)])));
    expect(ingest.drops().get('packet for an unknown socket id')).toBe(2);
    expect(answers).toBe(500);
    // At most the publisher's own conclusion answer, kept a few seconds in case it is asked again.
    expect(ingest.handshakesKept).toBeLessThanOrEqual(1);
    expect(ingest.connections()).toHaveLength(1);

    const before = reader.video.length;
    await reader.until(() => reader!.video.length >= before + 25, 10_000, 'video after the attack');
  }, 40_000);

  it('answers a conclusion whose key material is malformed with a rejection, after an asynchronous authorization', async () => {
    const port = await freePort();
    server = await startServer(`srt: yes\nsrtAddress: 127.0.0.1:${port}\npaths:\n  locked:\n    srtPublishPassphrase: 0123456789abc\n`);
    const caller = createSocket('udp4');
    const replies: Uint8Array[] = [];
    caller.on('message', (d) => replies.push(d));
    await new Promise<void>((r) => caller.bind(0, '127.0.0.1', r));
    const ask = async (d: Uint8Array) => {
      const before = replies.length;
      caller.send(d, port, '127.0.0.1');
      const deadline = Date.now() + 3000;
      while (replies.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const reply = parsePacket(replies.at(-1) ?? new Uint8Array(16));
      return parseHandshake(reply.control ? reply.cif : new Uint8Array(0));
    };
    const induction = await ask(handshake({ version: 4, type: HandshakeType.induction }));
    const hsreq = new Uint8Array([0, 1, 5, 1, 0, 0, 0, 0x3f, 0, 120, 0, 120]);
    const badKm = new Uint8Array(32).fill(0x55);
    const answer = await ask(
      handshake({
        version: 5,
        type: HandshakeType.conclusion,
        cookie: induction.cookie,
        extensions: [{ type: ExtensionType.hsreq, body: hsreq }, encodeStreamId('publish:locked'), { type: ExtensionType.kmreq, body: badKm }],
      }),
    );
    caller.close();
    expect(answer.type).toBe(REJECTION_BASE + RejectReason.rogue);
    expect(server.logs.some((l) => l['msg'] === 'SRT publish refused' && l['reason'] === 'not a key material message')).toBe(true);
    expect(server.server.srtIngest!.connections()).toHaveLength(0);
  });

  it('a connection drops loss reports and acknowledgements sent to it (it sends no data) and ends on silence', async () => {
    const dropped: string[] = [];
    let closed: string | undefined;
    const conn = new SrtConnection({
      socketId: 1,
      peerSocketId: 2,
      initialSeq: 0,
      latencyUs: 120_000,
      windowPackets: 64,
      timeBaseUs: nowUs(),
      keys: undefined,
      handshakeResponse: new Uint8Array(0),
      peerIdleTimeoutMs: 100,
      send: () => undefined,
      deliver: () => undefined,
      dropped: (r) => dropped.push(r),
      closed: (r) => (closed = r),
    });
    const giantNak = controlPacket(ControlType.nak, 0, 0, 1, new Uint8Array(1400).fill(0xff));
    conn.handle(parsePacket(giantNak), giantNak.length);
    const farAhead = dataPacket({ seq: 1_000_000, message: 1, timestamp: 0, destination: 1, payload: new Uint8Array(188) });
    conn.handle(parsePacket(farAhead), farAhead.length);
    expect(dropped).toEqual(['NAK from a publisher, which is sent no data', 'data packet outside the receive window']);
    const deadline = Date.now() + 2000;
    while (closed === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe('no packet from the caller for 100 ms');
  });
});
