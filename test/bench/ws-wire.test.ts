import { createRequire } from 'node:module';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { LeanReader } from '../../bench/lean-reader.js';
import {
  checkHandshakeResponse,
  flvKeyframeMs,
  handshakeRequest,
  HEAD_BYTES,
  nalDiscontinuity,
  nalKeyframeMs,
  WsFrameParser,
  type FrameHandler,
} from '../../bench/ws-wire.js';
import { writeMediaHeader } from '../../src/protocols/ws-nal/media-header.js';

type Event =
  | { kind: 'message'; opcode: number; head: number[]; length: number }
  | { kind: 'ping'; payload: number[] }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'error'; reason: string };

function recorder(): { handler: FrameHandler; events: Event[] } {
  const events: Event[] = [];
  return {
    events,
    handler: {
      message: (opcode, head, length) => events.push({ kind: 'message', opcode, head: [...head.subarray(0, Math.min(length, HEAD_BYTES))], length }),
      ping: (payload) => events.push({ kind: 'ping', payload: [...payload] }),
      close: (code, reason) => events.push({ kind: 'close', code, reason }),
      error: (reason) => events.push({ kind: 'error', reason }),
    },
  };
}

function parseInPieces(bytes: Buffer, cuts: number[]): Event[] {
  const { handler, events } = recorder();
  const parser = new WsFrameParser(handler);
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    parser.push(bytes, at, cut);
    at = cut;
  }
  return events;
}

function nalMessage(flags: number, dtsUs: number, payloadLength: number): Buffer {
  const out = Buffer.alloc(26 + payloadLength, 0xab);
  writeMediaHeader(out, 0, 0x01, flags, dtsUs, dtsUs, 1_700_000_000_000_000);
  return out;
}

const require = createRequire(import.meta.url);
const NmsFlv = require('node-media-server/src/protocol/flv.js') as {
  createMessage(packet: { codec_type: number; size: number; dts: number; data: Buffer }): Buffer;
};

/** One FLV video tag built by node-media-server itself, exactly as its WS-FLV sends it (one tag per message). */
function flvVideoTag(ms: number, frameType: number, avcPacketType: number, bodyLength: number): Buffer {
  const data = Buffer.alloc(bodyLength);
  data[0] = (frameType << 4) | 7;
  data[1] = avcPacketType;
  return NmsFlv.createMessage({ codec_type: 9, size: bodyLength, dts: ms, data });
}

let server: WebSocketServer;
let port: number;
/** Everything a real `ws` server wrote to a raw client socket, after the handshake. */
let wire: Buffer;
let responseHead: string;
let accept: string;

const BIG = 70_000;

beforeAll(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  port = (server.address() as AddressInfo).port;
  server.on('connection', (ws, req) => {
    if (req.url === '/pong') return;
    ws.send(JSON.stringify({ type: 'hello', version: 1 }));
    ws.ping(Buffer.from('abc'));
    ws.send(nalMessage(0x01, 40_021_000, 100));
    ws.send(nalMessage(0x00, 40_054_000, 300));
    ws.send(nalMessage(0x03, -21_000, BIG));
    ws.send(flvVideoTag(0x1234567, 1, 1, 1000));
    ws.send(flvVideoTag(5000, 1, 0, 40));
    // A fragmented message: its head spans two frames.
    ws.send(nalMessage(0x01, 9_000, 40).subarray(0, 5), { fin: false });
    ws.send(nalMessage(0x01, 9_000, 40).subarray(5), { fin: true });
    ws.close(1000, 'bye');
  });
  const { request, accept: expected } = handshakeRequest('127.0.0.1', port, '/x');
  accept = expected;
  // The server's close frame ends the capture: answering it is the client's job, and this raw socket never will.
  const closeFrame = Buffer.from([0x88, 0x05, 0x03, 0xe8, ...Buffer.from('bye')]);
  const raw = await new Promise<Buffer>((resolve, reject) => {
    let got = Buffer.alloc(0);
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    socket.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.subarray(-closeFrame.length).equals(closeFrame)) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', reject);
  });
  const end = raw.indexOf('\r\n\r\n');
  responseHead = raw.subarray(0, end).toString('latin1');
  wire = raw.subarray(end + 4);
});

