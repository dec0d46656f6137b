/**
 * What the server's QUIC stack (native/quic-ngtcp2: ngtcp2 with GnuTLS)
 * costs per packet with nothing of Polycast around it, as quiche-floor.ts
 * measures quiche's binding: a server and a client connection of the addon
 * in this process, configured as the WebTransport server and the lean bench
 * client are, joined by passing packets in memory (no sockets). The server
 * keeps a frame or two queued on a stream and writes its packets in batches
 * as the server's flush does (`writePackets`); the client reads everything
 * and answers every `ackEvery` packets. Only the server's calls are timed.
 *
 * The sum per packet is a floor for the server on this stack: building and
 * encrypting packets into the batch buffer, reading the client's ACKs and
 * copying the media in. The socket, the event loop and Polycast's own code
 * come on top.
 *
 *   node dist/bench/ngtcp2-floor.js [--seconds=3] [--frame=10400] [--ack-every=10] [--connections=200]
 */
import { fileURLToPath } from 'node:url';
import { BATCH, InMemoryQuic, PAYLOAD, TIMEOUT_SLOT } from './ngtcp2-pair.js';
import type { QuicFloorOptions, QuicFloorResult } from './quiche-floor.js';

/** The first server-initiated unidirectional stream. */
const STREAM = 3;

/** The ngtcp2 floor adds what a fan-out of frames asks of the event loop. */
export interface Ngtcp2FloorResult extends QuicFloorResult {
  /** Sessions fed in turn. */
  connections: number;
  /** Frames written, each until nothing was left queued. */
  bursts: number;
  /** Of those, the ones after which the connection still wanted a timer within a millisecond (a wake-up with nothing to send). */
  idleWakeups: number;
}

/** The floor, or why it cannot be measured (the addon is not built). */
export function measureNgtcp2Floor(o: QuicFloorOptions = {}): Ngtcp2FloorResult | { error: string } {
  const quic = InMemoryQuic.open();
  if ('error' in quic) return quic;
  const seconds = o.seconds ?? 3;
  const frame = Buffer.alloc(o.frameBytes ?? 10_400, 0x5a);
  const ackEvery = o.ackEvery ?? 10;
  const buf = Buffer.allocUnsafe(BATCH * PAYLOAD);
  const lengths = new Uint32Array(BATCH);
  const cbuf = Buffer.allocUnsafe(BATCH * PAYLOAD);
  const clengths = new Uint32Array(BATCH);
  const sink = Buffer.allocUnsafe(64 * 1024);
  const pairs = Array.from({ length: Math.max(1, o.connections ?? 1) }, (_, i) => quic.pair(50_000 + i));

  let writeNs = 0n;
  let recvNs = 0n;
  let streamSendNs = 0n;
  let packets = 0;
  let bytes = 0;
  let acks = 0;
  let bursts = 0;
  let idleWakeups = 0;
  /** The client's packets (ACKs) into the server, timed. */
  const answer = (p: (typeof pairs)[number]): void => {
    for (const id of p.client.readable()) while (p.client.streamRecv(id, sink) !== null);
    for (;;) {
      const n = p.client.writePackets(cbuf, 0, clengths, 0, BATCH);
      let off = 0;
      for (let i = 0; i < n; i++) {
        const t = process.hrtime.bigint();
        p.server.recv(cbuf.subarray(off, off + clengths[i]!));
        recvNs += process.hrtime.bigint() - t;
        off += clengths[i]!;
        acks++;
      }
      if (n < BATCH) return;
    }
  };
  const sinceAck = new Array<number>(pairs.length).fill(0);
  const end = performance.now() + seconds * 1000;
  // As the fan-out does: each frame goes to every session, whose flush then writes its packets.
  while (performance.now() < end) {
    for (let k = 0; k < pairs.length; k++) {
      const p = pairs[k]!;
      const t0 = process.hrtime.bigint();
      p.server.streamSend(STREAM, frame, false);
      streamSendNs += process.hrtime.bigint() - t0;
      for (;;) {
        const t = process.hrtime.bigint();
        const n = p.server.writePackets(buf, 0, lengths, 0, BATCH);
        writeNs += process.hrtime.bigint() - t;
        if (n === 0) break;
        packets += n;
        let off = 0;
        for (let i = 0; i < n; i++) {
          bytes += lengths[i]!;
          p.client.recv(buf.subarray(off, off + lengths[i]!));
          off += lengths[i]!;
          // The client answers every `ackEvery` packets, wherever they fall in a batch.
          if (++sinceAck[k]! >= ackEvery && !o.acksAfterRound) {
            sinceAck[k] = 0;
            answer(p);
          }
        }
        if (n < BATCH) break;
      }
      bursts++;
      if (o.acksAfterRound && k === pairs.length - 1) {
        // As on a real socket: the answers come back once every session's frame has left, into a cache the others have filled since.
        for (let j = 0; j < pairs.length; j++) {
          sinceAck[j] = 0;
          answer(pairs[j]!);
        }
      }
      // Everything queued went out: a timer due within a millisecond now would wake the connection for nothing.
      if (p.serverView[TIMEOUT_SLOT]! >= 0 && p.serverView[TIMEOUT_SLOT]! <= 1) idleWakeups++;
    }
  }

  const crossings = 200_000;
  const s = pairs[0]!.server;
  const t = process.hrtime.bigint();
  for (let i = 0; i < crossings; i++) s.peerStreamsLeftUni();
  const crossingNs = process.hrtime.bigint() - t;
  for (const p of pairs) {
    p.server.destroy();
    p.client.destroy();
  }

  const per = (ns: bigint): number => Number(ns) / 1000 / Math.max(1, packets);
  const r: Ngtcp2FloorResult = {
    stack: 'ngtcp2',
    connections: pairs.length,
    bursts,
    idleWakeups,
    packets,
    packetBytes: bytes / Math.max(1, packets),
    acks,
    sendUs: per(writeNs),
    recvUs: per(recvNs),
    streamSendUs: per(streamSendNs),
    // The next timer is read from the state view, with no call.
    timeoutUs: 0,
    totalUs: 0,
    crossingUs: Number(crossingNs) / 1000 / crossings,
  };
  r.totalUs = r.sendUs + r.recvUs + r.streamSendUs;
  return r;
}

export function formatNgtcp2Floor(r: Ngtcp2FloorResult | { error: string }): string {
  if ('error' in r) return `ngtcp2 floor not measured: ${r.error}`;
  const f = (v: number): string => v.toFixed(2);
  return (
    `ngtcp2 + GnuTLS, per server packet (${r.packets} packets of ${r.packetBytes.toFixed(0)} B, ${r.acks} ACKs): ` +
    `writePackets ${f(r.sendUs)} µs, recv of ACKs ${f(r.recvUs)}, streamSend ${f(r.streamSendUs)}; ` +
    `total ${f(r.totalUs)} µs; one empty crossing ${f(r.crossingUs)} µs; ${r.idleWakeups} of ${r.bursts} frames left a timer due within 1 ms`
  );
}

function arg(name: string): string | undefined {
  const hit = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(hit.indexOf('=') + 1);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = measureNgtcp2Floor({
    seconds: arg('seconds') === undefined ? undefined : Number(arg('seconds')),
    frameBytes: arg('frame') === undefined ? undefined : Number(arg('frame')),
    ackEvery: arg('ack-every') === undefined ? undefined : Number(arg('ack-every')),
    connections: arg('connections') === undefined ? undefined : Number(arg('connections')),
    acksAfterRound: process.argv.includes('--acks-after-round'),
  });
  process.stdout.write(`${formatNgtcp2Floor(r)}\n`);
}
