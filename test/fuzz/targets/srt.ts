/**
 * UDP datagrams to the SRT listener, as a caller sends them: a real
 * induction (whose SYN cookie the conclusion needs), a conclusion taken from
 * a recorded ffmpeg session with its fields and extension blocks (HSREQ, stream
 * id, KMREQ) mutated, then the recorded data packets (MPEG-TS: PAT, PMT,
 * PES) with mutated sequence numbers, timestamps and payloads, and control
 * packets (ACKACK, NAK with huge loss lists, DROPREQ, KEEPALIVE, SHUTDOWN,
 * unknown types). The listener drops what it cannot take with a counted
 * reason; it owes an answer only to a well-formed handshake.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { parseStreamId } from '../../../src/ingest/srt/stream-id.js';
import { buildHandshake, decodeStreamId, encodeStreamId, ExtensionType, HandshakeType, parseHandshake, parseHsReq, type Extension, type Handshake } from '../../../src/protocols/srt/handshake.js';
import { parseKeyMaterial } from '../../../src/protocols/srt/key-material.js';
import { ControlType, controlPacket, HEADER_SIZE, parsePacket, SrtPacketError } from '../../../src/protocols/srt/packet.js';
import { ffmpegSrtArgs, srtUrl } from '../../srt/srt-caller.js';
import { caseRng, concatBytes, fuzzInput, mutate, type Rng } from '../harness.js';
import { runCases, within, type CaseContext, type FuzzTarget, type InProcessContext } from '../target.js';

/** What a recorded caller session gives the cases to start from. */
interface SrtCorpus {
  /** The caller's conclusion handshake body (with its extensions). */
  conclusion: Handshake;
  /** Data packets in the order sent (the first carry PAT and PMT). */
  data: Uint8Array[];
  /** The caller's control packets other than handshakes (ACKACK, KEEPALIVE, SHUTDOWN…). */
  control: Uint8Array[];
}

/** How long an answer owed to a well-formed handshake may take. */
const REPLY_MS = 2000;

async function udpSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

/** Client→server datagrams of one ffmpeg (libsrt) caller session, through a UDP relay in front of the listener. */
export async function captureSrtSession(port: number): Promise<Uint8Array[]> {
  const captured: Uint8Array[] = [];
  const front = await udpSocket();
  const back = await udpSocket();
  let caller: { address: string; port: number } | undefined;
  front.on('message', (msg, rinfo) => {
    caller = { address: rinfo.address, port: rinfo.port };
    if (captured.length < 2000) captured.push(Uint8Array.from(msg));
    back.send(msg, port, '127.0.0.1');
  });
  back.on('message', (msg) => caller && front.send(msg, caller.port, caller.address));
  const o = { streamId: 'publish:fuzz/srt/capture', duration: 2 };
  const ffmpeg = spawn('ffmpeg', ffmpegSrtArgs(srtUrl(front.address().port, o), o), { stdio: 'ignore' });
  const exited = new Promise<void>((r) => ffmpeg.once('exit', () => r()));
  if ((await within(exited, 20_000)) === 'timeout') ffmpeg.kill('SIGKILL');
  front.close();
  back.close();
  return captured;
}

function corpusOf(datagrams: readonly Uint8Array[]): SrtCorpus {
  let conclusion: Handshake | undefined;
  const data: Uint8Array[] = [];
  const control: Uint8Array[] = [];
  for (const d of datagrams) {
    const p = parsePacket(d);
    if (!p.control) data.push(d);
    else if (p.type !== ControlType.handshake) control.push(d);
    else {
      const hs = parseHandshake(p.cif);
      if (hs.type === HandshakeType.conclusion) conclusion ??= hs;
    }
  }
  if (conclusion === undefined || data.length === 0) throw new Error(`the recorded SRT session has no conclusion or no data (${datagrams.length} datagrams)`);
  return { conclusion, data: data.slice(0, 300), control };
}

const handshakePacket = (hs: Uint8Array, destination = 0) => controlPacket(ControlType.handshake, 0, 0, destination, hs);

