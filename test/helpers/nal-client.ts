import WebSocket from 'ws';

export interface MediaMessage {
  type: number;
  flags: number;
  pts: number;
  dts: number;
  receivedAt: number;
  payload: Buffer;
  arrivedAt: number;
}

export type TextMessage = Record<string, unknown> & { type?: string };

/** A `ws-nal` viewer for tests: connects with `ws` and records every message in order. */
export class NalClient {
  readonly ws: WebSocket;
  readonly events: Array<{ kind: 'text'; msg: TextMessage } | { kind: 'media'; msg: MediaMessage }> = [];
  /** Binary messages that are not media (e.g. relayed input on `/ws/input`). */
  readonly binaries: Buffer[] = [];
  closeInfo: { code: number; reason: string } | undefined;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary && (data[0] !== 0x01 && data[0] !== 0x02 || data.length < 26)) {
        this.binaries.push(data);
      } else if (isBinary) {
        this.events.push({
          kind: 'media',
          msg: {
            type: data[0]!,
            flags: data[1]!,
            pts: Number(data.readBigInt64BE(2)),
            dts: Number(data.readBigInt64BE(10)),
            receivedAt: Number(data.readBigInt64BE(18)),
            payload: data.subarray(26),
            arrivedAt: Date.now(),
          },
        });
      } else {
        this.events.push({ kind: 'text', msg: JSON.parse(data.toString()) as TextMessage });
      }
      this.wake();
    });
  }

  get media(): MediaMessage[] {
    return this.events.filter((e) => e.kind === 'media').map((e) => e.msg as MediaMessage);
  }

  get video(): MediaMessage[] {
    return this.media.filter((m) => m.type === 0x01);
  }

  get audio(): MediaMessage[] {
    return this.media.filter((m) => m.type === 0x02);
  }

  texts(type?: string): TextMessage[] {
    return this.events.filter((e) => e.kind === 'text' && (type === undefined || (e.msg as TextMessage).type === type)).map((e) => e.msg as TextMessage);
  }

  /** Resolves when `predicate` holds, rejects after `timeoutMs` with what was seen. */
  async until(predicate: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        const summary = this.events.slice(0, 8).map((e) => (e.kind === 'text' ? JSON.stringify(e.msg) : `media 0x${e.msg.type.toString(16)}`));
        throw new Error(`timed out waiting for ${what}; saw ${this.events.length} messages: ${summary.join(', ')}; close=${JSON.stringify(this.closeInfo)}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.close();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
