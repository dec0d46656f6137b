/**
 * What comes in over SRT goes out on the transports: HEVC + Opus and
 * H.264 + AAC from ffmpeg (MPEG-TS over SRT) recorded as a /ws/fmp4 viewer
 * receives them, and read back by ffprobe.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ffprobeJson } from '../codec/helpers.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { ffmpegSrt, type SrtCaller } from './srt-caller.js';

interface Probed {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  channels?: number;
  sample_rate?: string;
  nb_read_frames?: string;
}

const dir = mkdtempSync(join(tmpdir(), 'polycast-srt-out-'));
let server: TestServer | undefined;
const callers: SrtCaller[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const c of callers.splice(0)) await c.stop();
  await server?.stop();
  server = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !predicate(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

const cases = [
  { video: 'hevc', audio: 'opus', mime: /^video\/mp4; codecs="hvc1\.1\.6\.L\d+(\.[0-9A-F]{2})*, opus"$/, probed: ['hevc', 'opus'] },
  { video: 'h264', audio: 'aac', mime: /^video\/mp4; codecs="avc1\.[0-9a-f]{6}, mp4a\.40\.2"$/, probed: ['h264', 'aac'] },
] as const;

describe('SRT ingest reaches the fMP4 transports', () => {
  for (const c of cases) {
    it(`${c.video} + ${c.audio}: a ws-fmp4 viewer's recording is what ffmpeg sent, by ffprobe`, async () => {
      const port = await freePort();
      server = await startServer(`srt: yes\nsrtAddress: 127.0.0.1:${port}\npaths:\n  all_others:\n`);
      const path = `live/${c.video}`;
      const ws = new WebSocket(server.wsUrl(path, 'ws/fmp4?protocol=standard'));
      sockets.push(ws);
      const texts: Array<Record<string, unknown>> = [];
      const binaries: Buffer[] = [];
      ws.on('message', (d: Buffer, isBinary) => (isBinary ? binaries.push(d) : texts.push(JSON.parse(d.toString()) as Record<string, unknown>)));
      await new Promise((r) => ws.once('open', r));
      callers.push(ffmpegSrt(port, { streamId: `publish:${path}`, video: c.video, audio: c.audio }));
      // Two seconds of 25 fps video and 50 Opus (or ~47 AAC) frames a second, one fMP4 segment each, after the init.
      await until(() => binaries.length > 150, `ws-fmp4 segments (have ${binaries.length})`);

      expect(texts.find((t) => t['type'] === 'init')?.['mime']).toMatch(c.mime);
      const file = join(dir, `${c.video}-${c.audio}.mp4`);
      await writeFile(file, Buffer.concat(binaries));
      const { streams } = await ffprobeJson<{ streams: Probed[] }>(['-count_frames', '-show_streams', file]);
      const video = streams.find((s) => s.codec_type === 'video');
      const audio = streams.find((s) => s.codec_type === 'audio');
      expect([video?.codec_name, audio?.codec_name]).toEqual(c.probed);
      expect([video?.width, video?.height]).toEqual([320, 240]);
      expect(audio?.sample_rate).toBe('48000');
      expect(Number(video?.nb_read_frames)).toBeGreaterThan(25);
      expect(Number(audio?.nb_read_frames)).toBeGreaterThan(25);
    });
  }
});
