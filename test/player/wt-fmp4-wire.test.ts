import { describe, expect, it } from 'vitest';
import {
  encodeJsonRecord,
  parseControl,
  RECORD_INIT,
  RECORD_SEGMENT,
  RecordReader,
  WireError,
} from '../../public/src/transports/webtransport/wt-fmp4-wire.js';
import { groupHeader, jsonRecord, record, RecordReader as ServerRecordReader, STREAM_CONTROL, STREAM_CONTROL_UP } from '../../transports/wt-fmp4/records.js';

/** Feeds `bytes` to a reader in chunks of the given sizes (the rest in one). */
function feed(reader: RecordReader, bytes: Uint8Array, sizes: number[]): { type: number; payload: number[] }[] {
  const out: { type: number; payload: number[] }[] = [];
  let at = 0;
  for (const size of [...sizes, bytes.length]) {
    if (at >= bytes.length) break;
    for (const r of reader.push(bytes.subarray(at, at + size))) out.push({ type: r.type, payload: [...r.payload] });
    at += size;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

describe('wt-fmp4 wire, browser side', () => {
  it('reads the server’s group streams, however the bytes are cut', () => {
    const stream = concat(groupHeader(7, 42), record(RECORD_SEGMENT, Uint8Array.of(1, 2, 3)), record(RECORD_SEGMENT, new Uint8Array(0)), record(RECORD_SEGMENT, Uint8Array.of(9)));
    const expected = [
      { type: RECORD_SEGMENT, payload: [1, 2, 3] },
      { type: RECORD_SEGMENT, payload: [] },
      { type: RECORD_SEGMENT, payload: [9] },
    ];
    for (const cuts of [[], [1], [3, 1, 1], [9, 2, 2, 2], Array<number>(stream.length).fill(1)]) {
      const reader = new RecordReader();
      expect(feed(reader, stream, cuts)).toEqual(expected);
      expect(reader.streamHead).toEqual({ kind: 'group', generation: 7, sequence: 42 });
    }
  });

  it('reads the control stream: JSON and init records', () => {
    const stream = concat(Uint8Array.of(STREAM_CONTROL), jsonRecord({ type: 'hello', version: 1 }), record(RECORD_INIT, Uint8Array.of(5, 6)));
    const reader = new RecordReader();
    const records = feed(reader, stream, [2, 5]);
    expect(reader.streamHead).toEqual({ kind: 'control' });
    expect(new TextDecoder().decode(Uint8Array.from(records[0]!.payload))).toBe('{"type":"hello","version":1}');
    expect(records[1]).toEqual({ type: RECORD_INIT, payload: [5, 6] });
  });

  it('names a stream of an unknown kind and refuses absurd record lengths', () => {
    const reader = new RecordReader();
    reader.push(Uint8Array.of(0x09));
    expect(reader.streamHead).toEqual({ kind: 'unknown', byte: 9 });
    const bad = new RecordReader();
    expect(() => bad.push(Uint8Array.of(STREAM_CONTROL, 1, 0xff, 0xff, 0xff, 0xff))).toThrow(WireError);
  });

  it('writes control-up records the server reads', () => {
    const server = new ServerRecordReader(16 * 1024);
    const records = server.push(concat(Uint8Array.of(STREAM_CONTROL_UP), encodeJsonRecord('{"set_keyframes_only":true}')));
    expect(server.kind).toBe(STREAM_CONTROL_UP);
    expect(records.map((r) => new TextDecoder().decode(r.payload))).toEqual(['{"set_keyframes_only":true}']);
  });

  it('parses the control messages, tolerating what it does not know', () => {
    expect(
      parseControl(
        JSON.stringify({
          type: 'init',
          generation: 2,
          mime: 'video/mp4; codecs="avc1.64001f, mp4a.40.2"',
          video: { codec: 'avc1.64001f', codedWidth: 1280, codedHeight: 720 },
          audio: { codec: 'mp4a.40.2', sampleRate: 48000, numberOfChannels: 2 },
        }),
      ),
    ).toEqual({
      type: 'init',
      generation: 2,
      mime: 'video/mp4; codecs="avc1.64001f, mp4a.40.2"',
      video: { codec: 'avc1.64001f' },
      audio: { codec: 'mp4a.40.2', sampleRate: 48000, numberOfChannels: 2 },
    });
    expect(parseControl('{"type":"init","generation":1,"mime":"audio/mp4"}')).toMatchObject({ video: null, audio: null });
    expect(parseControl('{"type":"stats","groupsDropped":3,"framesDropped":9}')).toEqual({ type: 'stats', groupsDropped: 3, framesDropped: 9 });
    expect(parseControl('{"type":"pong","id":1,"t":5,"serverTime":7}')).toEqual({ type: 'pong', t: 5, serverTime: 7 });
    expect(parseControl('{"type":"offline"}')).toEqual({ type: 'offline', reason: '' });
    expect(parseControl('{"type":"later"}')).toEqual({ type: 'unknown', name: 'later' });
    expect(() => parseControl('{"type":"init","mime":"x"}')).toThrow(WireError);
    expect(() => parseControl('[1]')).toThrow(WireError);
    expect(() => parseControl('nope')).toThrow(WireError);
  });
});
