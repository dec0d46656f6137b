/**
 * Test-only helpers: a bit writer to hand-craft headers, FLV tag builders,
 * and thin wrappers around the system ffmpeg/ffprobe for real media.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FlvDemuxer, type FlvTag } from '../../src/codec/flv.js';

const exec = promisify(execFile);

export class BitWriter {
  private bits: number[] = [];

  u(n: number, value: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(value / 2 ** i) & 1);
    return this;
  }

  flag(b: boolean): this {
    return this.u(1, b ? 1 : 0);
  }

  ue(value: number): this {
    const v = value + 1;
    const len = Math.floor(Math.log2(v));
    this.u(len, 0);
    return this.u(len + 1, v);
  }

  se(value: number): this {
    return this.ue(value <= 0 ? -2 * value : 2 * value - 1);
  }

  /** rbsp_trailing_bits: a stop bit, then zeros to the byte boundary. */
  trailing(): this {
    this.bits.push(1);
    while (this.bits.length % 8) this.bits.push(0);
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.bits.length / 8));
    this.bits.forEach((b, i) => {
      if (b) out[i >> 3]! |= 0x80 >> (i & 7);
    });
    return out;
  }
}

/** Insert emulation-prevention bytes the way an encoder must (H.264 §7.4.1). */
export function addEmulationPrevention(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One FLV tag (header + body), without PreviousTagSize. */
export function flvTag(tagType: number, timestampMs: number, body: Uint8Array | number[]): Uint8Array {
  const b = body instanceof Uint8Array ? body : Uint8Array.from(body);
  const tag = new Uint8Array(11 + b.length);
  tag[0] = tagType;
  tag[1] = b.length >> 16;
  tag[2] = (b.length >> 8) & 0xff;
  tag[3] = b.length & 0xff;
  tag[4] = (timestampMs >> 16) & 0xff;
  tag[5] = (timestampMs >> 8) & 0xff;
  tag[6] = timestampMs & 0xff;
  tag[7] = Math.floor(timestampMs / 2 ** 24) & 0xff;
  tag.set(b, 11);
  return tag;
}

/** A whole FLV stream: file header, PreviousTagSize0, then each tag and its PreviousTagSize. */
export function flvStream(tags: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.from([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0])];
  for (const t of tags) {
    parts.push(t, Uint8Array.from([t.length >>> 24, (t.length >> 16) & 0xff, (t.length >> 8) & 0xff, t.length & 0xff]));
  }
  return concat(...parts);
}

export interface DemuxedTag {
  readonly tag: Uint8Array;
  readonly parsed: FlvTag;
}

/** Demux a whole buffer, pushed in chunks of `chunkSize` bytes (all at once by default). */
export function demux(bytes: Uint8Array, chunkSize = bytes.length): DemuxedTag[] {
  const out: DemuxedTag[] = [];
  const d = new FlvDemuxer((tag, parsed) => out.push({ tag, parsed }));
  for (let i = 0; i < bytes.length; i += chunkSize) d.push(bytes.subarray(i, i + chunkSize));
  d.end();
  return out;
}

export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'polycast-codec-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function ffmpeg(args: string[]): Promise<string> {
  const { stderr } = await exec('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stderr;
}

/** ffmpeg's diagnostics whatever its exit status, for runs that are expected to complain. */
export function ffmpegDiagnostics(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('ffmpeg', ['-hide_banner', '-nostdin', ...args], { maxBuffer: 64 * 1024 * 1024 }, (_err, _out, stderr) => resolve(stderr));
  });
}

export async function ffprobeJson<T>(args: string[]): Promise<T> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-of', 'json', ...args], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

type Amf = number | string | boolean | null | { [key: string]: Amf } | { ecma: { [key: string]: Amf } };

/** Minimal AMF0 encoder for building script tags. */
export function amf0(...values: Amf[]): Uint8Array {
  const out: number[] = [];
  const str = (s: string) => {
    const b = new TextEncoder().encode(s);
    out.push(b.length >> 8, b.length & 0xff, ...b);
  };
  const props = (o: { [key: string]: Amf }) => {
    for (const [k, v] of Object.entries(o)) {
      str(k);
      value(v);
    }
    out.push(0, 0, 9);
  };
  const value = (v: Amf): void => {
    if (typeof v === 'number') {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v);
      out.push(0, ...b);
    } else if (typeof v === 'string') {
      out.push(2);
      str(v);
    } else if (typeof v === 'boolean') {
      out.push(1, v ? 1 : 0);
    } else if (v === null) {
      out.push(5);
    } else if ('ecma' in v && typeof v.ecma === 'object' && v.ecma !== null) {
      const n = Object.keys(v.ecma).length;
      out.push(8, 0, 0, n >> 8, n & 0xff);
      props(v.ecma as { [key: string]: Amf });
    } else {
      out.push(3);
      props(v as { [key: string]: Amf });
    }
  };
  values.forEach(value);
  return Uint8Array.from(out);
}
