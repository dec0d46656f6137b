import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Path } from '../../src/stream/path.js';
import type { SocketOutput } from '../../src/web/socket-output.js';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import { webCodecsDescription } from '../../src/codec/webcodecs-description.js';
import { ALL_CODECS, carriesNothing, CodecFilter, H264_AAC, nothingCarriedReason } from '../../src/stream/codec-filter.js';
import type { AudioTrackInfo, Frame, StreamDescription, TrackInfo, VideoTrackInfo } from '../../src/stream/types.js';
import { encodeMediaFrame } from './media-encoder.js';
import { checkInputMessage, InputRateLimiter, parseControlMessage } from './protocol.js';

/** Bytes a viewer's socket may hold unsent before its frames wait in the reader queue instead. */
const SOCKET_HIGH_WATER = 256 * 1024;

export interface ViewerOptions {
  path: Path;
  ws: WebSocket;
  output: SocketOutput;
  /** Holds media back while too much of it is unacknowledged by the client's pongs. */
  pacer: { open(): boolean };
  remoteAddress: string;
  /** The protocol version the client asked for (docs/protocols/ws-nal.md#versions). */
  version: WsNalVersion;
  queueSize: number;
  serverName: string;
  log: Logger;
  relayInput(path: string, data: Uint8Array): void;
  onClose(viewer: Viewer, reason: string): void;
}

export type WsNalVersion = 1 | 2;
export const WS_NAL_VERSION: WsNalVersion = 2;

/**
 * The version a client asked for with `?version=`: none (every player before
 * version 2) means 1; a number above what this server speaks gets the newest
 * it has, which `hello` states.
 */
export function requestedVersion(url: string | undefined): WsNalVersion {
  const asked = Number(new URL(url ?? '/', 'http://x').searchParams.get('version') ?? 1);
  return Number.isInteger(asked) && asked >= 2 ? WS_NAL_VERSION : 1;
}

/**
 * base64 of a track's decoder configuration, where WebCodecs takes one; VP9's
 * `vpcC` goes in a field of its own, which players ignore and edges need.
 */
function describedBy(track: TrackInfo): { description?: string; vpcC?: string } {
  if (track.codec === 'vp9') return { vpcC: Buffer.from(track.vpcC).toString('base64') };
  const bytes = webCodecsDescription(track);
  return bytes === undefined ? {} : { description: Buffer.from(bytes).toString('base64') };
}

/** One `/<path>/ws/nal` client: the reader sink that writes frames, and the input and control it sends back. */
export class Viewer implements ReaderSink {
  readonly id = randomBytes(4).toString('hex');
  readonly reader: Reader;
  lastSeen = performance.now();
  private description: StreamDescription | undefined;
  /** Version 1 carries H.264 and AAC only: its players configure nothing else. */
  private readonly codecs: CodecFilter<VideoTrackInfo, AudioTrackInfo>;
  private readonly limiter = new InputRateLimiter();
  private closed = false;
  /** Audio comes corked with the next video frame (Stream.write): one syscall for both. */
  readonly audioRidesWithVideo = true;

  constructor(private readonly o: ViewerOptions) {
    this.reader = new Reader({ id: this.id, protocol: 'ws-nal', remoteAddress: o.remoteAddress }, this, o.queueSize);
    this.codecs = new CodecFilter(o.version === 1 ? H264_AAC : ALL_CODECS, `ws-nal version ${o.version}`, (reason) => o.log.info({ path: o.path.name, remoteAddress: o.remoteAddress, reason }, 'track not carried'));
    o.output.onDrain(() => this.reader.resume());
    o.ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    o.ws.on('pong', () => (this.lastSeen = performance.now()));
    o.ws.on('close', (code, reason) => this.finish(`client closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    o.ws.on('error', (err) => this.finish(`socket error: ${err.message}`));
    this.sendJson({ type: 'hello', version: o.version, path: o.path.name, server: o.serverName, id: this.id });
  }

  get ws(): WebSocket {
    return this.o.ws;
  }

  // ReaderSink

  writable(): boolean {
    return !this.closed && this.o.output.hasRoom(SOCKET_HIGH_WATER) && this.o.pacer.open();
  }

  write(frame: Frame, discontinuity: boolean): void {
    if (!this.codecs.carries(frame)) return;
    this.o.output.write(encodeMediaFrame(frame, this.description?.video, discontinuity));
  }

  describe(full: StreamDescription): void {
    const description = this.codecs.describe(full);
    if (carriesNothing(description)) {
      // An init without tracks would leave the player waiting for a picture that cannot come.
      this.close(1003, nothingCarriedReason(full));
      return;
    }
    this.description = description;
    const { video, audio } = description;
    this.sendJson({
      type: 'init',
      video: video && { codec: video.codecString, codedWidth: video.width, codedHeight: video.height, ...describedBy(video) },
      audio: audio && { codec: audio.codecString, sampleRate: audio.sampleRate, numberOfChannels: audio.channels, ...describedBy(audio) },
    });
  }

  offline(reason: string): void {
    this.description = undefined;
    this.sendJson({ type: 'offline', reason });
  }

  /** The GOP cache, or held audio with its video frame, goes out in one gather write rather than a syscall per frame. */
  cork(): void {
    this.o.output.cork();
  }

  uncork(): void {
    this.o.output.uncork();
  }

  sendStats(): void {
    this.sendJson({ type: 'stats', dropped: this.reader.stats.framesDropped, queued: this.reader.queued });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.o.output.beforeOtherWrite();
    this.o.ws.close(code, reason.slice(0, 120));
    this.finish(reason);
    // A client that never answers the close handshake is cut off.
    setTimeout(() => this.o.ws.terminate(), 2000).unref();
  }

  private sendJson(value: unknown): void {
    if (this.closed || this.o.ws.readyState !== this.o.ws.OPEN) return;
    // Held media goes first: `ws` writes on the socket itself.
    this.o.output.beforeOtherWrite();
    this.o.ws.send(JSON.stringify(value));
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.lastSeen = performance.now();
    if (this.closed) return;
    if (!isBinary) {
      const parsed = parseControlMessage(data.toString('utf8'));
      if (!parsed.ok) {
        this.o.log.warn({ path: this.o.path.name, remoteAddress: this.o.remoteAddress, reason: parsed.reason }, 'closing viewer: bad control message');
        this.close(parsed.code, parsed.reason);
        return;
      }
      const m = parsed.message;
      if (m.type === 'ping') this.sendJson({ type: 'pong', id: m.id, t: m.t, serverTime: Math.round((performance.timeOrigin + performance.now()) * 1000) });
      else if (m.type === 'set_video_enabled') this.reader.setVideoEnabled(m.value);
      else this.reader.setKeyframesOnly(m.value);
      return;
    }
    const check = checkInputMessage(data);
    if (!check.ok) {
      this.o.log.warn({ path: this.o.path.name, remoteAddress: this.o.remoteAddress, reason: check.reason }, 'closing viewer: bad input message');
      this.close(check.code, check.reason);
      return;
    }
    if (!this.limiter.take()) {
      if (this.limiter.abusive) this.close(1008, 'input flood');
      return;
    }
    this.o.relayInput(this.o.path.name, data);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.o.onClose(this, reason);
  }
}