function induction(socketId: number, initialSeq: number): Uint8Array {
  // Version 4 and extension field 2 (UDT_DGRAM): what every libsrt caller opens with.
  return buildHandshake({ version: 4, encryption: 0, extensionField: 2, initialSeq, mtu: 1500, flowWindow: 8192, type: HandshakeType.induction, socketId, cookie: 0, peerIp: Uint8Array.of(127, 0, 0, 1, ...new Uint8Array(12)) });
}

/** Bytes padded to whole 32-bit words (at most 1 KiB), as an extension block's body must be to stay framed. */
function words(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.min(1024, Math.ceil(bytes.length / 4) * 4));
  out.set(bytes.subarray(0, out.length));
  return out;
}

/** A stream id whose bytes a path parser does not expect: controls, invalid UTF-8, separators, great length. */
function oddStreamId(rng: Rng, index: number): Extension {
  const base = `publish:fuzz/srt/${index}`;
  const roll = rng.int(5);
  if (roll === 0) return { type: ExtensionType.sid, body: words(mutate(rng, encodeStreamId(base).body)) };
  if (roll === 1) return encodeStreamId(`${base}${String.fromCharCode(...rng.bytes(1 + rng.int(16)))}`);
  if (roll === 2) return encodeStreamId(rng.pick(['#!::r=fuzz/srt/x,m=publish,u=a,s=b', '#!::m=request', 'read:live/watch', 'publish:', '::::', 'publish:../..', 'publish:live/watch']));
  if (roll === 3) return encodeStreamId(`${base}/${'x'.repeat(rng.pick([500, 511, 512, 513, 4000]))}`);
  const body = new Uint8Array(4 * (1 + rng.int(8)));
  body.set(rng.bytes(body.length));
  return { type: ExtensionType.sid, body };
}

/** The recorded conclusion with this case's cookie and ids, often with a field or an extension block changed. */
function conclusion(rng: Rng, c: SrtCorpus, index: number, socketId: number, cookie: number): { bytes: Uint8Array; intact: boolean } {
  const sid = encodeStreamId(`publish:fuzz/srt/${index}`);
  let extensions = c.conclusion.extensions.map((e) => (e.type === ExtensionType.sid ? sid : e));
  let hs: Handshake = { ...c.conclusion, socketId, cookie, extensions };
  const roll = rng.int(100);
  if (roll < 45) return { bytes: buildHandshake(hs), intact: true };
  if (roll < 55) hs = { ...hs, version: rng.pick([0, 4, 6, 0xffffffff, rng.u32()]), extensionField: rng.pick([0, 1, 2, 7, 0xffff, rng.int(0x10000)]) };
  else if (roll < 60) hs = { ...hs, cookie: rng.chance(0.5) ? 0 : rng.u32(), mtu: rng.pick([0, 1, 76, 65536, 0xffffffff]), flowWindow: rng.pick([0, 1, 0xffffffff]) };
  else if (roll < 70) extensions = extensions.map((e) => (e.type === ExtensionType.sid ? oddStreamId(rng, index) : e));
  else if (roll < 85) {
    // An extension block's body mutated, whole words kept so that the block stays framed; or an extra block.
    const at = rng.int(extensions.length + 1);
    const type = rng.pick([ExtensionType.hsreq, ExtensionType.kmreq, ExtensionType.sid, ExtensionType.congestion, ExtensionType.filter, ExtensionType.group, rng.int(0x10000)]);
    const old = extensions[at]?.body ?? rng.bytes(4 * rng.int(12));
    const body = words(mutate(rng, old));
    extensions = at < extensions.length && rng.chance(0.7) ? extensions.map((e, i) => (i === at ? { type: e.type, body } : e)) : [...extensions.slice(0, at), { type, body }, ...extensions.slice(at)];
  }
  if (roll >= 60 && roll < 85) hs = { ...hs, extensions };
  const bytes = buildHandshake(hs);
  // The rest: the body's bytes themselves mangled, extension lengths that run past the packet among them.
  return { bytes: roll >= 85 ? mutate(rng, bytes) : bytes, intact: false };
}

/** NAK loss list entries: single sequence numbers, or ranges with the top bit on the first. */
function lossList(rng: Rng, around: number): Uint8Array {
  const n = rng.pick([1, 2, 16, 200, 360]);
  const out = new Uint8Array(4 * n);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const value = rng.chance(0.5) ? (around + rng.int(2000) - 1000) & 0x7fffffff : rng.u32();
    view.setUint32(4 * i, (rng.chance(0.4) ? value | 0x80000000 : value) >>> 0);
  }
  return out;
}

