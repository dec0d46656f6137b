import { describe, expect, it, beforeAll } from 'vitest';
import { decodeAmf0 } from '../../src/protocols/rtmp/amf0.js';
import { ChunkReader, MessageType, type ChunkReaderLimits, type RtmpMessage } from '../../src/protocols/rtmp/chunk-reader.js';
import { ChunkWriter } from '../../src/protocols/rtmp/chunk-writer.js';
import { RtmpProtocolError } from '../../src/protocols/rtmp/errors.js';
import { captureFfmpegPublish, type Capture } from './capture.js';

const WIDE: ChunkReaderLimits = { maxMessageSize: 1 << 24, maxChunkStreams: 64, maxBufferedBytes: 1 << 25 };

function parse(bytes: Buffer, split: number | ((i: number) => number), limits = WIDE): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  const reader = new ChunkReader((m) => out.push(m), limits);
  let i = 0;
  for (let off = 0; off < bytes.length; i++) {
    const n = typeof split === 'number' ? split : split(i);
    reader.push(bytes.subarray(off, off + n));
    off += n;
  }
  return out;
}

const summary = (ms: RtmpMessage[]) => ms.map((m) => `${m.csid}/${m.type}/${m.streamId}/${m.timestamp}/${m.payload.length}/${m.payload.subarray(0, 8).toString('hex')}`);

/** fmt-0 header for csid < 64, with an optional extended timestamp. */
function fmt0(csid: number, timestamp: number, length: number, type: number, streamId: number): Buffer {
  const ext = timestamp >= 0xffffff;
  const h = Buffer.alloc(12 + (ext ? 4 : 0));
  h[0] = csid;
  h.writeUIntBE(ext ? 0xffffff : timestamp, 1, 3);
  h.writeUIntBE(length, 4, 3);
  h[7] = type;
  h.writeUInt32LE(streamId, 8);
  if (ext) h.writeUInt32BE(timestamp, 12);
  return h;
}

function expectError(fn: () => void, code: string, text: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(RtmpProtocolError);
  expect((caught as RtmpProtocolError).code).toBe(code);
  expect((caught as Error).message).toMatch(text);
}

describe('chunk reader on a real ffmpeg publish', () => {
  let capture: Capture;
  beforeAll(async () => {
    capture = await captureFfmpegPublish(['-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-c:a', 'aac']);
  });

  it('finds the publish sequence, metadata, decoder configurations and frames', () => {
    const ms = capture.messages;
    const commands = ms.filter((m) => m.type === MessageType.commandAmf0).map((m) => decodeAmf0(m.payload)[0]);
    expect(commands).toEqual(expect.arrayContaining(['connect', 'releaseStream', 'FCPublish', 'createStream', 'publish']));
    expect(ms.some((m) => m.type === MessageType.setChunkSize)).toBe(true);
    const data = ms.find((m) => m.type === MessageType.dataAmf0)!;
    expect(decodeAmf0(data.payload).slice(0, 2)).toEqual(['@setDataFrame', 'onMetaData']);
    const video = ms.filter((m) => m.type === MessageType.video);
    expect(video[0]!.payload.subarray(0, 2)).toEqual(Buffer.from([0x17, 0])); // AVC sequence header
    expect(ms.find((m) => m.type === MessageType.audio)!.payload.subarray(0, 2)).toEqual(Buffer.from([0xaf, 0]));
    // 30 fps: timestamps climb by about 33 ms per frame.
    const ts = video.slice(1).map((m) => m.timestamp);
    for (let i = 1; i < ts.length; i++) expect(ts[i]! - ts[i - 1]!).toBeGreaterThanOrEqual(0);
    expect(ts.at(-1)! - ts[0]!).toBeGreaterThan(500);
    // Keyframes are larger than one chunk of ffmpeg's 4096... or at least span the default 128.
    expect(video.some((m) => m.payload.length > 4096)).toBe(true);
  });

  it('parses the capture identically whatever the read boundaries', () => {
    const whole = summary(parse(capture.bytes, capture.bytes.length));
    expect(whole).toEqual(summary(capture.messages));
    expect(summary(parse(capture.bytes, 1))).toEqual(whole);
    expect(summary(parse(capture.bytes, 7))).toEqual(whole);
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 3000) + 1;
    expect(summary(parse(capture.bytes, random))).toEqual(whole);
  });

  it('stops with a typed error, never another exception, on every truncation and many mutations of the capture', () => {
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const head = capture.bytes.subarray(0, 20_000);
    for (let i = 0; i < 300; i++) {
      const mutated = Buffer.from(head);
      for (let k = 0; k < 4; k++) mutated[rand(mutated.length)] = rand(256);
      try {
        parse(mutated, 1500, { maxMessageSize: 1 << 20, maxChunkStreams: 64, maxBufferedBytes: 1 << 21 });
      } catch (err) {
        expect(err).toBeInstanceOf(RtmpProtocolError);
      }
    }
  });
});

