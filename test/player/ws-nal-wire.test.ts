import { describe, expect, it } from 'vitest';
import {
  encodePing,
  encodeSetKeyframesOnly,
  encodeSetVideoEnabled,
  MEDIA_HEADER_BYTES,
  parseMediaMessage,
  parseServerText,
  ProtocolError,
} from '../../public/src/protocol/ws-nal-wire.js';

function header(type: number, flags: number, pts: bigint, dts: bigint, receivedAt: bigint, payload: number[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(MEDIA_HEADER_BYTES + payload.length);
  const view = new DataView(bytes.buffer);
  bytes[0] = type;
  bytes[1] = flags;
  view.setBigUint64(2, pts);
  view.setBigUint64(10, dts);
  view.setBigUint64(18, receivedAt);
  bytes.set(payload, MEDIA_HEADER_BYTES);
  return bytes;
}

describe('parseMediaMessage', () => {
  it('reads the 26-byte big-endian header of a video keyframe', () => {
    const now = 1_732_240_000_123_456n; // µs since epoch: well past 2^32
    const msg = parseMediaMessage(header(0x01, 0x01, 5_000_033n, 4_966_700n, now, [0, 0, 0, 1, 0x65]).buffer);
    expect(msg).toMatchObject({
      kind: 'video',
      keyframe: true,
      discontinuity: false,
      ptsUs: 5_000_033,
      dtsUs: 4_966_700,
      receivedAtUs: Number(now),
    });
    expect([...msg.payload]).toEqual([0, 0, 0, 1, 0x65]);
  });

  it('matches a hand-written byte layout', () => {
    const bytes = Uint8Array.from([
      0x02, 0x03,
      0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // pts = 2^32 + 2
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, // dts = 256
      0x00, 0x06, 0x27, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, // receivedAt
      0xaa, 0xbb,
    ]);
    const msg = parseMediaMessage(bytes);
    expect(msg.kind).toBe('audio');
    expect(msg.keyframe).toBe(true);
    expect(msg.discontinuity).toBe(true);
    expect(msg.ptsUs).toBe(2 ** 32 + 2);
    expect(msg.dtsUs).toBe(256);
    expect(msg.receivedAtUs).toBe(0x0006272a * 2 ** 32 + 0x3b4c5d6e);
    expect([...msg.payload]).toEqual([0xaa, 0xbb]);
  });

  it('returns the payload as a view, honouring the byte offset of the input', () => {
    const backing = new Uint8Array(100);
    backing.set(header(0x01, 0x02, 1n, 1n, 1n, [9, 8, 7]), 10);
    const msg = parseMediaMessage(backing.subarray(10, 10 + MEDIA_HEADER_BYTES + 3));
    expect(msg.payload.buffer).toBe(backing.buffer);
    expect([...msg.payload]).toEqual([9, 8, 7]);
    expect(msg.keyframe).toBe(false);
    expect(msg.discontinuity).toBe(true);
  });

  it('accepts a header with an empty payload', () => {
    expect(parseMediaMessage(header(0x01, 0, 0n, 0n, 0n, [])).payload.length).toBe(0);
  });

  it('rejects short messages and unknown types', () => {
    expect(() => parseMediaMessage(new Uint8Array(25))).toThrow(ProtocolError);
    expect(() => parseMediaMessage(header(0x10, 0, 0n, 0n, 0n, []))).toThrow(/unknown media type 0x10/);
  });
});

describe('parseServerText', () => {
  it('parses hello', () => {
    expect(parseServerText('{"type":"hello","version":1,"path":"live/cam1","server":"polycast/0.1.0","id":"v7"}')).toEqual({
      type: 'hello',
      version: 1,
      path: 'live/cam1',
      server: 'polycast/0.1.0',
      id: 'v7',
    });
  });

  it('parses init and decodes the base64 descriptions', () => {
    const msg = parseServerText(
      JSON.stringify({
        type: 'init',
        video: { codec: 'avc1.64001f', codedWidth: 1280, codedHeight: 720, description: 'AWQAH/8=' },
        audio: { codec: 'mp4a.40.2', sampleRate: 48000, numberOfChannels: 2, description: 'EZA=' },
      }),
    );
    expect(msg.type).toBe('init');
    if (msg.type !== 'init') return;
    expect(msg.video).toMatchObject({ codec: 'avc1.64001f', codedWidth: 1280, codedHeight: 720 });
    expect([...msg.video!.description!]).toEqual([0x01, 0x64, 0x00, 0x1f, 0xff]);
    expect(msg.audio).toMatchObject({ codec: 'mp4a.40.2', sampleRate: 48000, numberOfChannels: 2 });
    expect([...msg.audio!.description!]).toEqual([0x11, 0x90]);
  });

  it('parses an init with only audio and no descriptions', () => {
    const msg = parseServerText('{"type":"init","audio":{"codec":"mp4a.40.2","sampleRate":44100,"numberOfChannels":1}}');
    expect(msg).toEqual({ type: 'init', audio: { codec: 'mp4a.40.2', sampleRate: 44100, numberOfChannels: 1 } });
  });

  it('parses offline, pong and stats', () => {
    expect(parseServerText('{"type":"offline","reason":"publisher left"}')).toEqual({ type: 'offline', reason: 'publisher left' });
    expect(parseServerText('{"type":"offline"}')).toEqual({ type: 'offline', reason: '' });
    expect(parseServerText('{"type":"pong","id":3,"t":1.5e15,"serverTime":1500000000000123}')).toEqual({
      type: 'pong',
      id: 3,
      t: 1.5e15,
      serverTime: 1500000000000123,
    });
    expect(parseServerText('{"type":"stats","dropped":4,"queued":1}')).toEqual({ type: 'stats', dropped: 4, queued: 1 });
  });

  it("reads ws-fmp4's additions: the combined MIME type on init, abandoned messages in stats", () => {
    expect(parseServerText('{"type":"init","video":{"codec":"avc1.64001f","codedWidth":1280,"codedHeight":720},"mime":"video/mp4; codecs=\\"avc1.64001f\\""}')).toEqual({
      type: 'init',
      video: { codec: 'avc1.64001f', codedWidth: 1280, codedHeight: 720 },
      mime: 'video/mp4; codecs="avc1.64001f"',
    });
    expect(parseServerText('{"type":"stats","dropped":1,"queued":0,"abandoned":7,"rtt":12,"baseRtt":3}')).toEqual({
      type: 'stats',
      dropped: 1,
      queued: 0,
      abandoned: 7,
    });
  });

  it('ignores unknown fields and passes unknown types through for newer servers', () => {
    expect(parseServerText('{"type":"stats","dropped":0,"queued":0,"extra":true}')).toEqual({ type: 'stats', dropped: 0, queued: 0 });
    expect(parseServerText('{"type":"bitrate","value":1}')).toEqual({ type: 'unknown', name: 'bitrate' });
  });

  it('rejects malformed messages', () => {
    expect(() => parseServerText('not json')).toThrow(ProtocolError);
    expect(() => parseServerText('[1,2]')).toThrow(/not a JSON object/);
    expect(() => parseServerText('{"kind":"hello"}')).toThrow(/"type"/);
    expect(() => parseServerText('{"type":"pong","id":1,"t":1}')).toThrow(/pong.serverTime/);
    expect(() => parseServerText('{"type":"init","video":{"codec":"avc1.64001f","codedWidth":"1280","codedHeight":720}}')).toThrow(
      /init.video.codedWidth/,
    );
    expect(() => parseServerText('{"type":"init","video":{"codec":"avc1","codedWidth":1,"codedHeight":1,"description":"%%%"}}')).toThrow(
      /base64/,
    );
  });
});

describe('viewer text messages', () => {
  it('encodes ping and the set_* controls exactly as the spec shows them', () => {
    expect(encodePing(7, 1732240000123456.5)).toBe('{"type":"ping","id":7,"t":1732240000123456.5}');
    expect(encodeSetVideoEnabled(false)).toBe('{"set_video_enabled":false}');
    expect(encodeSetKeyframesOnly(true)).toBe('{"set_keyframes_only":true}');
  });
});