function controlCase(rng: Rng, c: SrtCorpus, destination: number, seq: number): Uint8Array {
  const roll = rng.int(8);
  const ts = rng.u32();
  if (roll === 0 && c.control.length > 0) return mutate(rng, withDestination(rng.pick(c.control), destination));
  if (roll === 1) return controlPacket(ControlType.ackack, rng.pick([0, 1, rng.u32()]), ts, destination);
  if (roll === 2) return controlPacket(ControlType.nak, 0, ts, destination, lossList(rng, seq));
  if (roll === 3) return controlPacket(ControlType.dropreq, rng.u32(), ts, destination, concatBytes([u32(seq), u32(rng.chance(0.5) ? seq + rng.int(1000) : rng.u32())]));
  if (roll === 4) return controlPacket(ControlType.keepalive, 0, ts, destination, rng.chance(0.2) ? rng.bytes(rng.int(64)) : undefined);
  if (roll === 5) return controlPacket(rng.pick([ControlType.ack, ControlType.congestionWarning, ControlType.peerError, ControlType.userDefined]), rng.u32(), ts, destination, rng.bytes(rng.int(64)));
  if (roll === 6) return controlPacket(0x0009 + rng.int(0x7ff6), rng.u32(), ts, destination, rng.bytes(rng.int(32)), rng.int(0x10000));
  return controlPacket(ControlType.handshake, 0, ts, destination, rng.bytes(rng.int(96)));
}

const u32 = (v: number) => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, v >>> 0);
  return out;
};

function withDestination(packet: Uint8Array, destination: number): Uint8Array {
  const out = Uint8Array.from(packet);
  if (out.length >= HEADER_SIZE) new DataView(out.buffer).setUint32(12, destination >>> 0);
  return out;
}

/** A recorded data packet for this session: as sent, or with its header fields or its TS payload mutated. */
function dataCase(rng: Rng, c: SrtCorpus, destination: number, at: number): Uint8Array {
  const packet = withDestination(c.data[Math.min(at, c.data.length - 1)]!, destination);
  const roll = rng.int(100);
  if (roll < 35) return packet;
  const view = new DataView(packet.buffer);
  if (roll < 55) {
    const word = rng.pick([0, 4, 8]);
    view.setUint32(word, word === 0 ? rng.pick([0, 1, 0x7fffffff, view.getUint32(0) + rng.int(64) - 32, rng.u32() & 0x7fffffff]) >>> 0 : rng.u32());
    return packet;
  }
  // The MPEG-TS in the payload: the first packets carry the PAT and the PMT, later ones PES.
  const payloads = c.data.slice(0, 8).map((d) => d.subarray(HEADER_SIZE));
  return concatBytes([packet.subarray(0, HEADER_SIZE), fuzzInput(rng, [packet.subarray(HEADER_SIZE), ...payloads], 1316).subarray(0, 1456)]);
}

/**
 * The listener's next handshake to this caller, or 'timeout'. A fresh socket
 * may get an earlier case's ACKs and keepalives when the system gives it that
 * case's port again: those are not the answer.
 */
function handshakeReply(socket: dgram.Socket, callerId: number, ms: number): Promise<Handshake | 'timeout'> {
  let listener: ((m: Buffer) => void) | undefined;
  const answered = new Promise<Handshake>((resolve) => {
    listener = (m: Buffer) => {
      try {
        const p = parsePacket(m);
        if (p.control && p.type === ControlType.handshake && p.destination === callerId) resolve(parseHandshake(p.cif));
      } catch {
        // Not a handshake for us: keep waiting.
      }
    };
    socket.on('message', listener);
  });
  return within(answered, ms).finally(() => socket.off('message', listener!));
}

function send(socket: dgram.Socket, bytes: Uint8Array, port: number): Promise<void> {
  return new Promise((r) => socket.send(bytes.subarray(0, 1500), port, '127.0.0.1', () => r()));
}