describe('chunk reader: headers', () => {
  it('reads 2- and 3-byte chunk stream ids', () => {
    const w = new ChunkWriter();
    const bytes = Buffer.concat([64, 319, 320, 65599].map((csid) => w.write({ csid, type: 8, streamId: 1, timestamp: 5, payload: Buffer.from([csid & 0xff]) })));
    expect(parse(bytes, 3).map((m) => m.csid)).toEqual([64, 319, 320, 65599]);
  });

  it('applies type 1 and 2 deltas, and type 3 repeats the last delta for a new message', () => {
    const bytes = Buffer.concat([
      fmt0(4, 1000, 2, 8, 1),
      Buffer.from([1, 2]),
      Buffer.from([0x44, 0, 0, 20, 0, 0, 3, 8, 9, 9, 9]), // fmt 1: +20, length 3
      Buffer.from([0x84, 0, 0, 30, 7, 7, 7]), // fmt 2: +30
      Buffer.from([0xc4, 6, 6, 6]), // fmt 3: +30 again
    ]);
    expect(parse(bytes, 5).map((m) => [m.timestamp, m.payload.length])).toEqual([
      [1000, 2],
      [1020, 3],
      [1050, 3],
      [1080, 3],
    ]);
  });

  it('reads extended timestamps, also in the type-3 continuations and type-3 messages after them', () => {
    const ts = 0x01020304;
    const payload = Buffer.alloc(300, 0xaa);
    const w = new ChunkWriter();
    const first = w.write({ csid: 6, type: 9, streamId: 1, timestamp: ts, payload }); // 128-byte chunks, ext in each
    // A type-3 new message on the same chunk stream: delta = the extended field again, and ext present.
    const next = Buffer.concat([Buffer.from([0xc6]), first.subarray(12, 16), Buffer.alloc(128, 1), Buffer.from([0xc6]), first.subarray(12, 16), Buffer.alloc(128, 1), Buffer.from([0xc6]), first.subarray(12, 16), Buffer.alloc(44, 1)]);
    const ms = parse(Buffer.concat([first, next]), 11);
    expect(ms.map((m) => [m.timestamp, m.payload.length])).toEqual([
      [ts, 300],
      [(ts * 2) >>> 0, 300],
    ]);
    expect(ms[0]!.payload).toEqual(payload);
  });

  it('wraps timestamps at 32 bits', () => {
    const bytes = Buffer.concat([fmt0(4, 0xfffffff0, 1, 8, 1), Buffer.from([1]), Buffer.from([0x84, 0, 0, 0x20, 2])]);
    expect(parse(bytes, 64).map((m) => m.timestamp)).toEqual([0xfffffff0, 0x10]);
  });

  it('follows Set Chunk Size for the chunks after it, and Abort discards a partial message', () => {
    const w = new ChunkWriter();
    const setSize = w.write({ csid: 2, type: 1, streamId: 0, timestamp: 0, payload: Buffer.from([0, 0, 0x10, 0]) });
    w.setChunkSize(4096);
    const big = w.write({ csid: 6, type: 9, streamId: 1, timestamp: 0, payload: Buffer.alloc(10_000, 3) });
    const partial = Buffer.concat([fmt0(5, 0, 5000, 9, 1), Buffer.alloc(4096, 9)]); // one whole chunk of two
    const abort = w.write({ csid: 2, type: 2, streamId: 0, timestamp: 0, payload: Buffer.from([0, 0, 0, 5]) });
    const out: RtmpMessage[] = [];
    const reader = new ChunkReader((m) => out.push(m), WIDE);
    reader.push(Buffer.concat([setSize, big, partial]));
    expect(reader.chunkSize).toBe(4096);
    expect(reader.bufferedBytes).toBeGreaterThan(0);
    reader.push(abort);
    expect(reader.bufferedBytes).toBe(0);
    expect(out.filter((m) => m.type === 9).map((m) => m.payload.length)).toEqual([10_000]);
  });

  it('round-trips the writer at several chunk sizes, including empty messages', () => {
    for (const size of [1, 128, 4096, 0x7fffffff]) {
      const w = new ChunkWriter();
      w.setChunkSize(size);
      const sent = [Buffer.alloc(0), Buffer.alloc(1, 1), Buffer.alloc(5000, 2)];
      const bytes = Buffer.concat(sent.map((payload, i) => w.write({ csid: 3 + i, type: 20, streamId: 0, timestamp: i, payload })));
      const out: RtmpMessage[] = [];
      const reader = new ChunkReader((m) => out.push(m), WIDE);
      // The peer learns the size from our Set Chunk Size; here we tell the reader through the same message.
      reader.push(new ChunkWriter().write({ csid: 2, type: 1, streamId: 0, timestamp: 0, payload: Buffer.from([(size >>> 24) & 0x7f, (size >> 16) & 0xff, (size >> 8) & 0xff, size & 0xff]) }));
      reader.push(bytes);
      expect(out.slice(1).map((m) => m.payload)).toEqual(sent);
    }
  });
});

