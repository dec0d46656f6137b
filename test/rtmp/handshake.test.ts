import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RtmpProtocolError } from '../../src/protocols/rtmp/errors.js';
import { HANDSHAKE_SIZE, ServerHandshake } from '../../src/protocols/rtmp/handshake.js';

// The keys as the public descriptions of the Flash-era handshake give them, written out independently of the module.
const TAIL = 'f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae';
const PLAYER_KEY_TEXT = Buffer.from('Genuine Adobe Flash Player 001');
const FMS_KEY_TEXT = Buffer.from('Genuine Adobe Flash Media Server 001');
const FMS_KEY = Buffer.concat([FMS_KEY_TEXT, Buffer.from(TAIL, 'hex')]);

const hmac = (key: Buffer, ...data: Buffer[]) => {
  const h = createHmac('sha256', key);
  for (const d of data) h.update(d);
  return h.digest();
};
const offsetOf = (p: Buffer, base: number) => ((p[base]! + p[base + 1]! + p[base + 2]! + p[base + 3]!) % 728) + base + 4;

/** A C1 as Flash Player / ffmpeg build it: version set, digest at the offset the chosen layout gives. */
function digestC1(base: 8 | 772): { c1: Buffer; digest: Buffer } {
  const c1 = randomBytes(HANDSHAKE_SIZE);
  c1.writeUInt32BE(0, 0);
  c1.writeUInt32BE(0x09007c02, 4);
  const at = offsetOf(c1, base);
  const digest = hmac(PLAYER_KEY_TEXT, c1.subarray(0, at), c1.subarray(at + 32));
  digest.copy(c1, at);
  return { c1, digest };
}

function run(c0c1: Buffer, extra = Buffer.alloc(0)): { out: Buffer; rest: Buffer; hs: ServerHandshake } {
  const sent: Buffer[] = [];
  const hs = new ServerHandshake((b) => sent.push(b));
  expect(hs.push(c0c1).length).toBe(0);
  const rest = hs.push(Buffer.concat([Buffer.alloc(HANDSHAKE_SIZE, 9), extra]));
  return { out: Buffer.concat(sent), rest, hs };
}

describe('RTMP handshake', () => {
  it('answers a simple C1 with S1 and an S2 that echoes C1', () => {
    const c1 = randomBytes(HANDSHAKE_SIZE);
    c1.writeUInt32BE(0, 4);
    const { out, hs } = run(Buffer.concat([Buffer.from([3]), c1]));
    expect(hs.kind).toBe('simple');
    expect(out.length).toBe(1 + 2 * HANDSHAKE_SIZE);
    expect(out[0]).toBe(3);
    const s2 = out.subarray(1 + HANDSHAKE_SIZE);
    expect(s2.subarray(0, 4)).toEqual(c1.subarray(0, 4));
    expect(s2.subarray(8)).toEqual(c1.subarray(8));
    expect(hs.done).toBe(true);
  });

  it.each([8, 772] as const)('answers a digest C1 (layout at %i) with S1 and S2 signed with the server key', (base) => {
    const { c1, digest } = digestC1(base);
    const { out, hs } = run(Buffer.concat([Buffer.from([3]), c1]));
    expect(hs.kind).toBe('digest');
    const s1 = out.subarray(1, 1 + HANDSHAKE_SIZE);
    const s2 = out.subarray(1 + HANDSHAKE_SIZE);
    expect(s1[4]).toBeGreaterThanOrEqual(3); // what ffmpeg checks before verifying digests
    const at = offsetOf(s1, base);
    expect(s1.subarray(at, at + 32)).toEqual(hmac(FMS_KEY_TEXT, s1.subarray(0, at), s1.subarray(at + 32)));
    const key = hmac(FMS_KEY, digest);
    expect(s2.subarray(HANDSHAKE_SIZE - 32)).toEqual(hmac(key, s2.subarray(0, HANDSHAKE_SIZE - 32)));
  });

  it('falls back to the simple handshake when the version is set but the digest is wrong', () => {
    const { c1 } = digestC1(8);
    c1[offsetOf(c1, 8)]! ^= 1;
    expect(run(Buffer.concat([Buffer.from([3]), c1])).hs.kind).toBe('simple');
  });

  it('takes the handshake a byte at a time and hands back what follows C2', () => {
    const sent: Buffer[] = [];
    const hs = new ServerHandshake((b) => sent.push(b));
    const input = Buffer.concat([Buffer.from([3]), Buffer.alloc(HANDSHAKE_SIZE, 1), Buffer.alloc(HANDSHAKE_SIZE, 2), Buffer.from('chunks')]);
    const rest: Buffer[] = [];
    for (let i = 0; i < input.length; i++) rest.push(hs.push(input.subarray(i, i + 1)));
    expect(Buffer.concat(rest).toString()).toBe('chunks');
    expect(sent).toHaveLength(1);
  });

  it('refuses any version but 3, naming text when that is what came', () => {
    const hs = new ServerHandshake(() => undefined);
    expect(() => hs.push(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(RtmpProtocolError);
    expect(() => new ServerHandshake(() => undefined).push(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(/unsupported RTMP version 71 in C0, only 3 is \(looks like text: "GET \/ HTTP\/1.1\\r\\n"\)/);
    expect(() => new ServerHandshake(() => undefined).push(Buffer.from([6]))).toThrow(/unsupported RTMP version 6/);
  });
});
