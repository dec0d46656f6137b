/**
 * Captures what a real ffmpeg sends after the handshake when it publishes:
 * a throwaway server built from the pure stack answers just enough
 * (connect, createStream, publish) for ffmpeg to stream, and records every
 * byte. The capture is then parsed again by tests in arbitrary splits.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { ChunkReader, MessageType, type RtmpMessage } from '../../src/protocols/rtmp/chunk-reader.js';
import { ChunkWriter } from '../../src/protocols/rtmp/chunk-writer.js';
import { decodeCommand } from '../../src/protocols/rtmp/commands.js';
import { ServerHandshake } from '../../src/protocols/rtmp/handshake.js';
import { command, onStatus, setChunkSize } from '../../src/protocols/rtmp/messages.js';

export interface Capture {
  /** Bytes after C2. */
  readonly bytes: Buffer;
  /** Messages as parsed live. */
  readonly messages: RtmpMessage[];
  readonly handshakeKind: string | undefined;
}

export async function captureFfmpegPublish(ffmpegArgs: string[], videoMessages = 40): Promise<Capture> {
  const parts: Buffer[] = [];
  const messages: RtmpMessage[] = [];
  let handshakeKind: string | undefined;
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const done = new Promise<void>((resolve, reject) => {
    server.on('connection', (socket) => {
      const writer = new ChunkWriter();
      const send = (m: Parameters<ChunkWriter['write']>[0]) => socket.write(writer.write(m));
      const hs = new ServerHandshake((b) => socket.write(b));
      const reader = new ChunkReader(
        (m) => {
          messages.push(m);
          if (m.type === MessageType.commandAmf0) {
            const c = decodeCommand(m.type, m.payload);
            if (c.name === 'connect') {
              send(setChunkSize(4096));
              writer.setChunkSize(4096);
              send(command(0, '_result', c.transactionId, { fmsVer: 'FMS/3,0,1,123' }, { level: 'status', code: 'NetConnection.Connect.Success' }));
            } else if (c.name === 'createStream') send(command(0, '_result', c.transactionId, null, 1));
            else if (c.name === 'publish') send(onStatus(1, 'status', 'NetStream.Publish.Start', 'go'));
          }
          if (messages.filter((x) => x.type === MessageType.video).length >= videoMessages) {
            socket.destroy();
            resolve();
          }
        },
        { maxMessageSize: 1 << 24, maxChunkStreams: 64, maxBufferedBytes: 1 << 25 },
      );
      socket.on('data', (d: Buffer) => {
        try {
          let rest = d;
          if (!hs.done) {
            rest = hs.push(d);
            handshakeKind = hs.kind;
          }
          if (rest.length === 0) return;
          parts.push(Buffer.from(rest));
          reader.push(rest);
        } catch (err) {
          reject(err as Error);
          socket.destroy();
        }
      });
      socket.on('error', () => undefined);
    });
  });
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...ffmpegArgs, '-f', 'flv', `rtmp://127.0.0.1:${port}/live/capture`], { stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    await done;
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
    server.close();
  }
  return { bytes: Buffer.concat(parts), messages, handshakeKind };
}
