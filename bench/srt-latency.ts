/**
 * SRT ingest beside RTMP ingest: one ffmpeg tees the clip to the reference
 * sink, to Polycast over RTMP (live/bench) and to Polycast over SRT as
 * MPEG-TS (live/srt), so both paths carry the same packets sent at the same
 * moment. ws-nal readers on each path stamp keyframes; latency is reader
 * stamp − sink stamp. SRT holds every packet for its negotiated latency
 * (TSBPD) before delivery, and MPEG-TS video ends a frame only when the next
 * begins, so SRT's floor is that latency plus one frame.
 */
import { spawn } from 'node:child_process';
import { ReferenceSink, wallClock } from './flv-sink.js';
import { ARRIVAL_STRIDE, LeanReader } from './lean-reader.js';
import { freePort, sleep, startServer, STREAM_PATH, type ServerProcess } from './servers.js';
import { latencySummary, type KeyframeReadersSide } from './stats.js';

export interface SrtLatencyTiming {
  warmupMs: number;
  windowMs: number;
  graceMs: number;
}

export interface SrtLatencySide extends KeyframeReadersSide {
  ingest: 'rtmp' | 'srt';
}

export interface SrtLatencyResult {
  status: 'ok' | 'error';
  notes: string[];
  timing: SrtLatencyTiming;
  /** The SRT latency the caller asked for (ms). */
  srtLatencyMs: number;
  keyframes: number;
  sides: SrtLatencySide[];
}

export interface SrtLatencyContext {
  root: string;
  clip: string;
  timing: SrtLatencyTiming;
  readers?: number;
  log(line: string): void;
}

const SRT_PATH = 'live/srt';
const SRT_LATENCY_MS = 120;
const DEFAULT_READERS = 4;
const CONNECT_TIMEOUT_MS = 20_000;

function teePublisher(clip: string, sinkPort: number, rtmpUrl: string, srtPort: number) {
  const flv = '[f=flv:flvflags=no_duration_filesize]';
  const srt = `srt://127.0.0.1:${srtPort}?streamid=publish:${SRT_PATH}&latency=${SRT_LATENCY_MS * 1000}&pkt_size=1316`;
  const tee = `${flv}tcp://127.0.0.1:${sinkPort}?tcp_nodelay=1|${flv}${rtmpUrl}|[f=mpegts:bsfs/v=h264_mp4toannexb]${srt}`;
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-stream_loop', '-1', '-re', '-i', clip, '-c', 'copy', '-map', '0', '-f', 'tee', tee];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  return { child, stderr: () => err, alive: () => child.exitCode === null && child.signalCode === null };
}

export async function runSrtLatency(ctx: SrtLatencyContext): Promise<SrtLatencyResult> {
  const t = ctx.timing;
  const count = ctx.readers ?? DEFAULT_READERS;
  const result: SrtLatencyResult = { status: 'ok', notes: [], timing: t, srtLatencyMs: SRT_LATENCY_MS, keyframes: 0, sides: [] };
  const sink = new ReferenceSink();
  let server: ServerProcess | undefined;
  let publisher: ReturnType<typeof teePublisher> | undefined;
  const readers: Record<'rtmp' | 'srt', LeanReader[]> = { rtmp: [], srt: [] };
  try {
    const sinkPort = await sink.listen();
    const srtPort = await freePort();
    server = await startServer('polycast', { root: ctx.root, srtPort });
    publisher = teePublisher(ctx.clip, sinkPort, server.rtmpUrl, srtPort);
    for (let i = 0; i < count; i++) {
      readers.rtmp.push(new LeanReader(server.reader));
      readers.srt.push(new LeanReader({ ...server.reader, path: `/${SRT_PATH}/ws/nal` }));
    }
    const all = [...readers.rtmp, ...readers.srt];
    const deadline = performance.now() + CONNECT_TIMEOUT_MS;
    while (!all.every((r) => r.state === 'open' && r.arrivals.length > 0)) {
      if (!publisher.alive()) throw new Error(`ffmpeg exited: ${publisher.stderr().trim().slice(-300)}`);
      const broken = all.find((r) => r.state === 'failed' || r.state === 'closed');
      if (broken) throw new Error(`a reader ended before its first keyframe: ${broken.error}`);
      if (performance.now() > deadline) throw new Error(`readers had no keyframe after ${CONNECT_TIMEOUT_MS} ms`);
      await sleep(100);
    }
    ctx.log(`  ${count} ws-nal readers on ${STREAM_PATH} (RTMP) and ${count} on ${SRT_PATH} (SRT, latency ${SRT_LATENCY_MS} ms) have keyframes`);
    await sleep(t.warmupMs);
    const t0 = wallClock();
    await sleep(t.windowMs);
    const window = sink.between(t0, wallClock());
    await sleep(t.graceMs);
    score(result, window, readers, sink);
  } catch (err) {
    result.status = 'error';
    result.notes.push((err as Error).message);
  } finally {
    for (const r of [...readers.rtmp, ...readers.srt]) r.close();
    if (publisher?.alive()) publisher.child.kill('SIGKILL');
    await server?.stop();
    await sink.close();
  }
  return result;
}

function keyframes(reader: LeanReader): Array<{ ms: number; at: number }> {
  const out: Array<{ ms: number; at: number }> = [];
  for (let i = 0; i + 1 < reader.arrivals.length; i += ARRIVAL_STRIDE) out.push({ ms: reader.arrivals[i]!, at: reader.arrivals[i + 1]! });
  return out;
}

/**
 * SRT frames carry MPEG-TS time (its own origin), RTMP frames and the sink
 * FLV time: the two differ by a constant. It is the offset under which the
 * most SRT keyframes land on a sink stamp (±2 ms of 90 kHz rounding).
 */
function srtOffset(srt: Array<{ ms: number }>, sink: Array<{ ms: number }>): number | undefined {
  const stamps = sink.map((s) => s.ms);
  let best: { offset: number; hits: number } | undefined;
  for (const first of srt.slice(0, 5)) {
    for (const s of stamps) {
      const offset = first.ms - s;
      const hits = srt.filter((k) => stamps.some((x) => Math.abs(x + offset - k.ms) <= 2)).length;
      if (best === undefined || hits > best.hits) best = { offset, hits };
    }
  }
  return best !== undefined && best.hits >= srt.length / 2 ? best.offset : undefined;
}

function score(result: SrtLatencyResult, window: Array<{ ms: number; at: number }>, readers: Record<'rtmp' | 'srt', LeanReader[]>, sink: ReferenceSink): void {
  result.keyframes = window.length;
  const offset = srtOffset(keyframes(readers.srt[0]!), sink.order);
  if (offset === undefined) result.notes.push('SRT keyframes could not be matched to the sink stamps');
  for (const ingest of ['rtmp', 'srt'] as const) {
    const latencies: number[] = [];
    let missed = 0;
    const shift = ingest === 'rtmp' ? 0 : (offset ?? NaN);
    for (const reader of readers[ingest]) {
      const seen = keyframes(reader);
      for (const { ms, at } of window) {
        const arrival = seen.find((k) => Math.abs(k.ms - (ms + shift)) <= 2);
        if (arrival === undefined) missed++;
        else latencies.push(arrival.at - at);
      }
    }
    result.sides.push({ ingest, readers: readers[ingest].length, missed, ...latencySummary(latencies) });
  }
  if (window.length === 0) {
    result.status = 'error';
    result.notes.push('the sink stamped no keyframe in the window');
  }
}
