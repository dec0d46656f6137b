/**
 * One server, live: the server process, the reference sink and the ffmpeg
 * publisher teeing the clip to both, up and checked end to end before any
 * measurement starts.
 */
import { publish, type Publisher } from './clip.js';
import { ReferenceSink } from './flv-sink.js';
import { ARRIVAL_STRIDE, LeanReader } from './lean-reader.js';
import { startServer, sleep, type ServerKind, type ServerProcess, type StartOptions } from './servers.js';

export interface LiveServer {
  server: ServerProcess;
  sink: ReferenceSink;
  publisher: Publisher;
  stop(): Promise<void>;
}

export async function startLive(kind: ServerKind, clip: string, o: StartOptions & { liveTimeoutMs?: number }): Promise<LiveServer> {
  const sink = new ReferenceSink();
  const sinkPort = await sink.listen();
  let server: ServerProcess | undefined;
  let publisher: Publisher | undefined;
  const stop = async (): Promise<void> => {
    await publisher?.stop();
    await server?.stop();
    await sink.close();
  };
  try {
    server = await startServer(kind, o);
    publisher = publish(clip, server.rtmpUrl, sinkPort);
    await waitLive(server, sink, publisher, o.liveTimeoutMs ?? 20_000);
    return { server, sink, publisher, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Live means a reader of the server received a keyframe the sink also
 * stamped: publisher, server and timestamps all agree.
 */
async function waitLive(server: ServerProcess, sink: ReferenceSink, publisher: Publisher, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let matched = false;
  let probe: LeanReader | undefined;
  try {
    while (!matched) {
      if (!server.alive()) throw new Error(`server exited: ${server.stderr().trim().slice(-300)}`);
      if (!publisher.alive()) throw new Error(`ffmpeg exited: ${publisher.stderr().trim().slice(-300)}`);
      if (sink.error !== undefined) throw new Error(`reference sink: ${sink.error}`);
      if (performance.now() > deadline) {
        throw new Error(
          `stream not live after ${timeoutMs} ms (sink stamps: ${sink.order.length}, probe: ${probe?.state ?? 'none'} ${probe?.error ?? ''}, ` +
            `keyframes: ${(probe?.arrivals.length ?? 0) / ARRIVAL_STRIDE}, ffmpeg: ${publisher.stderr().trim().slice(-200)})`,
        );
      }
      // The server may accept the upgrade before the publisher arrives, or refuse it; a dead probe is simply replaced.
      if (probe === undefined || probe.state === 'failed' || probe.state === 'closed') {
        probe = new LeanReader(server.reader, { keyframe: (ms) => (matched ||= sink.stamps.has(ms)) });
      }
      await sleep(100);
      for (let i = 0; !matched && i < probe.arrivals.length; i += ARRIVAL_STRIDE) matched = sink.stamps.has(probe.arrivals[i]!);
    }
  } finally {
    probe?.close();
  }
}
