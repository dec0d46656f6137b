import type { Polycast } from '../../src/server.js';
import type { UpgradeRoute, WebTransportRoute } from '../../src/transport.js';

/**
 * Takes `/moq` away from a running server, over WebTransport and WebSocket
 * alike, as if it had no moq transport; the returned function puts it back.
 * (Playwright's routeWebSocket cannot refuse it: the player's QMux client
 * uses WebSocketStream where the browser has it.)
 */
export function withoutMoq(server: Polycast): () => void {
  // Without WebTransport there is only the WebSocket binding to take away.
  const routes = server.webTransport === undefined ? [] : (server.webTransport as unknown as { routes: WebTransportRoute[] }).routes;
  const at = routes.findIndex((r) => r.kind === 'exact' && r.path === 'moq');
  if (server.webTransport !== undefined && at < 0) throw new Error('no /moq WebTransport route');
  const removed = at < 0 ? undefined : routes.splice(at, 1)[0];
  const upgrades = (server as unknown as { web: { upgrades: Map<string, UpgradeRoute> } }).web.upgrades;
  const upgrade = upgrades.get('moq');
  if (upgrade === undefined) throw new Error('no /moq WebSocket route');
  upgrades.delete('moq');
  return () => {
    if (removed !== undefined) routes.splice(at, 0, removed);
    upgrades.set('moq', upgrade);
  };
}
