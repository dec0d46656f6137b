import type { HttpRoute, SessionInfo, Transport, TransportContext, UpgradeRoute } from '../../src/transport.js';
import { WsReaderEndpoint } from '../../src/web/ws-endpoint.js';
import { InputRelay } from './input-relay.js';
import { keyframeRoute } from './keyframe-route.js';
import { requestedVersion, Viewer } from './session.js';

/**
 * `ws-nal`: raw access units (H.264, HEVC, AV1, VP9; AAC, Opus) over WebSocket for WebCodecs players, with
 * keyboard and mouse input travelling back (docs/protocols/ws-nal.md).
 */
export class WsNalTransport implements Transport {
  readonly name = 'ws-nal';
  readonly upgrades: readonly UpgradeRoute[];
  readonly httpRoutes: readonly HttpRoute[];
  private readonly endpoint: WsReaderEndpoint<Viewer>;
  private readonly input: InputRelay;

  constructor(ctx: TransportContext) {
    const log = ctx.log.child({ transport: this.name });
    this.endpoint = new WsReaderEndpoint<Viewer>({
      transport: this.name,
      ctx,
      log,
      create: ({ ws, output, pacer, req, path, remoteAddress, onClose }) =>
        new Viewer({
          path,
          ws,
          output,
          pacer,
          remoteAddress,
          version: requestedVersion(req.url),
          queueSize: ctx.writeQueueSize,
          serverName: ctx.serverName,
          log,
          relayInput: (p, data) => this.input.relay(p, data),
          onClose,
        }),
      onAttached: (viewer, path) => this.input.announce(path.name, 'join', viewer.id),
      onDetached: (viewer, path) => this.input.announce(path.name, 'leave', viewer.id),
    });
    this.input = new InputRelay(this.endpoint.wss, ctx, log);
    this.upgrades = [
      { suffix: 'ws/nal', handleUpgrade: (req, socket, head, path) => this.endpoint.handleUpgrade(req, socket, head, path) },
      { suffix: 'ws/input', handleUpgrade: (req, socket, head, path) => this.input.upgrade(req, socket, head, path) },
    ];
    this.httpRoutes = [keyframeRoute(ctx, this.name)];
  }

  get viewerCount(): number {
    return this.endpoint.viewers.size;
  }

  apiSessions(): SessionInfo[] {
    return this.endpoint.sessions();
  }

  kickSession(id: string, reason: string): boolean {
    return this.endpoint.kick(id, reason);
  }

  flushed(timeoutMs: number): Promise<void> {
    return this.endpoint.flushed(timeoutMs);
  }

  close(reason: string): void {
    this.endpoint.close(reason);
    this.input.close(reason);
  }
}
