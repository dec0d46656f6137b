/**
 * A WebSocket session that sends fuzz messages and reports how the server
 * ended it. 1011 (internal error) is a finding for every target: the server
 * must name what was wrong with the input, not fail on it.
 */
import WebSocket from 'ws';
import { within } from '../target.js';

export interface WsOutcome {
  opened: boolean;
  /** Close code and reason from the server, if it closed. */
  close?: { code: number; reason: string };
  /** An HTTP status that refused the upgrade. */
  refused?: number;
}

export class FuzzSocket {
  readonly ws: WebSocket;
  readonly opened: Promise<boolean>;
  readonly closed: Promise<{ code: number; reason: string }>;
  refused: number | undefined;
  isClosed = false;

  constructor(url: string, protocols?: string[]) {
    // Large messages are not the point here; 1 MiB bounds what a reply can cost the fuzzer.
    this.ws = new WebSocket(url, protocols, { maxPayload: 1 << 20, handshakeTimeout: 5000, perMessageDeflate: false });
    this.ws.on('error', () => undefined);
    this.ws.on('unexpected-response', (_req, res) => {
      this.refused = res.statusCode;
      res.resume();
      this.ws.terminate();
    });
    this.opened = new Promise((resolve) => {
      this.ws.once('open', () => resolve(true));
      this.ws.once('close', () => resolve(false));
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        this.isClosed = true;
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  /** Sends as text or binary; the text is not checked for UTF-8 here, the server must do that. */
  send(bytes: Uint8Array, binary: boolean): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary });
  }

  /** Waits up to `ms` for the server to close, then closes (and after a grace, cuts) from this side. */
  async finish(ms: number): Promise<WsOutcome> {
    const opened = await this.opened;
    const close = await within(this.closed, ms);
    if (close === 'timeout') {
      this.ws.close(1000);
      if ((await within(this.closed, 1000)) === 'timeout') this.ws.terminate();
      return { opened };
    }
    return { opened, close, refused: this.refused };
  }
}

/** Close codes a server uses for bad input from a client; anything else in a fuzz run needs a look. */
export function isInternalError(code: number): boolean {
  return code === 1011;
}