describe('chunk reader: limits', () => {
  const limits: ChunkReaderLimits = { maxMessageSize: 1 << 20, maxChunkStreams: 4, maxBufferedBytes: 3 << 20 };

  it('refuses a declared length above the maximum before reading any of it', () => {
    expectError(() => parse(fmt0(4, 0, (1 << 20) + 1, 9, 1), 12, limits), 'message-too-large', /1048577 bytes declared on chunk stream 4 exceeds the limit of 1048576/);
  });

  it('refuses more chunk streams than allowed', () => {
    const bytes = Buffer.concat([3, 4, 5, 6, 7].map((csid) => Buffer.concat([fmt0(csid, 0, 1, 8, 1), Buffer.from([0])])));
    expectError(() => parse(bytes, bytes.length, limits), 'chunk-stream-limit', /more than 4 chunk streams/);
  });

  it('allocates as payload arrives, not what the header declares', () => {
    const reader = new ChunkReader(() => undefined, limits);
    reader.push(Buffer.concat([fmt0(4, 0, 1 << 20, 9, 1), Buffer.alloc(128)]));
    expect(reader.bufferedBytes).toBe(4096);
    for (let i = 0; i < 100; i++) reader.push(Buffer.concat([Buffer.from([0xc4]), Buffer.alloc(128)]));
    // 12,928 bytes arrived: the buffer is at most twice that.
    expect(reader.bufferedBytes).toBeGreaterThanOrEqual(12_928);
    expect(reader.bufferedBytes).toBeLessThanOrEqual(2 * 12_928);
  });

  it('once media is allowed, gives each message its declared length at once and delivers that same buffer', () => {
    const out: RtmpMessage[] = [];
    const reader = new ChunkReader((m) => out.push(m), { ...limits, allocateDeclared: true });
    reader.push(Buffer.concat([fmt0(4, 0, 12_928, 9, 1), Buffer.alloc(128, 1)]));
    expect(reader.bufferedBytes).toBe(12_928);
    for (let i = 0; i < 100; i++) reader.push(Buffer.concat([Buffer.from([0xc4]), Buffer.alloc(128, i + 2)]));
    expect(reader.bufferedBytes).toBe(0);
    expect(out).toHaveLength(1);
    const payload = out[0]!.payload;
    expect(payload.buffer.byteLength).toBe(12_928);
    expect(payload[0]).toBe(1);
    expect(payload[12_927]).toBe(101);
  });

  it('still holds no more than its cap when allocating declared lengths', () => {
    const reader = new ChunkReader(() => undefined, { maxMessageSize: 1 << 20, maxChunkStreams: 8, maxBufferedBytes: 1 << 20, allocateDeclared: true });
    reader.push(Buffer.concat([fmt0(4, 0, 1 << 19, 9, 1), Buffer.alloc(128)]));
    reader.push(Buffer.concat([fmt0(5, 0, 1 << 19, 9, 1), Buffer.alloc(128)]));
    expect(() => reader.push(Buffer.concat([fmt0(6, 0, 1 << 19, 8, 1), Buffer.alloc(128)]))).toThrow(/more than 1048576 bytes held/);
  });

  it('refuses more bytes held in unfinished messages than allowed, over all chunk streams', () => {
    const w = new ChunkWriter();
    const setSize = w.write({ csid: 2, type: 1, streamId: 0, timestamp: 0, payload: Buffer.from([0, 0x08, 0, 0]) });
    // The first of two 512 KiB chunks of a 1 MiB message, on three chunk streams, then a fourth. Buffers
    // grow by doubling, so each may already hold up to the full 1 MiB: three fit in 3 MiB, four do not.
    const partial = (csid: number) => Buffer.concat([fmt0(csid, 0, 1 << 20, 9, 1), Buffer.alloc(1 << 19)]);
    const tight = { ...limits, maxChunkStreams: 8 };
    expect(() => parse(Buffer.concat([setSize, partial(3), partial(4), partial(5)]), 65536, tight)).not.toThrow();
    expectError(() => parse(Buffer.concat([setSize, partial(3), partial(4), partial(5), partial(6)]), 65536, tight), 'buffered-bytes-limit', /more than 3145728 bytes held/);
  });

  it('refuses chunk sizes outside 1..2^31-1', () => {
    const w = new ChunkWriter();
    for (const value of [[0, 0, 0, 0], [0x80, 0, 0, 0]]) {
      expectError(() => parse(w.write({ csid: 2, type: 1, streamId: 0, timestamp: 0, payload: Buffer.from(value) }), 64), 'chunk-size', /outside 1\.\.2147483647/);
    }
  });

  it('refuses a chunk stream that starts without a length, and a new header in the middle of a message', () => {
    expectError(() => parse(Buffer.from([0x84, 0, 0, 1]), 4), 'malformed-chunk', /starts with a type-2 header/);
    const bytes = Buffer.concat([fmt0(4, 0, 200, 9, 1), Buffer.alloc(128), fmt0(4, 0, 10, 9, 1)]);
    expectError(() => parse(bytes, bytes.length), 'malformed-chunk', /new message header on chunk stream 4 while its message is at 128 of 200/);
  });

  it('keeps failing after a failure, and holds nothing', () => {
    const reader = new ChunkReader(() => undefined, limits);
    expect(() => reader.push(fmt0(4, 0, 1 << 21, 9, 1))).toThrow(RtmpProtocolError);
    expect(() => reader.push(Buffer.from([0x44]))).toThrow(/exceeds the limit/);
    expect(reader.bufferedBytes).toBe(0);
  });
});