afterAll(async () => {
  for (const c of server.clients) c.terminate();
  await new Promise((resolve) => server.close(resolve));
});

describe('lean WebSocket client against real ws frames', () => {
  it('accepts the real 101 response and rejects a wrong accept key', () => {
    expect(checkHandshakeResponse(responseHead, accept)).toBeUndefined();
    expect(checkHandshakeResponse(responseHead, 'AAAA')).toBe('wrong Sec-WebSocket-Accept');
    expect(checkHandshakeResponse('HTTP/1.1 404 Not Found', accept)).toMatch(/refused/);
  });

  it('reads every message, ping and close, with the media fields the bench needs', () => {
    const events = parseInPieces(wire, []);
    expect(events.map((e) => e.kind)).toEqual(['message', 'ping', 'message', 'message', 'message', 'message', 'message', 'message', 'close']);
    const messages = events.filter((e): e is Extract<Event, { kind: 'message' }> => e.kind === 'message');
    const head = (m: Extract<Event, { kind: 'message' }>) => Uint8Array.from(m.head);
    expect(messages.map((m) => m.length)).toEqual([JSON.stringify({ type: 'hello', version: 1 }).length, 126, 326, 26 + BIG, 1015, 55, 66]);
    expect(messages.map((m) => nalKeyframeMs(m.opcode, head(m), m.length))).toEqual([NaN, 40021, NaN, -21, NaN, NaN, 9]);
    expect(messages.map((m) => nalDiscontinuity(m.opcode, head(m), m.length))).toEqual([false, false, false, true, false, false, false]);
    // The extension byte is the high 8 bits of the FLV timestamp; a sequence header is not a keyframe.
    expect(messages.map((m) => flvKeyframeMs(m.opcode, head(m), m.length))).toEqual([NaN, NaN, NaN, NaN, 0x1234567, NaN, NaN]);
    expect(events[1]).toEqual({ kind: 'ping', payload: [...Buffer.from('abc')] });
    expect(events.at(-1)).toEqual({ kind: 'close', code: 1000, reason: 'bye' });
  });

  it('gives the same events however the bytes are split', () => {
    const whole = parseInPieces(wire, []);
    // Every single split point through the headers and small messages, and around the big frame's end.
    const bigEnd = wire.indexOf(Buffer.from([0x82, 0x7e]), 26 + BIG);
    const cuts = new Set<number>();
    for (let i = 1; i < Math.min(wire.length, 700); i++) cuts.add(i);
    for (let i = Math.max(1, bigEnd - 40); i < wire.length; i++) cuts.add(i);
    for (const cut of cuts) expect(parseInPieces(wire, [cut])).toEqual(whole);
    const byteByByte = Array.from({ length: wire.length - 1 }, (_, i) => i + 1);
    expect(parseInPieces(wire, byteByByte)).toEqual(whole);
  });

  it('refuses masked server frames and reserved bits', () => {
    expect(parseInPieces(Buffer.from([0x82, 0x81, 1, 2, 3, 4, 5]), []).at(-1)?.kind).toBe('error');
    expect(parseInPieces(Buffer.from([0xc2, 0x00]), []).at(-1)?.kind).toBe('error');
  });

  it('answers pings, so a server that times readers out keeps them', async () => {
    const pong = new Promise<Buffer>((resolve) => {
      server.once('connection', (ws: WebSocket) => {
        ws.once('pong', (data: Buffer) => resolve(data));
        ws.ping(Buffer.from('keepalive'));
      });
    });
    const reader = new LeanReader({ host: '127.0.0.1', port, path: '/pong', format: 'ws-nal' });
    try {
      expect((await pong).toString()).toBe('keepalive');
      expect(reader.state).toBe('open');
    } finally {
      reader.close();
    }
  });
});
