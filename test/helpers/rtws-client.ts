import WebSocket from 'ws';
import { attachWebSocket, type RecvFlow, type RTWebSocketConnection, type SendFlow } from '../../src/protocols/rtwebsocket/index.js';

export interface TrackMessage {
  bytes: Uint8Array;
  messageNumber: number;
  arrivedAt: number;
}

/** A `ws-fmp4?protocol=rtwebsocket` viewer for tests, built on Polycast's RTWebSocket implementation. */
export class RtwsClient {
  readonly ws: WebSocket;
  conn!: RTWebSocketConnection;
  readonly control: Array<Record<string, unknown>> = [];
  readonly tracks: Array<{ meta: Record<string, unknown>; messages: TrackMessage[]; flow: RecvFlow }> = [];
  clientFlow: SendFlow | undefined;
  readonly opened: Promise<void>;
  closed: { code: number; reason: string } | undefined;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    this.ws.on('error', () => undefined);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        this.conn = attachWebSocket(this.ws, { onCallbackError: (e) => console.error(e) });
        this.conn.onRecvFlow = (flow) => this.onFlow(flow);
        resolve();
      });
      this.ws.once('error', reject);
    });
  }

  video(): Array<TrackMessage> {
    return this.tracks.filter((t) => t.meta.kind === 'video').flatMap((t) => t.messages);
  }

  audio(): Array<TrackMessage> {
    return this.tracks.filter((t) => t.meta.kind === 'audio').flatMap((t) => t.messages);
  }

  sendControl(value: unknown): void {
    this.clientFlow!.write(new TextEncoder().encode(JSON.stringify(value)));
  }

  async until(predicate: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; control=${JSON.stringify(this.control.slice(0, 5))} closed=${JSON.stringify(this.closed)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): void {
    this.ws.close();
  }

  private onFlow(flow: RecvFlow): void {
    const meta = JSON.parse(new TextDecoder().decode(flow.metadata)) as Record<string, unknown>;
    flow.accept();
    if (meta.polycast === 'control') {
      flow.onMessage = (bytes) => this.control.push(JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>);
      this.clientFlow = flow.openReturnFlow(new TextEncoder().encode(JSON.stringify({ polycast: 'client' })));
      return;
    }
    const entry = { meta, messages: [] as TrackMessage[], flow };
    this.tracks.push(entry);
    flow.onMessage = (bytes, messageNumber) => entry.messages.push({ bytes: bytes.slice(), messageNumber, arrivedAt: performance.timeOrigin + performance.now() });
  }
}
