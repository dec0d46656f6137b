import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { MAX_FRAME_SIZE_00 } from '../../src/protocols/qmux/frames.js';
import { QmuxSession, selectQmuxProtocol } from '../../src/protocols/qmux/index.js';
import type { SessionRequestInfo } from '../../src/protocols/stream-session.js';
import type { TransportContext, UpgradeRoute } from '../../src/transport.js';
import { refuseUpgrade } from '../../src/web/upgrade-refusal.js';

export interface MoqWebSocketRouteOptions {
  readonly ctx: TransportContext;
  readonly log: Logger;
  /** Application protocols we accept inside `qmux-VV.<alpn>`, most preferred first. */
  readonly applications: readonly string[];
  /** A session is up; `application` is what the subprotocol pinned (undefined for a bare `qmux-VV`). */
  onSession(session: QmuxSession, application: string | undefined): void;
}

/**
 * `/moq` as a WebSocket upgrade carrying QMux, as @moq/net 0.2.8+ and
 * moq-relay offer it when WebTransport is missing or slow (Safari, Firefox
 * before 153, networks without UDP).
 */
export class MoqWebSocketRoute implements UpgradeRoute {
  readonly suffix = 'moq';
  readonly exact = true;
  // No message may exceed draft-00's frame limit (records are smaller still): ws refuses longer ones before buffering them.
  private readonly wss: WebSocketServer;

  constructor(private readonly o: MoqWebSocketRouteOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_SIZE_00,
      handleProtocols: (offered) => selectQmuxProtocol(offered, o.applications)?.header ?? false,
    });
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',');
    const selected = selectQmuxProtocol(offered, this.o.applications);
    if (selected === undefined) {
      // Without a QMux subprotocol the client would speak a framing we do not (the legacy `webtransport` one, or none).
      this.o.log.debug({ offered: offered.join(',').slice(0, 300) }, 'moq websocket refused: no QMux subprotocol');
      refuseUpgrade(socket, 400, 'Bad Request: offer a qmux-02/01/00 subprotocol, e.g. qmux-02.moq-lite-05');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new QmuxSession({
        ws,
        version: selected.version,
        request: requestInfo(req),
        readTimeoutMs: this.o.ctx.readTimeoutMs,
        writeTimeoutMs: this.o.ctx.writeTimeoutMs,
      });
      this.o.log.debug({ protocol: selected.header, remoteAddress: req.socket.remoteAddress }, 'moq websocket session');
      this.o.onSession(session, selected.application);
    });
  }

  close(): void {
    this.wss.close();
  }
}

function requestInfo(req: IncomingMessage): SessionRequestInfo {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return {
    path: req.url ?? '/moq',
    authority: req.headers.host ?? '',
    origin: req.headers.origin,
    headers,
    remoteAddress: req.socket.remoteAddress ?? '?',
    remotePort: req.socket.remotePort ?? 0,
  };
}
