/**
 * What quiche's native binding costs per packet, with nothing of Polycast
 * around it: a server and a client connection in this process, configured
 * as the WebTransport server and the lean bench client are, joined by
 * passing packets in memory (no sockets). The server writes video-sized
 * frames on a stream and drains `send` as Http3Connection.flush does; the
 * client reads everything and answers every `ackEvery` packets, as the bench
 * sessions do. Only the server's binding calls are timed.
 *
 * The sum per packet is a floor for any server on this binding: building and
 * encrypting a packet and returning it through N-API (`send`), the share of
 * reading the client's ACKs (`recv`), writing the media into quiche
 * (`streamSend`) and asking for the next timer (`timeout`). Polycast's own
 * work, the socket send and the event loop come on top.
 *
 *   node dist/bench/quiche-floor.js [--seconds=3] [--frame=10400] [--ack-every=10]
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { quiche } from '@matrixai/quic/native/index.js';
import type { Connection, Host } from '@matrixai/quic/native/types.js';
import { generateSelfSignedCertificate } from '../src/protocols/webtransport/cert.js';
import { buildConfig } from '../src/protocols/webtransport/server.js';
import { clientConfig } from './wt-client.js';

/** What one QUIC stack costs per server packet, in memory (this file for quiche, ngtcp2-floor.ts for ngtcp2). */
export interface QuicFloorResult {
  /** Absent in runs before both stacks were measured: quiche. */
  stack?: 'quiche' | 'ngtcp2';
  packets: number;
  /** Mean UDP payload of the server's packets (B). */
  packetBytes: number;
  acks: number;
  /** Server-side binding time per server packet (µs), by call, and their sum. */
  sendUs: number;
  recvUs: number;
  streamSendUs: number;
  timeoutUs: number;
  totalUs: number;
  /** One call that returns at once (`isClosed`): the crossing alone (µs). */
  crossingUs: number;
}

export type QuicheFloorResult = QuicFloorResult;

export interface QuicFloorOptions {
  /** Measured time (wall clock of the loop, not only the timed calls). */
  seconds?: number;
  /** Bytes per `streamSend`: the bench clip's mean video frame is about 10.4 KB. */
  frameBytes?: number;
  ackEvery?: number;
  /** Sessions, each sent every frame in turn as the fan-out does (ngtcp2-floor.ts; quiche's measures one). */
  connections?: number;
  /** ngtcp2-floor.ts: clients answer once every session had its frame, not every `ackEvery` packets as they arrive. */
  acksAfterRound?: boolean;
}

const SERVER: Host = { host: '127.0.0.1', port: 4433 };
const CLIENT: Host = { host: '127.0.0.1', port: 50000 };
const PAYLOAD = 1350;
/** The first server-initiated unidirectional stream. */
const STREAM = 3;