export const srt: FuzzTarget & { corpus?: SrtCorpus } = {
  name: 'srt',
  summary: 'UDP datagrams to the SRT listener: a real induction, then mutated conclusions (fields, HSREQ/KMREQ/stream id blocks), data packets (MPEG-TS) and control packets of a recorded ffmpeg caller session',
  // A fifth of the cases leave without SHUTDOWN: their publishers are let go of by the peer idle timeout
  // (readTimeout, 10 s by default), and memory read sooner would count them as held.
  settleMs: 12_000,
  async prepare(ctx: CaseContext) {
    this.corpus = corpusOf(await captureSrtSession(ctx.ports.srt));
  },
  async wire(ctx: CaseContext) {
    const c = this.corpus!;
    const port = ctx.ports.srt;
    let published = 0;
    await runCases(
      ctx,
      this.name,
      async (index, rng) => {
        const socket = await udpSocket();
        try {
          const callerId = 1 + rng.int(0x7ffffffe);
          const ind = induction(callerId, c.conclusion.initialSeq);
          const mangled = rng.chance(0.08);
          await send(socket, handshakePacket(mangled ? mutate(rng, ind) : ind), port);
          ctx.sent();
          if (mangled) return;
          const hello = await handshakeReply(socket, callerId, REPLY_MS);
          if (hello === 'timeout') {
            if (ctx.alive()) ctx.finding({ kind: 'hang', detail: 'no answer to a well-formed induction', caseIndex: index, bytes: ind });
            return;
          }
          const concl = conclusion(rng, c, index, callerId, hello.cookie);
          // Sometimes the packet header too, not only the handshake body.
          const headerMangled = rng.chance(0.05);
          const wrapped = headerMangled ? mutate(rng, handshakePacket(concl.bytes)) : handshakePacket(concl.bytes);
          await send(socket, wrapped, port);
          ctx.sent();
          const hs = await handshakeReply(socket, callerId, REPLY_MS);
          if (hs === 'timeout') {
            if (concl.intact && !headerMangled && ctx.alive()) ctx.finding({ kind: 'hang', detail: 'no answer to a well-formed conclusion', caseIndex: index, bytes: wrapped });
            return;
          }
          if (hs.type !== HandshakeType.conclusion) return;
          published++;
          const server = hs.socketId;
          const n = 1 + rng.int(48);
          for (let i = 0; i < n; i++) {
            const bytes = rng.chance(0.75) ? dataCase(rng, c, server, i) : controlCase(rng, c, server, c.conclusion.initialSeq + i);
            await send(socket, bytes, port);
            ctx.sent();
          }
          // Most callers leave properly; the others are for the listener's idle timeout.
          if (rng.chance(0.8)) await send(socket, controlPacket(ControlType.shutdown, 0, 0, server), port);
        } finally {
          socket.close();
        }
      },
      Math.min(ctx.concurrency, 8),
    );
    // Cases that never got a publisher accepted never reached the receive path and its MPEG-TS parser.
    if (ctx.onlyCase === undefined && ctx.alive() && published === 0) {
      ctx.finding({ kind: 'contract', detail: `no conclusion was accepted in ${ctx.progress.cases} case(s): the data path was never fuzzed` });
    }
  },
  inProcess(ctx: InProcessContext) {
    const c = this.corpus;
    const bodies = c === undefined ? [induction(1, 1)] : [buildHandshake(c.conclusion), ...c.data.slice(0, 4), ...c.control.slice(0, 4)];
    for (let i = 0; i < ctx.count; i++) {
      const rng = caseRng(ctx.seed, 'srt/in-process', i);
      const bytes = fuzzInput(rng, bodies, 256);
      try {
        const p = parsePacket(bytes);
        const hs = parseHandshake(p.control ? p.cif : bytes);
        // The extension parsers the listener runs on a conclusion.
        for (const e of hs.extensions) {
          if (e.type === ExtensionType.sid) parseStreamId(decodeStreamId(e.body));
          if (e.type === ExtensionType.hsreq) parseHsReq(e.body);
          if (e.type === ExtensionType.kmreq) parseKeyMaterial(e.body);
        }
      } catch (err) {
        if (!(err instanceof SrtPacketError)) ctx.finding({ kind: 'untyped-exception', detail: `SRT packet/handshake parser: ${(err as Error).stack?.split('\n').slice(0, 3).join(' ')}`, caseIndex: i, bytes });
      }
    }
    return ctx.count;
  },
};
