/**
 * Seeded mutations of real bytes (ffmpeg's MPEG-TS, SRT handshakes) into
 * every parser an SRT client reaches: each input is either taken or refused
 * with a reason; nothing else may come out.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createTsTap } from '../../src/ingest/srt/ts-tap.js';
import { buildHandshake, encodeStreamId, HandshakeType, parseHandshake, parseHsReq } from '../../src/protocols/srt/handshake.js';
import { parseKeyMaterial } from '../../src/protocols/srt/key-material.js';
import { parsePacket, SrtPacketError } from '../../src/protocols/srt/packet.js';
import { Path } from '../../src/stream/path.js';
import { seededRandom } from './seeded.js';

function mutate(bytes: Uint8Array, rand: () => number): Uint8Array {
  const out = Uint8Array.from(bytes);
  const flips = 1 + Math.floor(rand() * 8);
  for (let i = 0; i < flips; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
  // Sometimes truncated, as a datagram cut short.
  return rand() < 0.2 ? out.subarray(0, Math.floor(rand() * out.length)) : out;
}

const ts = spawnSync('ffmpeg', [
  '-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-f', 'lavfi', '-i', 'sine=sample_rate=48000',
  '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '5', '-c:a', 'aac', '-f', 'mpegts', '-',
]).stdout;

describe('SRT and MPEG-TS parsers under mutation', () => {
  it('the TS tap takes 300 damaged copies of a real stream without throwing, and still makes frames of the clean one', () => {
    const rand = seededRandom(7);
    let problems = 0;
    for (let round = 0; round < 300; round++) {
      const path = new Path('fuzz', { maxReaders: 0, overridePublisher: false }, false);
      const stream = path.startPublish({ id: 'f', protocol: 'srt', remoteAddress: 'x', kick: () => undefined });
      const tap = createTsTap(path, stream, { refuse: () => undefined, ignored: () => undefined, problem: () => problems++ });
      // Damage a window of packets, not the whole stream: the parser must resync and go on.
      const damaged = Uint8Array.from(ts);
      const at = Math.floor(rand() * (ts.length - 2000));
      damaged.set(mutate(ts.subarray(at, at + 2000), rand).subarray(0, 2000), at);
      for (let i = 0; i < damaged.length; i += 1316) tap.push(damaged.subarray(i, i + 1316));
    }
    expect(problems).toBeGreaterThan(0);
    const path = new Path('clean', { maxReaders: 0, overridePublisher: false }, false);
    const stream = path.startPublish({ id: 'c', protocol: 'srt', remoteAddress: 'x', kick: () => undefined });
    const tap = createTsTap(path, stream, { refuse: () => undefined, ignored: () => undefined, problem: () => undefined });
    for (let i = 0; i < ts.length; i += 1316) tap.push(ts.subarray(i, i + 1316));
    expect(tap.frames).toBeGreaterThan(40);
  });

  it('handshake, HSREQ and key material parsers refuse 5000 mutated inputs only with SrtPacketError', () => {
    const rand = seededRandom(11);
    const km = new Uint8Array(16 + 16 + 24);
    km.set([0x12, 0x20, 0x29, 0x01, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0, 4, 4]);
    const hsreq = new Uint8Array([0, 1, 5, 1, 0, 0, 0, 0x3f, 0, 120, 0, 120]);
    const seeds = [
      buildHandshake({
        version: 5, encryption: 0, extensionField: 5, initialSeq: 1, mtu: 1500, flowWindow: 8192, type: HandshakeType.conclusion,
        socketId: 9, cookie: 1, peerIp: new Uint8Array(16), extensions: [{ type: 1, body: hsreq }, encodeStreamId('publish:live/x'), { type: 3, body: km }],
      }),
      km,
      hsreq,
    ];
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      const input = mutate(seeds[i % seeds.length]!, rand);
      for (const parse of [parseHandshake, parseKeyMaterial, parseHsReq, parsePacket]) {
        try {
          parse(input);
        } catch (err) {
          if (!(err instanceof SrtPacketError)) throw err;
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });
});