export function measureQuicheFloor(o: QuicFloorOptions = {}): QuicheFloorResult {
  const seconds = o.seconds ?? 3;
  const frame = Buffer.alloc(o.frameBytes ?? 10_400, 0x5a);
  const ackEvery = o.ackEvery ?? 10;
  const cert = generateSelfSignedCertificate();
  const server0 = buildConfig({ port: 0, cert: cert.certPem, key: cert.keyPem }, PAYLOAD);
  const client = quiche.Connection.connect(null, randomBytes(quiche.MAX_CONN_ID_LEN), CLIENT, SERVER, clientConfig());
  const out = Buffer.allocUnsafe(PAYLOAD);
  const sink = Buffer.allocUnsafe(64 * 1024);
  const toServer = { from: CLIENT, to: SERVER };
  const toClient = { from: SERVER, to: CLIENT };
  let server: Connection | undefined;

  /** Client → server, untimed (handshake and ACKs outside the measurement). */
  const clientFlush = (timed?: (packet: Buffer) => void): void => {
    for (;;) {
      const r = client.send(out);
      if (r === null) return;
      const packet = Buffer.from(out.subarray(0, r[0]));
      if (server === undefined) server = quiche.Connection.accept(randomBytes(quiche.MAX_CONN_ID_LEN), null, SERVER, CLIENT, server0);
      if (timed) timed(packet);
      else server.recv(packet, toServer);
    }
  };
  const clientRead = (): void => {
    for (const id of client.readable()) while (client.streamRecv(id, sink) !== null);
  };

  // Handshake, in memory.
  for (let i = 0; i < 50 && !(client.isEstablished() && server?.isEstablished()); i++) {
    clientFlush();
    for (;;) {
      const r = server?.send(out);
      if (r === undefined || r === null) break;
      client.recv(out.subarray(0, r[0]), toClient);
    }
  }
  if (!server?.isEstablished() || !client.isEstablished()) throw new Error('in-memory QUIC handshake did not complete');
  const s = server;

  let sendNs = 0n;
  let recvNs = 0n;
  let streamSendNs = 0n;
  let timeoutNs = 0n;
  let packets = 0;
  let bytes = 0;
  let acks = 0;
  let sinceAck = 0;
  let pending = 0;
  const timedRecv = (packet: Buffer): void => {
    const t = process.hrtime.bigint();
    s.recv(packet, toServer);
    recvNs += process.hrtime.bigint() - t;
    acks++;
  };
  const end = performance.now() + seconds * 1000;
  let offset = 0;
  while (performance.now() < end) {
    // Keep a frame or two queued in quiche, as a live stream does between flushes.
    if (pending < frame.length * 2) {
      const t = process.hrtime.bigint();
      const n = s.streamSend(STREAM, frame.subarray(offset), false) ?? 0;
      streamSendNs += process.hrtime.bigint() - t;
      offset = (offset + n) % frame.length;
      pending += n;
    }
    for (;;) {
      const t = process.hrtime.bigint();
      const r = s.send(out);
      sendNs += process.hrtime.bigint() - t;
      if (r === null) break;
      packets++;
      bytes += r[0];
      pending = Math.max(0, pending - r[0]);
      client.recv(out.subarray(0, r[0]), toClient);
      if (++sinceAck >= ackEvery) {
        sinceAck = 0;
        clientRead();
        clientFlush(timedRecv);
      }
    }
    const t = process.hrtime.bigint();
    s.timeout();
    timeoutNs += process.hrtime.bigint() - t;
    // Nothing more to send: the window is full or the queue empty; the client reads and answers.
    clientRead();
    clientFlush(timedRecv);
    sinceAck = 0;
  }

  const crossings = 200_000;
  const t = process.hrtime.bigint();
  for (let i = 0; i < crossings; i++) s.isClosed();
  const crossingNs = process.hrtime.bigint() - t;

  const per = (ns: bigint): number => Number(ns) / 1000 / Math.max(1, packets);
  const r: QuicheFloorResult = {
    stack: 'quiche',
    packets,
    packetBytes: bytes / Math.max(1, packets),
    acks,
    sendUs: per(sendNs),
    recvUs: per(recvNs),
    streamSendUs: per(streamSendNs),
    timeoutUs: per(timeoutNs),
    totalUs: 0,
    crossingUs: Number(crossingNs) / 1000 / crossings,
  };
  r.totalUs = r.sendUs + r.recvUs + r.streamSendUs + r.timeoutUs;
  return r;
}

export function formatQuicheFloor(r: QuicheFloorResult): string {
  const f = (v: number): string => v.toFixed(2);
  return (
    `quiche binding, per server packet (${r.packets} packets of ${r.packetBytes.toFixed(0)} B, ${r.acks} ACKs): ` +
    `send ${f(r.sendUs)} µs, recv of ACKs ${f(r.recvUs)}, streamSend ${f(r.streamSendUs)}, timeout ${f(r.timeoutUs)}; ` +
    `total ${f(r.totalUs)} µs; one empty crossing ${f(r.crossingUs)} µs`
  );
}

function arg(name: string): string | undefined {
  const hit = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(hit.indexOf('=') + 1);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = measureQuicheFloor({
    seconds: arg('seconds') === undefined ? undefined : Number(arg('seconds')),
    frameBytes: arg('frame') === undefined ? undefined : Number(arg('frame')),
    ackEvery: arg('ack-every') === undefined ? undefined : Number(arg('ack-every')),
  });
  process.stdout.write(`${formatQuicheFloor(r)}\n`);
}
