import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Path } from '../../src/stream/path.js';
import type { Reader } from '../../src/stream/reader.js';
import type { StreamDescription } from '../../src/stream/types.js';
import { parseControlMessage } from '../ws-nal/protocol.js';

export interface FmpViewerOptions {
  path: Path;
  ws: WebSocket;
  remoteAddress: string;
  queueSize: number;
  segmentSize: number;
  serverName: string;
  log: Logger;
  onClose(viewer: FmpViewerBase, reason: string): void;
}

/** What both `/ws/fmp4` variants share: identity, the control messages of ws-nal, closing. */
export abstract class FmpViewerBase {
  readonly id = randomBytes(4).toString('hex');
  abstract readonly reader: Reader;
  lastSeen = performance.now();
  private closed = false;

  constructor(
    protected readonly o: FmpViewerOptions,
    readonly variant: 'standard' | 'rtwebsocket',
  ) {
    o.ws.on('pong', () => this.touch());
    o.ws.on('close', (code, reason) => this.finish(`client closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    o.ws.on('error', (err) => this.finish(`socket error: ${err.message}`));
  }

  get ws(): WebSocket {
    return this.o.ws;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  protected abstract sendControl(value: unknown): void;

  touch(): void {
    this.lastSeen = performance.now();
  }

  sendStats(): void {
    this.sendControl({ type: 'stats', dropped: this.reader.stats.framesDropped, queued: this.reader.queued, ...this.extraStats() });
  }

  protected extraStats(): Record<string, number> {
    return {};
  }

  protected helloMessage(): Record<string, unknown> {
    return { type: 'hello', version: 1, path: this.o.path.name, server: this.o.serverName, id: this.id, protocol: this.variant };
  }

  protected initMessage(desc: StreamDescription): Record<string, unknown> {
    const { video, audio } = desc;
    return {
      type: 'init',
      video: video && { codec: video.codecString, codedWidth: video.width, codedHeight: video.height },
      audio: audio && { codec: audio.codecString, sampleRate: audio.sampleRate, numberOfChannels: audio.channels },
    };
  }

  /** A viewer control message (JSON); malformed ones close this viewer only. */
  protected handleControlText(text: string): void {
    const parsed = parseControlMessage(text);
    if (!parsed.ok) {
      this.o.log.warn({ path: this.o.path.name, remoteAddress: this.o.remoteAddress, reason: parsed.reason }, 'closing viewer: bad control message');
      this.close(parsed.code, parsed.reason);
      return;
    }
    const m = parsed.message;
    if (m.type === 'ping') this.sendControl({ type: 'pong', id: m.id, t: m.t, serverTime: Math.round((performance.timeOrigin + performance.now()) * 1000) });
    else if (m.type === 'set_video_enabled') this.reader.setVideoEnabled(m.value);
    else this.reader.setKeyframesOnly(m.value);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.o.ws.close(code, reason.slice(0, 120));
    this.finish(reason);
    setTimeout(() => this.o.ws.terminate(), 2000).unref();
  }

  protected finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onFinish();
    this.o.onClose(this, reason);
  }

  protected onFinish(): void {}
}
