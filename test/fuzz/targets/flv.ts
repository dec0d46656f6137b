/**
 * FLV tag bodies (AVC/AAC sequence headers, NAL units, ADTS-less AAC,
 * onMetaData) as RTMP audio/video/data messages, behind a valid handshake
 * and publish on a fuzz path of their own. The captures are the tags of a
 * short ffmpeg recording, demuxed with the project's FlvDemuxer.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlvDemuxer, FlvError, parseFlvPayload } from '../../../src/codec/flv.js';
import { caseRng, concatBytes, fuzzInput, mutate } from '../harness.js';
import { runCases, within, type CaseContext, type FuzzTarget, type InProcessContext } from '../target.js';
import { chunked, CHUNK_SIZE, publishCommands, RtmpSocket } from './rtmp-client.js';

interface Tag {
  type: number;
  timestamp: number;
  body: Uint8Array;
}

let cached: { file: Uint8Array; tags: Tag[] } | undefined;

/** A 2-second H.264/AAC FLV recorded by ffmpeg, and its tags. */
export function flvRecording(): { file: Uint8Array; tags: Tag[] } {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'polycast-fuzz-flv-'));
  const file = join(dir, 'clip.flv');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=30', '-f', 'lavfi', '-i', 'sine', '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-bf', '2', '-c:a', 'aac', '-f', 'flv', file]);
  const bytes = new Uint8Array(readFileSync(file));
  rmSync(dir, { recursive: true, force: true });
  const tags: Tag[] = [];
  const demuxer = new FlvDemuxer((tag) => {
    const timestamp = ((tag[4]! << 16) | (tag[5]! << 8) | tag[6]!) + (tag[7]! << 24);
    tags.push({ type: tag[0]! & 0x1f, timestamp, body: Uint8Array.from(tag.subarray(11)) });
  });
  demuxer.push(bytes);
  cached = { file: bytes, tags };
  return cached;
}

export const flv: FuzzTarget = {
  name: 'flv',
  summary: 'FLV tag bodies (sequence headers, AVC NAL units, AAC, script data) as RTMP media messages after a valid publish on `fuzz/flv/<n>`',
  async wire(ctx: CaseContext) {
    const { tags } = flvRecording();
    const headers = tags.filter((t) => t.type === 18 || (t.type === 9 && t.body[1] === 0) || (t.type === 8 && t.body[1] === 0));
    const media = tags.filter((t) => !headers.includes(t)).slice(0, 120);
    const mediaBodies = media.map((t) => t.body);
    await runCases(ctx, this.name, async (index, rng) => {
      const s = new RtmpSocket(ctx.ports.rtmp);
      if (!(await s.handshake())) {
        s.destroy();
        if (ctx.alive()) ctx.finding({ kind: 'hang', detail: 'RTMP handshake not answered within 5 s', caseIndex: index });
        return;
      }
      // Each case its own path: a publisher still being torn down never refuses the next.
      s.write(publishCommands(ctx.ports.rtmp, 'fuzz', `flv/${index}`));
      const out: Uint8Array[] = [];
      for (const h of headers) {
        const body = rng.chance(0.3) ? mutate(rng, h.body, mediaBodies) : h.body;
        out.push(chunked(h.type === 18 ? 5 : h.type === 8 ? 6 : 7, h.type, 1, 0, body, CHUNK_SIZE));
      }
      const start = rng.int(Math.max(1, media.length - 30));
      const n = 5 + rng.int(30);
      let last: Uint8Array | undefined;
      for (let i = 0; i < n; i++) {
        const tag = media[(start + i) % media.length]!;
        last = fuzzInput(rng, [tag.body], 512);
        const type = rng.chance(0.05) ? rng.pick([8, 9, 18, 15, 17]) : tag.type;
        out.push(chunked(type === 8 ? 6 : 7, type, 1, tag.timestamp, last, CHUNK_SIZE));
      }
      s.write(concatBytes(out));
      ctx.sent(headers.length + n);
      await within(s.closed, 250);
      s.destroy();
    });
  },
  inProcess(ctx: InProcessContext) {
    const { file, tags } = flvRecording();
    const bodies = tags.map((t) => t.body);
    for (let i = 0; i < ctx.count; i++) {
      const rng = caseRng(ctx.seed, 'flv/in-process', i);
      // Mostly single tag bodies; now and then a whole mutated file through the demuxer.
      const whole = rng.chance(0.02);
      const bytes = whole ? mutate(rng, file) : fuzzInput(rng, bodies, 256);
      try {
        if (whole) {
          const d = new FlvDemuxer((tag) => void parseFlvPayload(tag[0]! & 0x1f, 0, tag.subarray(11)));
          for (let off = 0; off < bytes.length; off += 4096) d.push(bytes.subarray(off, off + 4096));
        } else parseFlvPayload(rng.pick([8, 9, 18]), rng.int(1 << 24), bytes);
      } catch (err) {
        if (!(err instanceof FlvError)) ctx.finding({ kind: 'untyped-exception', detail: `FLV parser: ${(err as Error).stack?.split('\n').slice(0, 3).join(' ')}`, caseIndex: i, bytes: whole ? undefined : bytes });
      }
    }
    return ctx.count;
  },
};
